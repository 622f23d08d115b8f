import { isTokenChar, skipWsp } from '../chars.js';
import { ParamList } from '../param-list.js';

/** Where parameter parsing stopped, or why it failed. */
export type ParamsScan = { ok: true; params: ParamList; end: number } | { ok: false; error: string };

function isValueChar(c: number): boolean {
  // gen-value = token / host / quoted-string (RFC 3261 §25.1); host adds ":" "[" "]".
  return isTokenChar(c) || c === 58 || c === 91 || c === 93;
}

/**
 * Scan `;name[=value]` header parameters starting at `pos`, allowing LWS around
 * ";" and "=" (RFC 3261 §25.1 SEMI / EQUAL). Names are lower-cased; values are
 * kept as written, quoted strings with their quotes so they relay unchanged.
 * Stops at the first character that cannot continue a parameter list.
 */
export function scanHeaderParams(s: string, pos: number): ParamsScan {
  const params = new ParamList();
  for (;;) {
    let p = skipWsp(s, pos);
    if (s.charCodeAt(p) !== 59 /* ; */) return { ok: true, params, end: pos };
    p = skipWsp(s, p + 1);
    const nameStart = p;
    while (p < s.length && isTokenChar(s.charCodeAt(p))) p++;
    if (p === nameStart) return { ok: false, error: 'empty parameter name' };
    const name = s.slice(nameStart, p).toLowerCase();
    let value: string | null = null;
    const q = skipWsp(s, p);
    if (s.charCodeAt(q) === 61 /* = */) {
      p = skipWsp(s, q + 1);
      const valueStart = p;
      if (s.charCodeAt(p) === 34 /* " */) {
        p++;
        while (p < s.length && s.charCodeAt(p) !== 34) p += s.charCodeAt(p) === 92 /* \ */ ? 2 : 1;
        if (p >= s.length) return { ok: false, error: 'unterminated quoted parameter' };
        p++;
      } else {
        while (p < s.length && isValueChar(s.charCodeAt(p))) p++;
        if (p === valueStart) return { ok: false, error: 'empty parameter value' };
      }
      value = s.slice(valueStart, p);
    }
    params.addFirst(name, value);
    pos = p;
  }
}
