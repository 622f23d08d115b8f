/**
 * HTTP Digest as SIP uses it (RFC 3261 §22.4, RFC 2617, RFC 7616, RFC 8760):
 * parsing credentials and challenges, writing challenges, and the hash
 * computations. Pure, no I/O; hostile input gives a failed Result, never a throw.
 */
import { createHash } from 'node:crypto';
import { isTokenChar, isWsp, skipWsp } from './chars.js';
import { fail, ok, type Result } from './result.js';

/** Algorithms we compute (RFC 8760 §2.2 adds SHA-256 for SIP; `-sess` variants per RFC 7616 §3.4.2). */
export const DIGEST_ALGORITHMS = ['MD5', 'MD5-sess', 'SHA-256', 'SHA-256-sess'] as const;
export type DigestAlgorithm = (typeof DIGEST_ALGORITHMS)[number];

export type DigestQop = 'auth' | 'auth-int';

/** Hex digits of a digest per algorithm: the length an HA1 or a response must have. */
export function digestHexLength(algorithm: DigestAlgorithm): number {
  return algorithm.startsWith('SHA-256') ? 64 : 32;
}

/** The algorithm named by an `algorithm=` value (case-insensitive, RFC 7616 §3.3); undefined if we do not compute it. */
export function digestAlgorithm(name: string): DigestAlgorithm | undefined {
  const upper = name.toUpperCase();
  return DIGEST_ALGORITHMS.find((a) => a.toUpperCase() === upper);
}

/** H(data) as lower-case hex. */
export function digestHash(algorithm: DigestAlgorithm, data: string | Buffer): string {
  return createHash(algorithm.startsWith('SHA-256') ? 'sha256' : 'md5').update(data).digest('hex');
}

/** HA1 = H(username:realm:password), the value a users file may store instead of the password (RFC 7616 §3.4.2). */
export function computeHa1(algorithm: DigestAlgorithm, username: string, realm: string, password: string): string {
  return digestHash(algorithm, `${username}:${realm}:${password}`);
}

export interface ResponseInput {
  algorithm: DigestAlgorithm;
  /** H(username:realm:password), also for `-sess` (the session key is derived here). */
  ha1: string;
  method: string;
  /** The digest `uri` parameter: in SIP, the Request-URI (RFC 3261 §22.4). */
  uri: string;
  nonce: string;
  qop?: DigestQop;
  /** Eight hex digits; required with qop. */
  nc?: string;
  cnonce?: string;
  /** Message body, for qop auth-int only. */
  body?: Buffer;
}

/**
 * request-digest (RFC 7616 §3.4.1): H(HA1:nonce:nc:cnonce:qop:HA2), or
 * H(HA1:nonce:HA2) without qop (RFC 2069 compatibility, RFC 2617 §3.2.2.1).
 */
export function computeResponse(input: ResponseInput): string {
  const { algorithm, nonce, qop } = input;
  const cnonce = input.cnonce ?? '';
  const ha1 = algorithm.endsWith('-sess') ? digestHash(algorithm, `${input.ha1}:${nonce}:${cnonce}`) : input.ha1;
  // auth-int hashes the body; an empty body hashes "" (RFC 8760 §2.6 item 7).
  const a2 = qop === 'auth-int' ? `${input.method}:${input.uri}:${digestHash(algorithm, input.body ?? Buffer.alloc(0))}` : `${input.method}:${input.uri}`;
  const ha2 = digestHash(algorithm, a2);
  if (qop === undefined) return digestHash(algorithm, `${ha1}:${nonce}:${ha2}`);
  return digestHash(algorithm, `${ha1}:${nonce}:${input.nc ?? ''}:${cnonce}:${qop}:${ha2}`);
}

// ── parsing ─────────────────────────────────────────────────────────────

/** Most auth-params a credentials or challenge value may carry before we call it hostile. */
const MAX_AUTH_PARAMS = 32;

/** The auth scheme of a credentials/challenge value, lower-cased (`digest`, `bearer`, ...); undefined when none. */
export function authScheme(value: string): string | undefined {
  let p = 0;
  while (p < value.length && isTokenChar(value.charCodeAt(p))) p++;
  return p === 0 ? undefined : value.slice(0, p).toLowerCase();
}

/**
 * `Digest` followed by auth-params: name EQUAL (token / quoted-string),
 * comma-separated (RFC 3261 §25.1). Names lower-cased, quoted values
 * unquoted. A repeated parameter is an error (RFC 7616 §3.4).
 */
export function parseDigestParams(value: string): Result<Map<string, string>, string> {
  if (authScheme(value) !== 'digest') return fail('scheme is not Digest');
  let p = 6;
  if (!isWsp(value.charCodeAt(p))) return fail('no parameters after Digest');
  const params = new Map<string, string>();
  for (;;) {
    while (p < value.length && (isWsp(value.charCodeAt(p)) || value.charCodeAt(p) === 44 /* , */)) p++;
    if (p >= value.length) break;
    const nameStart = p;
    while (p < value.length && isTokenChar(value.charCodeAt(p))) p++;
    if (p === nameStart) return fail('bad parameter name');
    const name = value.slice(nameStart, p).toLowerCase();
    p = skipWsp(value, p);
    if (value.charCodeAt(p) !== 61 /* = */) return fail(`parameter ${safeName(name)} has no value`);
    p = skipWsp(value, p + 1);
    let v: string;
    if (value.charCodeAt(p) === 34 /* " */) {
      const quoted = readQuoted(value, p);
      if (quoted === undefined) return fail('unterminated quoted string');
      [v, p] = quoted;
    } else {
      const valueStart = p;
      while (p < value.length && isTokenChar(value.charCodeAt(p))) p++;
      if (p === valueStart) return fail(`parameter ${safeName(name)} has an empty value`);
      v = value.slice(valueStart, p);
    }
    if (params.has(name)) return fail(`parameter ${safeName(name)} is repeated`);
    if (params.size >= MAX_AUTH_PARAMS) return fail('too many parameters');
    params.set(name, v);
    p = skipWsp(value, p);
    if (p < value.length && value.charCodeAt(p) !== 44) return fail('parameters are not comma-separated');
  }
  return ok(params);
}

