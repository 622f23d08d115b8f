import { isDigit, isHostChar, isIpv6Char, isTokenChar, skipWsp } from '../chars.js';
import { splitCommaValues } from '../headers.js';
import { fail, ok, type Result } from '../result.js';
import { formatHostPort, formatParams, type Params } from '../uri.js';
import { scanHeaderParams } from './params.js';

/** One Via value (RFC 3261 §20.42). */
export interface Via {
  /** Upper-case transport token: UDP, TCP, TLS, WS, WSS, SCTP. */
  transport: string;
  host: string;
  port?: number;
  params: Params;
}

/** Read a token at `p` (after optional LWS); returns [token, end] or null. */
function readToken(s: string, p: number): [string, number] | null {
  p = skipWsp(s, p);
  const start = p;
  while (p < s.length && isTokenChar(s.charCodeAt(p))) p++;
  return p === start ? null : [s.slice(start, p), p];
}

/** Expect "/" with optional LWS around it (RFC 3261 §25.1 SLASH). */
function readSlash(s: string, p: number): number {
  p = skipWsp(s, p);
  return s.charCodeAt(p) === 47 ? p + 1 : -1;
}

function parseOneVia(s: string): Result<Via> {
  // sent-protocol = protocol-name SLASH protocol-version SLASH transport
  const name = readToken(s, 0);
  if (name === null || name[0].toUpperCase() !== 'SIP') return fail('bad Via protocol');
  let p = readSlash(s, name[1]);
  const version = p < 0 ? null : readToken(s, p);
  if (version === null || version[0] !== '2.0') return fail('bad Via version');
  p = readSlash(s, version[1]);
  const transport = p < 0 ? null : readToken(s, p);
  if (transport === null) return fail('bad Via transport');
  p = skipWsp(s, transport[1]);
  if (p === transport[1]) return fail('missing space before Via sent-by');

  let host: string;
  if (s.charCodeAt(p) === 91 /* [ */) {
    const close = s.indexOf(']', p);
    if (close < 0) return fail('unterminated IPv6 reference in Via');
    host = s.slice(p + 1, close);
    if (host.indexOf(':') < 0) return fail('bad IPv6 reference in Via');
    for (let i = 0; i < host.length; i++) if (!isIpv6Char(host.charCodeAt(i))) return fail('bad IPv6 reference in Via');
    p = close + 1;
  } else {
    const start = p;
    while (p < s.length && isHostChar(s.charCodeAt(p))) p++;
    if (p === start) return fail('missing Via host');
    host = s.slice(start, p);
  }
  const viaTransport = transport[0].toUpperCase();
  const viaHost = host.toLowerCase();
  let viaPort: number | undefined;

  const colon = skipWsp(s, p);
  if (s.charCodeAt(colon) === 58 /* : */) {
    const start = skipWsp(s, colon + 1);
    p = start;
    while (p < s.length && isDigit(s.charCodeAt(p))) p++;
    const port = Number(s.slice(start, p));
    if (p === start || p - start > 5 || port < 1 || port > 65535) return fail('bad Via port');
    viaPort = port;
  }

  const scan = scanHeaderParams(s, p);
  if (!scan.ok) return fail(scan.error);
  if (skipWsp(s, scan.end) !== s.length) return fail('unexpected text after Via');
  // The scanned parameters are the Via's own: no Map is made only to be replaced.
  const via: Via = viaPort === undefined ? { transport: viaTransport, host: viaHost, params: scan.params } : { transport: viaTransport, host: viaHost, port: viaPort, params: scan.params };
  const rport = via.params.get('rport');
  // rport is a flag in requests and carries the source port in responses (RFC 3581 §4).
  if (rport !== undefined && rport !== null && !/^\d{1,5}$/.test(rport)) return fail('bad rport');
  return ok(via);
}

/** Parse every Via value of a header line (comma-joined allowed). */
export function parseVia(value: string): Result<Via[]> {
  const parts = splitCommaValues(value);
  if (parts.length === 0) return fail('empty Via');
  const out: Via[] = [];
  for (const part of parts) {
    const r = parseOneVia(part);
    if (!r.ok) return r;
    out.push(r.value);
  }
  return ok(out);
}

export function formatVia(via: Via): string {
  return `SIP/2.0/${via.transport} ${formatHostPort(via.host, via.port)}${formatParams(via.params)}`;
}

/** The branch parameter, if any. */
export function viaBranch(via: Via): string | undefined {
  return via.params.get('branch') ?? undefined;
}

