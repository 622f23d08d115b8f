/**
 * Media on requests relayed between two nodes of ours: when a client came
 * back on another node, the node that holds its call relays the call's
 * requests to that node (and the other way round). Only the node next to
 * the client rewrites the SDP; a hop that has a node of ours on one side
 * and no client on the other passes it untouched, so the media engine never
 * sees its own SDP offered back to it.
 */
import type { MediaHooks } from '../media/media-control.js';
import type { SipRequest, SipResponse } from '../sip/message.js';
import type { Flow } from '../transport/flow.js';

export function mediaBetweenNodes(media: MediaHooks, isSiblingNode: (flow: Flow) => boolean): MediaHooks {
  const skip = (a: Flow, b: Flow): boolean => !isClient(a) && !isClient(b) && (isSiblingNode(a) || isSiblingNode(b));
  return {
    request: (req: SipRequest, from: Flow, to: Flow) => (skip(from, to) ? Promise.resolve() : media.request(req, from, to)),
    response: (res: SipResponse, req: SipRequest, from: Flow, to: Flow) => (skip(from, to) ? Promise.resolve() : media.response(res, req, from, to)),
    endCall: (callId: string) => media.endCall(callId),
    close: () => media.close(),
    holds: (callId: string) => media.holds?.(callId) === true,
  };
}

function isClient(flow: Flow): boolean {
  return flow.transport === 'ws' || flow.transport === 'wss';
}
