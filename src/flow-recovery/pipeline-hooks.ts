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
    const { req, res } = final;
    // The registrar accepted the client's REGISTER: it may take over its dialogs from a new address.
    if (req.method === 'REGISTER' && !final.inside && res.status >= 200 && res.status < 300) this.#recovery.registered(req, final.source);
    this.#dialogs?.final(final);
  }

  goneStatus(token: string): number | undefined {
    return this.#recovery.goneStatus(token);
  }

  elsewhere(token: string, topologyKey?: string): NextHop | undefined {
    return this.#recovery.elsewhere(token, topologyKey);
  }
}
