/**
 * How a response relayed by the proxy is rewritten on its way upstream: the
 * media engine's answer, topology hiding (the request's own Vias back, our
 * Record-Route and Contact, the record stored or settled) and the Call-ID
 * mask.
 *
 * Built in a scope of its own, apart from the proxy's other per-request
 * callbacks: a proxied INVITE's transform outlives everything else about
 * the request (its INVITE client transaction relays 2xx retransmissions and
 * forks through it until Timer M, 32 s), and a closure keeps its whole
 * scope alive. Here it keeps only what it reads.
 */
import type { MediaHooks } from '../media/media-control.js';
import type { SipRequest, SipResponse } from '../sip/message.js';
import type { Flow } from '../transport/flow.js';
import { ownPathsFor, type HiddenRequest, type TopologyHiding } from '../topology/index.js';
import type { OwnAddresses } from './own-addresses.js';
import { restoreVias } from './via-stamp.js';

/** What the pipeline lends every transform (one object per pipeline). */
export interface RelayDeps {
  media: MediaHooks | undefined;
  own: OwnAddresses;
  isInside(flow: Flow): boolean;
}

/** What the request's branch did on its way out, read by its responses on their way back. */
export interface RelayState {
  /** Only our Via left: the responses get the request's own Vias back. */
  hidVias: boolean;
  hidden: HiddenRequest | undefined;
  /** A 2xx went upstream already. */
  confirmed: boolean;
}

/** The request a transform answers for. */
export interface RelayedRequest {
  req: SipRequest;
  source: Flow;
  inside: boolean;
  key: string | undefined;
  recordRoute: boolean;
  initial: boolean;
  /** Topology hiding for this request: none between two clients of ours (local registrar), whatever the pipeline has. */
  topo: TopologyHiding | undefined;
  /** The masked Call-ID the upstream knows the dialog by, when we unmasked it. */
  masked: string | undefined;
}

export function responseTransform(deps: RelayDeps, r: RelayedRequest, state: RelayState): (res: SipResponse, downstream: Flow | undefined) => Promise<void> {
  return async (res, downstream) => {
    const { req, source, inside, key } = r;
    if (downstream !== undefined && deps.media !== undefined) await deps.media.response(res, req, downstream, source);
    const topo = r.topo;
    if (topo === undefined) return;
    if (downstream !== undefined) {
      if (state.hidVias) restoreVias(res, req);
      if (!inside) {
        await topo.hideResponse(res, { request: req, listener: source.listener, key, recordRouted: r.recordRoute, confirmed: state.confirmed, ownPaths: ownPathsFor(res, source, deps.own) });
      } else if (!deps.isInside(downstream)) topo.restoreResponse(res, key, state.hidden?.recordRouteBelow);
    }
    if (r.masked !== undefined) res.headers.set('call-id', r.masked);
    if (key !== undefined && res.status >= 200) await topo.settle(key, req, res.status, r.initial, inside);
    if (res.status >= 200 && res.status < 300) state.confirmed = true;
  };
}
