/**
 * Media on a call relayed between two workers of one gateway (workers > 1):
 * a call for a user whose connection another worker holds goes to that
 * worker, and only that worker, next to the callee, rewrites the SDP (it
 * knows whether the callee is a browser). So the initial INVITE toward a
 * sibling worker, and the responses coming back from it, pass untouched;
 * later requests between the two are rewritten only by the worker that holds
 * the call's media. A browser ⇄ browser call then stays untouched, and a
 * browser ⇄ phone call is converted once.
 *
 * A call forked to two contacts on the other worker reaches it as two
 * INVITEs, each its own transaction there: the branch that loses ends with a
 * failure, which would end the call's media, the winner's too. So once a
 * branch from a sibling is answered, the failures of its other branches
 * (one each) leave the media alone; the BYE, or any other ending, ends it.
 */
import type { SipRequest, SipResponse } from '../sip/message.js';
import type { Flow } from '../transport/flow.js';
import type { MediaHooks } from './media-control.js';

/** Forked calls from siblings remembered at once; beyond it the oldest are forgotten. */
const MAX_FORKS = 10_000;

export function mediaBetweenWorkers(media: MediaHooks, isSibling: (flow: Flow) => boolean): MediaHooks {
  const held = (callId: string | undefined): boolean => media.holds?.(callId ?? '') === true;
  const initialInvite = (req: SipRequest): boolean => req.method === 'INVITE' && (req.to()?.params.get('tag') ?? '') === '';
  /** Calls whose initial INVITE came from a sibling: its branches here, whether one was answered, its BYE seen. */
  const forks = new Map<string, { branches: number; answered: boolean; spared: number }>();
  const fork = (callId: string): { branches: number; answered: boolean; spared: number } => {
    let f = forks.get(callId);
    if (f === undefined) {
      if (forks.size >= MAX_FORKS) forks.delete(forks.keys().next().value!);
      f = { branches: 0, answered: false, spared: 0 };
      forks.set(callId, f);
    }
    return f;
  };
  return {
    request: (req: SipRequest, from: Flow, to: Flow) => {
      const callId = req.callId ?? '';
      if (initialInvite(req) && isSibling(from)) fork(callId).branches++;
      else if (req.method === 'BYE') forks.delete(callId);
      const skip = !held(callId) && (isSibling(to) || (isSibling(from) && !initialInvite(req)));
      return skip ? Promise.resolve() : media.request(req, from, to);
    },
    response: (res: SipResponse, req: SipRequest, from: Flow, to: Flow) => {
      if (res.status >= 200 && res.status < 300 && initialInvite(req)) {
        const f = forks.get(res.callId ?? '');
        if (f !== undefined) f.answered = true;
      }
      return !held(res.callId) && isSibling(from) ? Promise.resolve() : media.response(res, req, from, to);
    },
    endCall: (callId: string) => {
      const f = forks.get(callId);
      // A losing branch of an answered fork: the winner's media stays.
      if (f !== undefined && f.answered && f.spared < f.branches - 1) {
        f.spared++;
        return;
      }
      forks.delete(callId);
      media.endCall(callId);
    },
    close: () => media.close(),
    holds: (callId: string) => held(callId),
  };
}
