/**
 * What a proxied request is cut down to once its final response went
 * upstream and its proxy context only relays 2xx retransmissions and forks
 * (RFC 6026, for as long as Timer M runs: 32 s): the start line and the
 * headers that identify it and answer it.
 *
 * Tens of thousands of such contexts exist at any time under call load.
 * A request's header values are substrings of the whole message text and
 * its body a view of the whole datagram, so keeping any of it kept all of
 * it: every kept string is copied out here, the body goes, and so do the
 * parsed views.
 */
import type { SipRequest } from '../sip/message.js';
import { ownString } from './own-copies.js';

/** Via (responses, hidden Vias), Call-ID, CSeq, From, To: what identifies a request and answers it. */
const IDENTIFYING: ReadonlySet<string> = new Set(['via', 'call-id', 'cseq', 'from', 'to']);
const EMPTY = Buffer.alloc(0);

/** Cut `req` down in place. Only for a request no one will read other headers or the body of again. */
export function slimRequest(req: SipRequest): void {
  req.headers.retainOnly(IDENTIFYING, ownString);
  req.uri = ownString(req.uri);
  req.method = ownString(req.method);
  req.body = EMPTY;
}
