/**
 * What the call records (src/records) learn from the parts that carry calls:
 * the proxy (through ProxyTransaction and the established-call tracker), the
 * B2BUA, the built-in services and the media relays. The interfaces live
 * here so those parts never import the records; the records implement them.
 */
import type { SipRequest, SipResponse } from '../sip/message.js';
import type { Flow } from '../transport/flow.js';

/** Why a call ended, as its record says (README "Call records"). */
export type CallEndReason = 'bye-caller' | 'bye-callee' | 'cancel' | 'failed' | 'client-gone' | 'drain' | 'max-duration';

/** Who ended it: a party's BYE or CANCEL, or the SBC itself. */
export type CallEndedBy = 'caller' | 'callee' | 'sbc';

export interface CallEnding {
  by: CallEndedBy;
  reason: CallEndReason;
}

/** inbound = from inside toward a client; outbound = from a client toward inside; local = client to client or a built-in service. */
export type CallDirection = 'inbound' | 'outbound' | 'local';

/** What ProxyTransaction tells about one initial INVITE it relays. */
export interface ProxyCallObserver {
  /** The final response on its way upstream; `downstream` is the flow it came on (undefined for one we made). */
  final(res: SipResponse, downstream: Flow | undefined): void;
  /** An upstream CANCEL before the final response. */
  cancelled(): void;
}

/**
 * Anyone may end a call's record for a reason only the SBC knows (its client
 * gone after the flow-recovery grace, a media limit), by the Call-ID the SBC
 * knows it by (proxy: the inside, unmasked one; B2BUA: the A leg's). A
 * proxied call's record is written at once with that reason, and later
 * signals for it are ignored; a B2BUA or service call takes the reason and
 * is written when its user agent ends it (so tell the records first, then
 * hang the call up).
 */
export interface CallEnder {
  end(callId: string, ending: CallEnding): void;
}

/** The call records as the proxy sees them. */
export interface ProxyCallWatcher extends CallEnder {
  /**
   * Every request the proxy relays: an observer for an initial INVITE,
   * undefined for anything else (a BYE ends its call's record here, a map
   * lookup; other in-dialog requests cost a method compare).
   */
  observe(req: SipRequest, source: Flow, inside: boolean, local: boolean, key: string | undefined): ProxyCallObserver | undefined;
}

/** A call that terminates in a user agent of ours (B2BUA, built-in service). */
export interface UaCallStart {
  mode: 'b2bua' | 'service';
  /** The Call-ID the SBC knows the call by (the A leg's). */
  callId: string;
  /** The B leg's Call-ID (B2BUA); undefined for a service. */
  otherCallId?: string | undefined;
  invite: SipRequest;
  source: Flow;
  inside: boolean;
  direction: CallDirection;
  /** Where the call went: a flow once known, or a name (the service). */
  target?: string | undefined;
}

/** One call's record while it is up, as a user agent of ours holds it. */
export interface CallRecordHandle {
  readonly callId: string;
}

/** The call records as the B2BUA and the services see them. */
export interface UaCallWatcher extends CallEnder {
  begin(start: UaCallStart): CallRecordHandle | undefined;
  /** The B side's first hop is known (B2BUA). */
  routed(call: CallRecordHandle, target: Flow): void;
  /** The caller got our 2xx (at `atMs`, Date.now(); default now). */
  answered(call: CallRecordHandle, atMs?: number): void;
  /** The call is over; `status` is the final status the caller got (null: none). */
  finish(call: CallRecordHandle, status: number | null, ending: CallEnding): void;
}
