/**
 * Which header fields cross from one leg to the other. Everything that makes
 * up a leg's dialog or transaction (Via, Call-ID, From/To, CSeq, Contact,
 * route set), everything hop by hop (Max-Forwards, Content-Length) and the
 * reliability and transfer headers that are rewritten per leg (RSeq, RAck,
 * Refer-To, Replaces) and the product headers (Server, User-Agent, Warning,
 * Organization) belong to the leg and never cross; the rest is end to
 * end (RFC 3261 §16.6 lists what a proxy may touch; a B2BUA owns those and
 * relays the others) and is copied in order.
 */
import type { SipMessage } from '../sip/message.js';

const LEG_OWNED: ReadonlySet<string> = new Set([
  'via', 'route', 'record-route', 'contact', 'call-id', 'from', 'to', 'cseq',
  'max-forwards', 'content-length', 'path', 'service-route',
  'rseq', 'rack', 'refer-to', 'replaces',
  // Who the other side is (product and version) stays on its leg: full hiding.
  'server', 'user-agent', 'warning', 'organization',
]);

/** Whether a header (canonical lower-case name) stays on its own leg. */
export function isLegOwned(name: string): boolean {
  return LEG_OWNED.has(name);
}

/** Append `from`'s end-to-end header fields to `to`, in their order, and take its body. */
export function copyEndToEnd(from: SipMessage, to: SipMessage): void {
  for (const f of from.headers.fields) {
    if (LEG_OWNED.has(f.name)) continue;
    to.headers.append(f.rawName, f.value);
  }
  to.body = from.body;
}
