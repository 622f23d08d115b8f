import type { OwnAddresses } from './own-addresses.js';
import type { SipRequest } from '../sip/message.js';

const FNV_OFFSET = 0x811c9dc5;
const NL = 10;
const COMMA = 44;

/** FNV-1a 32-bit over `text`, continuing from `h`. */
function fnv1a(h: number, text: string): number {
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h;
}

function fnvChar(h: number, c: number): number {
  return Math.imul(h ^ c, 0x01000193);
}

/** Every line of a header, comma-joined, into the hash (as `getAll(name).join(',')` would read). */
function fnvLines(h: number, lines: readonly string[]): number {
  for (let i = 0; i < lines.length; i++) {
    if (i > 0) h = fnvChar(h, COMMA);
    h = fnv1a(h, lines[i]!);
  }
  return h;
}

/**
 * The part of our branch that identifies "this request, routed this way"
 * (RFC 3261 §16.6 step 8): a request that comes back with the same hash in
 * one of our own Vias is looping; a spiral (changed Request-URI or Route) is not.
 * FNV-1a 32-bit of Request-URI, Call-ID, From tag, To tag, CSeq number, Route
 * and Proxy-Require, one per line, as 8 hex digits; hashed part by part, with
 * no joined text built.
 */
export function loopHash(req: SipRequest): string {
  let h = fnv1a(FNV_OFFSET, req.uri);
  h = fnv1a(fnvChar(h, NL), req.callId ?? '');
  h = fnv1a(fnvChar(h, NL), req.from()?.params.get('tag') ?? '');
  h = fnv1a(fnvChar(h, NL), req.to()?.params.get('tag') ?? '');
  h = fnv1a(fnvChar(h, NL), String(req.cseq()?.seq ?? ''));
  h = fnvLines(fnvChar(h, NL), req.headers.getAll('route'));
  h = fnvLines(fnvChar(h, NL), req.headers.getAll('proxy-require'));
  return hex8(h >>> 0);
}

/** Character codes of 0-9a-f. */
const HEX = [48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 97, 98, 99, 100, 101, 102];

/** 8 lower-case hex digits, as `n.toString(16).padStart(8, '0')` writes them (that one goes through the runtime). */
function hex8(n: number): string {
  return String.fromCharCode(
    HEX[(n >>> 28) & 15]!, HEX[(n >>> 24) & 15]!, HEX[(n >>> 20) & 15]!, HEX[(n >>> 16) & 15]!,
    HEX[(n >>> 12) & 15]!, HEX[(n >>> 8) & 15]!, HEX[(n >>> 4) & 15]!, HEX[n & 15]!,
  );
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
