/**
 * The security layer's checks on requests from outside, in the order the
 * pipeline applies them, each refusal counted by reason:
 * screening (before anything else), then for initial requests digest
 * authentication and the concurrent-call limit.
 */
import type { SbcMetrics as Metrics } from '../admin/metrics.js';
import type { SipRequest } from '../sip/message.js';
import type { Flow } from '../transport/flow.js';
import type { AuthDenial, Authenticator, CallAdmission, RequestScreen } from './request-checks.js';

export interface OutsideChecksOptions {
  screen?: RequestScreen;
  auth?: Authenticator;
  calls?: CallAdmission;
  metrics?: Metrics;
}

/** What screening decided: go on, nothing at all (a connection is closed), or a stateless answer. */
export type ScreenOutcome = 'pass' | 'dropped' | AuthDenial;

export class OutsideChecks {
  readonly #o: OutsideChecksOptions;

  constructor(options: OutsideChecksOptions) {
    this.#o = options;
  }

  screen(req: SipRequest, flow: Flow): ScreenOutcome {
    const screen = this.#o.screen;
    if (screen === undefined) return 'pass';
    const verdict = screen.screen(req, flow);
    if (verdict.kind === 'pass') return 'pass';
    this.#o.metrics?.rejectedRequests.inc({ reason: verdict.reason });
    if (verdict.kind === 'reject') return verdict;
    // A scanner or banned source gets nothing, and does not keep a connection open either.
    if (flow.reliable) flow.close(verdict.reason);
    return 'dropped';
  }

  /** An initial request (no To tag) with its server transaction: undefined = go on, else the answer to send. */
  admit(req: SipRequest, flow: Flow): AuthDenial | undefined {
    const denied = this.#o.auth?.check(req, flow);
    if (denied !== undefined) {
      this.#o.metrics?.rejectedRequests.inc({ reason: denied.reason ?? (denied.status === 403 ? 'auth-failed' : denied.status === 400 ? 'auth-malformed' : 'auth-challenge') });
      return denied;
    }
    if (req.method !== 'INVITE') return undefined;
    const refused = this.#o.calls?.admit(req);
    if (refused !== undefined) this.#o.metrics?.rejectedRequests.inc({ reason: 'call-limit' });
    return refused;
  }

  /** A call failed, was cancelled or ended: its slot under the call limit is free. */
  callEnded(callId: string | undefined): void {
    if (callId !== undefined) this.#o.calls?.ended(callId);
  }
}