/** What a UAC answered with (Authorization / Proxy-Authorization, RFC 3261 §22.4). */
export interface DigestCredentials {
  username: string;
  realm: string;
  nonce: string;
  uri: string;
  /** Lower-case hex. */
  response: string;
  /** As sent, `MD5` when absent (RFC 7616 §3.4). */
  algorithm: string;
  qop?: string;
  /** Eight hex digits, with qop. */
  nc?: string;
  cnonce?: string;
  opaque?: string;
}

const NC = /^[0-9a-fA-F]{8}$/;
const HEX = /^[0-9a-fA-F]+$/;

/** Parse Digest credentials; a failure names what is wrong in a few safe words (fit for a reason phrase). */
export function parseDigestCredentials(value: string): Result<DigestCredentials, string> {
  const parsed = parseDigestParams(value);
  if (!parsed.ok) return parsed;
  const p = parsed.value;
  const username = p.get('username');
  const realm = p.get('realm');
  const nonce = p.get('nonce');
  const uri = p.get('uri');
  const response = p.get('response');
  if (username === undefined) return fail(p.has('username*') ? 'username* is not supported' : 'username missing');
  if (realm === undefined) return fail('realm missing');
  if (nonce === undefined) return fail('nonce missing');
  if (uri === undefined) return fail('uri missing');
  if (response === undefined) return fail('response missing');
  if (!HEX.test(response)) return fail('response is not hex');
  const creds: DigestCredentials = { username, realm, nonce, uri, response: response.toLowerCase(), algorithm: p.get('algorithm') ?? 'MD5' };
  const qop = p.get('qop');
  if (qop !== undefined) {
    const nc = p.get('nc');
    const cnonce = p.get('cnonce');
    // With qop, nc and cnonce are mandatory (RFC 7616 §3.4).
    if (nc === undefined || !NC.test(nc)) return fail('nc missing or not 8 hex digits');
    if (cnonce === undefined || cnonce.length === 0) return fail('cnonce missing');
    creds.qop = qop.toLowerCase();
    creds.nc = nc.toLowerCase();
    creds.cnonce = cnonce;
  }
  const opaque = p.get('opaque');
  if (opaque !== undefined) creds.opaque = opaque;
  return ok(creds);
}

/** A challenge (WWW-Authenticate / Proxy-Authenticate) as we write it or read it. */
export interface DigestChallenge {
  realm: string;
  nonce: string;
  algorithm: DigestAlgorithm;
  /** Offered qop values; RFC 8760 §2.4 has a UAS always send one. */
  qop?: readonly DigestQop[];
  opaque?: string;
  /** The nonce was stale: retry with the new one without asking the user (RFC 7616 §3.3). */
  stale?: boolean;
}

/** `Digest realm="…", nonce="…", opaque="…", algorithm=MD5, qop="auth"[, stale=true]`. */
export function formatDigestChallenge(c: DigestChallenge): string {
  const parts = [`realm=${quote(c.realm)}`, `nonce=${quote(c.nonce)}`];
  if (c.opaque !== undefined) parts.push(`opaque=${quote(c.opaque)}`);
  parts.push(`algorithm=${c.algorithm}`);
  if (c.qop !== undefined && c.qop.length > 0) parts.push(`qop=${quote(c.qop.join(','))}`);
  if (c.stale === true) parts.push('stale=true');
  return `Digest ${parts.join(', ')}`;
}

/** Parse a Digest challenge (the UAC side). */
export function parseDigestChallenge(value: string): Result<DigestChallenge, string> {
  const parsed = parseDigestParams(value);
  if (!parsed.ok) return parsed;
  const p = parsed.value;
  const realm = p.get('realm');
  const nonce = p.get('nonce');
  if (realm === undefined) return fail('realm missing');
  if (nonce === undefined) return fail('nonce missing');
  const algorithm = digestAlgorithm(p.get('algorithm') ?? 'MD5');
  if (algorithm === undefined) return fail('unsupported algorithm');
  const challenge: DigestChallenge = { realm, nonce, algorithm };
  const qop = p.get('qop');
  if (qop !== undefined) {
    challenge.qop = qop.split(',').map((q) => q.trim().toLowerCase()).filter((q): q is DigestQop => q === 'auth' || q === 'auth-int');
  }
  const opaque = p.get('opaque');
  if (opaque !== undefined) challenge.opaque = opaque;
  if (p.get('stale')?.toLowerCase() === 'true') challenge.stale = true;
  return ok(challenge);
}

/** quoted-string at `p` (the opening quote), quoted-pairs unescaped (RFC 3261 §25.1). */
function readQuoted(s: string, p: number): [string, number] | undefined {
  let out = '';
  let start = ++p;
  while (p < s.length) {
    const c = s.charCodeAt(p);
    if (c === 34) return [out + s.slice(start, p), p + 1];
    if (c === 92 /* \ */) {
      if (p + 1 >= s.length) return undefined;
      out += s.slice(start, p);
      start = p + 1;
      p += 2;
    } else p++;
  }
  return undefined;
}

function quote(s: string): string {
  return `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/** A parameter name is a token, but keep what reaches a reason phrase short. */
function safeName(name: string): string {
  return name.length <= 16 ? name : name.slice(0, 16);
}
