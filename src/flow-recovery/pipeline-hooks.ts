/** Flow recovery as the pipeline sees it (core/client-flow-hooks.ts). */
import type { ClientFlowHooks, RelayedFinal } from '../core/client-flow-hooks.js';
import type { NextHop } from '../core/own-routes.js';
import type { SipRequest } from '../sip/message.js';
import type { Flow } from '../transport/flow.js';
import type { FlowRecovery } from './flow-recovery.js';
import type { ProxyDialogs } from './proxy-dialogs.js';

export class RecoveryHooks implements ClientFlowHooks {
  readonly #recovery: FlowRecovery;
  readonly #dialogs: ProxyDialogs | undefined;

  constructor(recovery: FlowRecovery, dialogs: ProxyDialogs | undefined) {
    this.#recovery = recovery;
    this.#dialogs = dialogs;
  }

  seen(req: SipRequest, flow: Flow): void {
    this.#recovery.seen(req, flow);
  }

  relayed(final: RelayedFinal): void {
    this.#dialogs?.final(final);
  }

  goneStatus(token: string): number | undefined {
    return this.#recovery.goneStatus(token);
  }

  elsewhere(token: string, topologyKey?: string): NextHop | undefined {
    return this.#recovery.elsewhere(token, topologyKey);
  }
}
