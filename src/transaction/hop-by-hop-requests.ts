/**
 * The two requests an INVITE client transaction builds itself: the ACK for a
 * non-2xx final (RFC 3261 §17.1.1.3) and the CANCEL (§9.1). Both copy header
 * text from the INVITE, so nothing is parsed beyond the CSeq number.
 */
import { HeaderList } from '../sip/headers.js';
import { SipRequest, type SipResponse } from '../sip/message.js';

function copyCommon(invite: SipRequest, method: 'ACK' | 'CANCEL', to: string | undefined): HeaderList {
  const headers = new HeaderList();
  // One Via: the INVITE's top Via, same branch (§17.1.1.3, §9.1).
  const topVia = invite.headers.values('via')[0];
  if (topVia !== undefined) headers.append('via', topVia);
  const from = invite.headers.get('from');
  if (from !== undefined) headers.append('from', from);
  if (to !== undefined) headers.append('to', to);
  const callId = invite.callId;
  if (callId !== undefined) headers.append('call-id', callId);
  const seq = invite.cseq()?.seq ?? 1;
  headers.append('cseq', `${seq} ${method}`);
  // Route set of the INVITE, so the request takes the INVITE's path.
  for (const route of invite.headers.getAll('route')) headers.append('route', route);
  headers.append('max-forwards', '70');
  headers.append('content-length', '0');
  return headers;
}

/**
 * ACK for a 3xx–6xx, RFC 3261 §17.1.1.3: same Request-URI, Call-ID, From and
 * CSeq number as the INVITE, To from the response (with its tag), the
 * INVITE's top Via only, and the INVITE's Route headers.
 */
export function buildNon2xxAck(invite: SipRequest, response: SipResponse): SipRequest {
  const to = response.headers.get('to') ?? invite.headers.get('to');
  return new SipRequest('ACK', invite.uri, copyCommon(invite, 'ACK', to));
}

/**
 * CANCEL for a pending INVITE, RFC 3261 §9.1: same Request-URI, Call-ID,
 * From, To (as in the request, no tag added) and CSeq number, one Via equal
 * to the INVITE's top Via, the INVITE's Route headers.
 */
export function buildCancel(invite: SipRequest): SipRequest {
  return new SipRequest('CANCEL', invite.uri, copyCommon(invite, 'CANCEL', invite.headers.get('to')));
}
