import type { OwnAddresses } from './own-addresses.js';
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

/** A request for the SBC itself: our URI without a user part, and no Route beyond our own. */
export function isToUs(req: SipRequest, own: OwnAddresses): boolean {
  const uri = req.requestUri();
  if (uri === undefined || uri.user !== undefined) return false;
  if (!own.isOwn(uri)) return false;
  const routes = req.routes() ?? [];
  return routes.every((r) => own.isOwn(r.uri));
}

/** RFC 3261 §16.3 step 4: one of our Vias carries this request's own loop hash. */
export function isLooping(req: SipRequest, own: OwnAddresses): boolean {
  const prefix = `${OWN_BRANCH_PREFIX}${loopHash(req)}-`;
  // Cheap test on the raw lines first: the chain is parsed only when our hash is in it.
  if (!req.headers.getAll('via').some((line) => line.includes(prefix))) return false;
  const vias = req.vias();
  if (vias === undefined || vias.length < 2) return false;
  for (const v of vias) {
    const branch = v.params.get('branch');
    if (branch?.startsWith(prefix) && own.isOwnSentBy(v.host, v.port, v.transport)) return true;
  }
  return false;
}
