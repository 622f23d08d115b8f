/**
 * The 100 Trying an INVITE server transaction sends on its own.
 * Private to the transaction layer until src/sip/response.ts (createResponse)
 * lands; it needs only copied header text, so it does not parse anything.
 */
import { HeaderList } from '../sip/headers.js';
import { SipResponse, type SipRequest } from '../sip/message.js';

/**
 * RFC 3261 §8.2.6.1 / §17.2.1: Via (all of them), From, To (no tag added),
 * Call-ID, CSeq and Timestamp copied from the request; empty body.
 */
export function buildTrying(req: SipRequest): SipResponse {
  const headers = new HeaderList();
  for (const via of req.headers.getAll('via')) headers.append('via', via);
  for (const name of ['from', 'to', 'call-id', 'cseq', 'timestamp']) {
    const value = req.headers.get(name);
    if (value !== undefined) headers.append(name, value);
  }
  headers.append('content-length', '0');
  return new SipResponse(100, 'Trying', headers);
}
