/**
 * Media on a call relayed between two workers of one gateway (workers > 1):
 * a call for a user whose connection another worker holds goes to that
 * worker, and only that worker, next to the callee, rewrites the SDP (it
 * knows whether the callee is a browser). So the initial INVITE toward a
 * sibling worker, and the responses coming back from it, pass untouched;
 * later requests between the two are rewritten only by the worker that holds
 * the call's media. A browser ⇄ browser call then stays untouched, and a
 * browser ⇄ phone call is converted once.
 */
import type { SipRequest, SipResponse } from '../sip/message.js';
import type { Flow } from '../transport/flow.js';
import type { MediaHooks } from './media-control.js';

export function mediaBetweenWorkers(media: MediaHooks, isSibling: (flow: Flow) => boolean): MediaHooks {
  const held = (callId: string | undefined): boolean => media.holds?.(callId ?? '') === true;
  const initialInvite = (req: SipRequest): boolean => req.method === 'INVITE' && (req.to()?.params.get('tag') ?? '') === '';
  return {
    request: (req: SipRequest, from: Flow, to: Flow) => {
      const skip = !held(req.callId) && (isSibling(to) || (isSibling(from) && !initialInvite(req)));
      return skip ? Promise.resolve() : media.request(req, from, to);
    },
    response: (res: SipResponse, req: SipRequest, from: Flow, to: Flow) => (!held(res.callId) && isSibling(from) ? Promise.resolve() : media.response(res, req, from, to)),
    endCall: (callId: string) => media.endCall(callId),
    close: () => media.close(),
    holds: (callId: string) => held(callId),
  };
}
