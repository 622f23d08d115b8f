/**
 * Table keys for transaction matching. Keys are plain strings so the table is
 * one Map lookup per message; they are built from already-parsed header views.
 */
import type { SipRequest, SipResponse } from '../sip/message.js';
import { viaBranch, type Via } from '../sip/headers/via.js';
import { BRANCH_MAGIC } from '../sip/ids.js';

function sentBy(via: Via): string {
  return via.port === undefined ? via.host.toLowerCase() : `${via.host.toLowerCase()}:${via.port}`;
}

/**
 * Server-transaction key of a request under `method` (the request's own
 * method, or INVITE when looking up the transaction an ACK or CANCEL refers to).
 * undefined when the request lacks the headers to match on (the core answers 400).
 */
export function serverKeyAs(req: SipRequest, method: string): string | undefined {
  const via = req.topVia();
  if (via === undefined) return undefined;
  const branch = viaBranch(via);
  // RFC 3261 §17.2.3: branch + sent-by + method (the z9hG4bK cookie of §8.1.1.7 says the branch is unique).
  if (branch !== undefined && branch.startsWith(BRANCH_MAGIC)) return serverKeyOf(branch, sentBy(via), method);
  // RFC 2543 fallback (§17.2.3): Request-URI, From tag, Call-ID, CSeq number,
  // top Via. The To tag is left out: an INVITE carries none and its ACK carries
  // the one of our response, so including it would split the pair.
  const cseq = req.cseq();
  const callId = req.callId;
  const topViaText = req.headers.values('via')[0];
  if (cseq === undefined || callId === undefined || topViaText === undefined) return undefined;
  const fromTag = req.from()?.params.get('tag') ?? '';
  return `2543\u0001${req.uri}\u0001${fromTag}\u0001${callId}\u0001${cseq.seq}\u0001${method}\u0001${topViaText}`;
}

/** Server-transaction key from a z9hG4bK branch, the sent-by (host lower-cased[:port]) and the method. */
export function serverKeyOf(branch: string, sentByText: string, method: string): string {
  return `${branch}\u0001${sentByText}\u0001${method}`;
}

/** Key of the server transaction a request belongs to: an ACK belongs to its INVITE's (§17.2.3). */
export function serverKey(req: SipRequest): string | undefined {
  return serverKeyAs(req, req.method === 'ACK' ? 'INVITE' : req.method);
}

/** Client-transaction key, RFC 3261 §17.1.3: top-Via branch + CSeq method. */
export function clientKey(branch: string, method: string): string {
  return `${branch}\u0001${method}`;
}

/** Client key of the request the transaction sends; undefined without a top-Via branch or CSeq. */
export function clientKeyOfRequest(req: SipRequest): string | undefined {
  const via = req.topVia();
  const branch = via === undefined ? undefined : viaBranch(via);
  if (branch === undefined) return undefined;
  return clientKey(branch, req.method);
}

/** Client key a response matches (§17.1.3); CANCEL and INVITE share a branch, the CSeq method tells them apart. */
export function responseKey(res: SipResponse): string | undefined {
  const via = res.topVia();
  const branch = via === undefined ? undefined : viaBranch(via);
  const cseq = res.cseq();
  if (branch === undefined || cseq === undefined) return undefined;
  return clientKey(branch, cseq.method);
}
