import { isDigit, isHostChar, isIpv6Char, isPasswordChar, isUriHeadersChar, isUriParamChar, isUserChar } from './chars.js';
import { ParamList, type Params } from './param-list.js';
import { fail, ok, type Result } from './result.js';

export type { Params } from './param-list.js';

export interface SipUri {
  scheme: 'sip' | 'sips' | 'tel' | string;
  /** Unescaped user part; undefined when absent. */
  user?: string;
  password?: string;
  /** Host as written, IPv6 references without brackets (`::1`), domain names lower-cased. */
  host: string;
  port?: number;
  params: Params;
  /** `?name=value&...` part, raw, without the `?`. */
  headers?: string;
}

const fatalUtf8 = new TextDecoder('utf-8', { fatal: true });

/** Decode %XX escapes (RFC 3261 §19.1.2); null when an escape or a character is invalid. */
function unescapePart(s: string, allowed: (c: number) => boolean): string | null {
  let escapes = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 37 /* % */) {
      if (!isHex(s.charCodeAt(i + 1)) || !isHex(s.charCodeAt(i + 2))) return null;
      escapes = true;
      i += 2;
    } else if (!allowed(c)) return null;
  }
  if (!escapes) return s;
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 37) {
      bytes.push(parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(c);
  }
  try {
    return fatalUtf8.decode(Uint8Array.from(bytes));
  } catch {
    return null;
  }
}

function isHex(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
}

const HEX = '0123456789ABCDEF';

/** Escape every character outside `allowed`, as UTF-8 bytes. */
function escapePart(s: string, allowed: (c: number) => boolean): string {
  let i = 0;
  while (i < s.length && allowed(s.charCodeAt(i))) i++;
  if (i === s.length) return s;
  let out = s.slice(0, i);
  for (const b of Buffer.from(s.slice(i), 'utf8')) {
    out += allowed(b) ? String.fromCharCode(b) : '%' + HEX[b >> 4]! + HEX[b & 15]!;
  }
  return out;
}

function isSchemeText(s: string): boolean {
  // scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )  (RFC 3261 §25.1)
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i) | 0x20;
    const alpha = c >= 97 && c <= 122;
    if (i === 0 ? !alpha : !(alpha || isDigit(s.charCodeAt(i)) || c === 0x2b || c === 0x2d || c === 0x2e)) return false;
  }
  return s.length > 0;
}

function isVisible(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c <= 32 || c === 127 || c === 34 || c === 60 || c === 62) return false;
  }
  return s.length > 0;
}

/** Parse a SIP/SIPS URI (RFC 3261 §19.1, §25.1); other schemes keep everything after ':' in `user`. */
export function parseUri(text: string): Result<SipUri> {
  const colon = text.indexOf(':');
  if (colon <= 0) return fail('missing scheme');
  const schemeText = text.slice(0, colon);
  if (!isSchemeText(schemeText)) return fail('bad scheme');
  const scheme = schemeText.toLowerCase();
  if (scheme !== 'sip' && scheme !== 'sips') {
    // tel:, urn:, http: ... are relayed untouched, so only their shape is checked.
    const rest = text.slice(colon + 1);
    if (!isVisible(rest)) return fail('bad URI');
    return ok({ scheme, user: rest, host: '', params: new ParamList() });
  }

  const params = new ParamList();
  const uri: SipUri = { scheme, host: '', params };
  const len = text.length;
  let pos = colon + 1;
  const at = text.indexOf('@', pos);
  if (at >= 0) {
    const pc = text.indexOf(':', pos);
    const userEnd = pc >= 0 && pc < at ? pc : at;
    if (userEnd === pos) return fail('empty user');
    const user = unescapePart(text.slice(pos, userEnd), isUserChar);
    if (user === null) return fail('bad user');
    uri.user = user;
    if (userEnd < at) {
      const password = unescapePart(text.slice(userEnd + 1, at), isPasswordChar);
      if (password === null) return fail('bad password');
      uri.password = password;
    }
    pos = at + 1;
  }

  if (text.charCodeAt(pos) === 91 /* [ */) {
    const close = text.indexOf(']', pos);
    if (close < 0) return fail('unterminated IPv6 reference');
    const host = text.slice(pos + 1, close);
    if (host.indexOf(':') < 0) return fail('bad IPv6 reference');
    for (let i = 0; i < host.length; i++) if (!isIpv6Char(host.charCodeAt(i))) return fail('bad IPv6 reference');
    uri.host = host.toLowerCase();
    pos = close + 1;
  } else {
    const start = pos;
    while (pos < len && isHostChar(text.charCodeAt(pos))) pos++;
    if (pos === start) return fail('missing host');
    uri.host = text.slice(start, pos).toLowerCase();
  }

  if (text.charCodeAt(pos) === 58 /* : */) {
    const start = ++pos;
    while (pos < len && isDigit(text.charCodeAt(pos))) pos++;
    if (pos === start || pos - start > 5) return fail('bad port');
    const port = Number(text.slice(start, pos));
    if (port < 1 || port > 65535) return fail('bad port');
    uri.port = port;
  }

  while (text.charCodeAt(pos) === 59 /* ; */) {
    const start = ++pos;
    let eq = -1;
    while (pos < len) {
      const c = text.charCodeAt(pos);
      if (c === 59 || c === 63 /* ? */) break;
      if (c === 61 /* = */ && eq < 0) eq = pos;
      else if (!isUriParamChar(c)) return fail('bad URI parameter');
      pos++;
    }
    const nameEnd = eq >= 0 ? eq : pos;
    if (nameEnd === start) return fail('empty URI parameter name');
    const name = text.slice(start, nameEnd).toLowerCase();
    params.addFirst(name, eq >= 0 ? text.slice(eq + 1, pos) : null);
  }

  if (text.charCodeAt(pos) === 63 /* ? */) {
    const start = ++pos;
    while (pos < len && isUriHeadersChar(text.charCodeAt(pos))) pos++;
    uri.headers = text.slice(start, pos);
  }

  if (pos !== len) return fail('unexpected character in URI');
  return ok(uri);
}

/** Serialize a URI, re-escaping the user part and bracketing IPv6 hosts. */
export function formatUri(uri: SipUri): string {
  if (uri.scheme !== 'sip' && uri.scheme !== 'sips') return `${uri.scheme}:${uri.user ?? ''}`;
  let out = uri.scheme + ':';
  if (uri.user !== undefined) {
    out += escapePart(uri.user, isUserChar);
    if (uri.password !== undefined) out += ':' + escapePart(uri.password, isPasswordChar);
    out += '@';
  }
  out += formatHostPort(uri.host, uri.port);
  out += formatParams(uri.params);
  if (uri.headers !== undefined) out += '?' + uri.headers;
  return out;
}

/** `;name=value;flag` in map order. */
export function formatParams(params: Params): string {
  if (params instanceof ParamList) return params.format();
  let out = '';
  for (const [name, value] of params) out += value === null ? `;${name}` : `;${name}=${value}`;
  return out;
}

/** `host` or `[v6]` with optional `:port`. */
export function formatHostPort(host: string, port?: number): string {
  const h = host.includes(':') ? `[${host}]` : host;
  return port === undefined ? h : `${h}:${port}`;
}
