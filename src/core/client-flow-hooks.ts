/**
 * What the pipeline asks of flow recovery (src/flow-recovery implements it):
 * who the client on a flow is, which calls were answered through us, and
 * what to do with a request whose client flow is down — held (480) while
 * the client may come back, or sent to the node it came back on.
 */
import type { SipRequest, SipResponse } from '../sip/message.js';
import type { Flow } from '../transport/flow.js';
import type { NextHop } from './own-routes.js';

/** A relayed request's final response, as it arrived (before any rewriting). */
export interface RelayedFinal {
  req: SipRequest;
  res: SipResponse;
  source: Flow;
  inside: boolean;
  /** The client flow a request from inside was delivered on (by its flow token). */
  clientFlow: Flow | undefined;
  /** The dialog's topology key, when hiding is on. */
  key: string | undefined;
}

export interface ClientFlowHooks {
  /** A request from outside on `flow` (after the screen and sanity checks). */
  seen(req: SipRequest, flow: Flow): void;
  /** The final response to a request the proxy relayed. */
  relayed(final: RelayedFinal): void;
  /** Status for a token whose flow is down: 480 while its client may come back; undefined = the usual 430. */
  goneStatus(token: string): number | undefined;
  /** The client of the token's flow came back on another node: the hop there. */
  elsewhere(token: string, topologyKey?: string): NextHop | undefined;
}
