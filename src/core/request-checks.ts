/**
 * What the pipeline asks of the security layer (src/security implements it). Screening runs on every
 * request from outside before anything else (no transaction, no parsing
 * beyond what the checks read); authentication runs on initial requests from
 * outside once a server transaction exists, so challenges are retransmitted
 * and absorbed like any other response.
 */
import type { SipRequest } from '../sip/message.js';
import type { Flow } from '../transport/flow.js';

export type Screening =
  | { kind: 'pass' }
  /** Silently dropped (CONTRACT.md: blocked sources, banned IPs); `reason` labels the metric. */
  | { kind: 'drop'; reason: string }
  /** Answered statelessly (e.g. 503 + Retry-After when a rate limit trips), then nothing more. */
  | { kind: 'reject'; reason: string; status: number; phrase: string; headers?: Record<string, string> };

export interface RequestScreen {
  screen(req: SipRequest, flow: Flow): Screening;
}

/** Why a request was not let through, as the response to send. */
export interface AuthDenial {
  status: number;
  phrase: string;
  headers?: Record<string, string>;
  /** The sbc_rejected_requests_total reason; absent = derived from the status. */
  reason?: string;
}

export interface Authenticator {
  /** undefined = authenticated (credentials consumed); otherwise the challenge or refusal to send. */
  check(req: SipRequest, flow: Flow): AuthDenial | undefined;
}

/** Concurrent-call limits (security.maxCallsPerUser) on initial INVITEs from outside. */
export interface CallAdmission {
  /** undefined = the call may go on (it now holds a slot); otherwise the refusal to send. */
  admit(req: SipRequest): AuthDenial | undefined;
  /** The call with this Call-ID failed or ended: its slot is free again. Unknown ids are ignored. */
  ended(callId: string): void;
}
