import { isTokenChar, isWsp, skipWsp } from '../chars.js';
import { fail, ok, type Result } from '../result.js';
import { formatParams, formatUri, parseUri, type Params, type SipUri } from '../uri.js';
import { scanHeaderParams } from './params.js';

/** name-addr / addr-spec with header parameters (From, To, Contact, Route, Record-Route, Path). */
export interface NameAddr {
  display?: string;
  uri: SipUri;
  params: Params;
  /** Whether the URI was written in <...> (params after an addr-spec belong to the header). */
  angle: boolean;
}

/** Read a quoted-string starting at the opening quote; returns [unescaped, index after the closing quote]. */
function readQuoted(s: string, p: number): [string, number] | null {
  let out = '';
  let start = ++p;
  while (p < s.length) {
    const c = s.charCodeAt(p);
    if (c === 34 /* " */) return [out + s.slice(start, p), p + 1];
    if (c === 92 /* \ */) {
      // quoted-pair: the next character stands for itself (RFC 3261 §25.1).
      out += s.slice(start, p);
      start = p + 1;
      p += 2;
    } else p++;
  }
  return null;
}

/** Index of the "<" opening a name-addr, or -1 for an addr-spec ("<" inside a quoted parameter does not count). */
function findAngle(s: string, p: number): number {
  for (; p < s.length; p++) {
    const c = s.charCodeAt(p);
    if (c === 60) return p;
    if (c === 59 /* ; */ || c === 34 /* " */) return -1;
  }
  return -1;
}

/** Parse one name-addr value. */
export function parseNameAddr(value: string): Result<NameAddr> {
  let p = skipWsp(value, 0);
  let display: string | undefined;
  let uriText: string;
  let angle: boolean;

  if (value.charCodeAt(p) === 34) {
    const q = readQuoted(value, p);
    if (q === null) return fail('unterminated display name');
    display = q[0];
    p = skipWsp(value, q[1]);
    if (value.charCodeAt(p) !== 60 /* < */) return fail('expected < after display name');
  }

  const lt = display === undefined ? findAngle(value, p) : p;
  if (lt >= 0) {
    if (display === undefined && lt > p) {
      // display-name = *(token LWS) (RFC 3261 §25.1): words of token characters only.
      const words = value.slice(p, lt).trim();
      for (let i = 0; i < words.length; i++) {
        const c = words.charCodeAt(i);
        if (!isTokenChar(c) && !isWsp(c)) return fail('bad display name');
      }
      if (words.length > 0) display = words;
    }
    const gt = value.indexOf('>', lt + 1);
    if (gt < 0) return fail('unterminated <URI>');
    uriText = value.slice(lt + 1, gt);
    p = gt + 1;
    angle = true;
  } else {
    // addr-spec: the URI cannot contain ";" so parameters after it are header parameters (RFC 3261 §20.10).
    const start = p;
    while (p < value.length) {
      const c = value.charCodeAt(p);
      if (c === 59 /* ; */ || isWsp(c)) break;
      p++;
    }
    uriText = value.slice(start, p);
    angle = false;
  }

  const uri = parseUri(uriText);
  if (!uri.ok) return uri;
  const scan = scanHeaderParams(value, p);
  if (!scan.ok) return fail(scan.error);
  if (skipWsp(value, scan.end) !== value.length) return fail('unexpected text after name-addr');
  const na: NameAddr = { uri: uri.value, params: scan.params, angle };
  if (display !== undefined) na.display = display;
  return ok(na);
}

/** Always writes the URI inside <...>. */
export function formatNameAddr(na: NameAddr): string {
  const uri = `<${formatUri(na.uri)}>${formatParams(na.params)}`;
  if (na.display === undefined) return uri;
  return `"${na.display.replace(/["\\]/g, '\\$&')}" ${uri}`;
}

/** The tag parameter (From / To), if any. */
export function tagOf(na: NameAddr): string | undefined {
  return na.params.get('tag') ?? undefined;
}
