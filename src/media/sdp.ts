/** Small SDP facts the media orchestration needs; no full SDP model. */
import type { SipMessage } from '../sip/message.js';

/** The body is an SDP (RFC 3264 offer or answer), not empty and not multipart. */
export function hasSdp(msg: SipMessage): boolean {
  if (msg.body.length === 0) return false;
  const type = msg.contentType;
  return type !== undefined && type.toLowerCase().startsWith('application/sdp');
}

/** A WebRTC SDP: DTLS-SRTP with feedback profile, or a DTLS fingerprint (RFC 8827/8829). */
export function isWebrtcSdp(sdp: string): boolean {
  return sdp.includes('UDP/TLS/RTP/SAVPF') || sdp.includes('a=fingerprint:');
}

export function hasBundleGroup(sdp: string): boolean {
  return sdp.includes('a=group:BUNDLE');
}

/**
 * Put back `a=group:BUNDLE` over every m-line's mid when an engine dropped it
 * (rtpengine 10.5 does; Chrome with max-bundle then rejects the SDP; PEERS.md).
 */
export function restoreBundle(sdp: string): string {
  if (hasBundleGroup(sdp)) return sdp;
  const mids: string[] = [];
  let from = 0;
  for (;;) {
    const i = sdp.indexOf('a=mid:', from);
    if (i < 0) break;
    const end = sdp.indexOf('\r\n', i);
    mids.push(sdp.slice(i + 6, end < 0 ? undefined : end).trim());
    from = i + 6;
  }
  if (mids.length === 0) return sdp;
  // Session-level attributes go before the first m-line (RFC 8866 §5).
  const m = sdp.indexOf('\r\nm=');
  if (m < 0) return sdp;
  return `${sdp.slice(0, m)}\r\na=group:BUNDLE ${mids.join(' ')}${sdp.slice(m)}`;
}
