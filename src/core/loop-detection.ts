import type { SipRequest } from '../sip/message.js';

/** FNV-1a 32-bit, as 8 hex digits. */
function fnv1a(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(16).padStart(8, '0');
}

/**
 * The part of our branch that identifies "this request, routed this way"
 * (RFC 3261 §16.6 step 8): a request that comes back with the same hash in
 * one of our own Vias is looping; a spiral (changed Request-URI or Route) is not.
 */
export function loopHash(req: SipRequest): string {
  const parts = [
    req.uri,
    req.callId ?? '',
    req.from()?.params.get('tag') ?? '',
    req.to()?.params.get('tag') ?? '',
    String(req.cseq()?.seq ?? ''),
    req.headers.getAll('route').join(','),
    req.headers.getAll('proxy-require').join(','),
  ];
  return fnv1a(parts.join('\n'));
}

export const OWN_BRANCH_PREFIX = 'z9hG4bK-s';
