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
    // Answered after its client's flow was already gone for good (it closed while the call rang, so no
    // grace was held for it): no grace will run out for this call, so it ends now, as a gone client's call.
    // Once the proxy is done with this 2xx (its record and the drain's count see the answer first).
    const client = final.inside ? final.clientFlow : final.source;
    const dialogs = this.#dialogs;
    if (dialogs !== undefined && client?.closed === true && req.method === 'INVITE' && res.status >= 200 && res.status < 300
      && req.to()?.params.get('tag') == null && this.#recovery.state(client.id) === 'gone') setImmediate(() => dialogs.clientGone(client.id));
  }

  goneStatus(token: string): number | undefined {
    return this.#recovery.goneStatus(token);
  }

  elsewhere(token: string, topologyKey?: string): NextHop | undefined {
    return this.#recovery.elsewhere(token, topologyKey);
  }
}
