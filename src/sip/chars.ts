/**
 * Character classes of the SIP grammar (RFC 3261 §25.1) as lookup tables, so
 * scanners test a byte with one array read instead of a regex.
 */

function table(chars: string, alnum = true): Uint8Array {
  const t = new Uint8Array(128);
  if (alnum) {
    for (let c = 48; c <= 57; c++) t[c] = 1;
    for (let c = 65; c <= 90; c++) t[c] = 1;
    for (let c = 97; c <= 122; c++) t[c] = 1;
  }
  for (let i = 0; i < chars.length; i++) t[chars.charCodeAt(i)] = 1;
  return t;
}

/** token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~") */
const TOKEN = table("-.!%*_+`'~");
/** unreserved (alphanum / mark) plus user-unreserved: what a URI user part may carry unescaped. */
const USER = table("-_.!~*'()&=+$,;?/");
/** unreserved plus "&" "=" "+" "$" ",": what a password may carry unescaped. */
const PASSWORD = table("-_.!~*'()&=+$,");
/** paramchar: param-unreserved / unreserved / escaped. */
const URI_PARAM = table("[]/:&+$-_.!~*'()%");
/** hname / hvalue characters plus the separators of the headers part. */
const URI_HEADERS = table("[]/?:+$-_.!~*'()%=&@,;");
/** Domain labels and IPv4; "_" tolerated because real deployments use it. */
const HOST = table('-._');
const IPV6 = table(':.', false);
for (let c = 48; c <= 57; c++) IPV6[c] = 1;
for (let c = 65; c <= 70; c++) IPV6[c] = 1;
for (let c = 97; c <= 102; c++) IPV6[c] = 1;

const has = (t: Uint8Array, c: number): boolean => c < 128 && t[c] === 1;

export const isTokenChar = (c: number): boolean => has(TOKEN, c);
export const isUserChar = (c: number): boolean => has(USER, c);
export const isPasswordChar = (c: number): boolean => has(PASSWORD, c);
export const isUriParamChar = (c: number): boolean => has(URI_PARAM, c);
export const isUriHeadersChar = (c: number): boolean => has(URI_HEADERS, c);
export const isHostChar = (c: number): boolean => has(HOST, c);
export const isIpv6Char = (c: number): boolean => has(IPV6, c);
export const isDigit = (c: number): boolean => c >= 48 && c <= 57;
/** SP or HTAB. */
export const isWsp = (c: number): boolean => c === 32 || c === 9;

/** Whether the whole string is a non-empty token. */
export function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) if (!isTokenChar(s.charCodeAt(i))) return false;
  return true;
}

/** Index of the first non-SP/HTAB character at or after `pos`. */
export function skipWsp(s: string, pos: number): number {
  while (pos < s.length && isWsp(s.charCodeAt(pos))) pos++;
  return pos;
}
