import type { SipMessage } from './message.js';

/**
 * Serialize once, on the way out; Content-Length is always recomputed from the body.
 * The first Content-Length field (long or compact form) is rewritten in place,
 * later duplicates are dropped, and one is appended when there was none
 * (mandatory on streams, RFC 3261 §18.3, and harmless on datagrams).
 */
export function serialize(msg: SipMessage): Buffer {
  let head = msg.kind === 'request'
    ? `${msg.method} ${msg.uri} SIP/2.0\r\n`
    : `SIP/2.0 ${msg.status} ${msg.reason}\r\n`;
  const body = msg.body;
  let wroteLength = false;
  for (const f of msg.headers.fields) {
    if (f.name === 'content-length') {
      if (!wroteLength) head += `Content-Length: ${body.length}\r\n`;
      wroteLength = true;
    } else head += `${f.rawName}: ${f.value}\r\n`;
  }
  if (!wroteLength) head += `Content-Length: ${body.length}\r\n`;
  head += '\r\n';

  const headBytes = Buffer.byteLength(head, 'utf8');
  const out = Buffer.allocUnsafe(headBytes + body.length);
  out.write(head, 0, 'utf8');
  if (body.length > 0) body.copy(out, headBytes);
  return out;
}
