/**
 * Hash keys for the hash-* algorithms. Small strings only (a Call-ID or one
 * URI), never whole messages.
 */

const SCHEMES: ReadonlySet<string> = new Set(['sip', 'sips', 'tel']);
const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** FNV-1a, 32 bits, over the UTF-16 code units of `text`. Stable across processes and nodes. */
export function fnv1a32(text: string): number {
  let h = FNV_OFFSET;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, FNV_PRIME);
  }
  return h >>> 0;
}

/**
 * `user@host` of a URI, or of a From/To value (display name, `<>` and header
 * parameters such as `tag` dropped), so that every request of one user hashes
 * alike. Port and URI parameters are dropped too; the host is lower-cased,
 * the user is not (user parts compare case-sensitively, RFC 3261 §19.1.4).
 */
export function uriHashKey(value: string): string {
  let text = value;
  const open = text.indexOf('<');
  if (open >= 0) {
    const close = text.indexOf('>', open + 1);
    text = text.slice(open + 1, close < 0 ? undefined : close);
  }
  text = text.trim();
  const colon = text.indexOf(':');
  if (colon >= 0 && SCHEMES.has(text.slice(0, colon).toLowerCase())) text = text.slice(colon + 1);
  const end = firstIndexOf(text, ';', '?');
  if (end >= 0) text = text.slice(0, end);
  const userEnd = text.lastIndexOf('@');
  let user = userEnd >= 0 ? text.slice(0, userEnd) : '';
  const pw = user.indexOf(':');
  if (pw >= 0) user = user.slice(0, pw);
  let host = userEnd >= 0 ? text.slice(userEnd + 1) : text;
  if (host.startsWith('[')) {
    const bracket = host.indexOf(']');
    host = host.slice(0, bracket < 0 ? undefined : bracket + 1);
  } else {
    const port = host.indexOf(':');
    if (port >= 0) host = host.slice(0, port);
  }
  host = host.toLowerCase();
  return userEnd >= 0 ? `${user}@${host}` : host;
}

function firstIndexOf(text: string, a: string, b: string): number {
  const i = text.indexOf(a);
  const j = text.indexOf(b);
  if (i < 0) return j;
  if (j < 0) return i;
  return Math.min(i, j);
}
