/**
 * security.websocket: who may open a SIP WebSocket. The Origin allowlist
 * (cross-site WebSocket hijacking) and the JWT a handshake must carry when
 * a token key is set. Everything a handshake verifier needs is checked here,
 * so a bad key or a key/algorithm mismatch is a config error naming the key.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { z } from 'zod';

export const HMAC_ALGORITHMS = ['HS256', 'HS384', 'HS512'] as const;
export const PUBLIC_KEY_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;
export const TOKEN_ALGORITHMS = [...HMAC_ALGORITHMS, ...PUBLIC_KEY_ALGORITHMS] as const;
export type TokenAlgorithm = (typeof TOKEN_ALGORITHMS)[number];

/** RFC 7518 §3.2: an HMAC key at least as long as the hash output. */
const HMAC_MIN_BYTES: Readonly<Record<(typeof HMAC_ALGORITHMS)[number], number>> = { HS256: 32, HS384: 48, HS512: 64 };

/** `https://app.example.com`, `https://*.example.com`, `*.example.com` (any scheme and port), or `null` (opaque origins). */
export function originPatternProblem(text: string): string | undefined {
  if (text === 'null') return undefined;
  if (text.startsWith('*.')) return /^\*\.[a-z0-9-]+(\.[a-z0-9-]+)*$/i.test(text) ? undefined : 'a host pattern such as *.example.com';
  const m = /^([a-z][a-z0-9+.-]*):\/\/(\*\.)?([^/?#]+)$/i.exec(text);
  if (m === null) return 'an origin such as https://app.example.com (scheme, host, optional port; no path), or *.example.com';
  const host = m[2] === undefined ? m[3] : `wildcard.${m[3]}`;
  if (!URL.canParse(`${m[1]}://${host}`)) return 'not a valid origin';
  return undefined;
}

/** The algorithms a key can verify: HMAC for a secret; by key type for a public key. */
export function algorithmsForKey(key: KeyObject): readonly TokenAlgorithm[] {
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
    case 'rsa-pss':
      return ['PS256', 'PS384', 'PS512'];
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      return curve === 'prime256v1' ? ['ES256'] : curve === 'secp384r1' ? ['ES384'] : curve === 'secp521r1' ? ['ES512'] : [];
    }
    case 'ed25519':
    case 'ed448':
      return ['EdDSA'];
    default:
      return [];
  }
}

/** A string where "" means unset (what an empty environment variable gives). */
const optionalText = z
  .string()
  .optional()
  .transform((v) => (v === '' ? undefined : v));

const tokenSchema = z
  .strictObject({
    secret: z.string().default('').describe('HMAC key (HS256/384/512) that signs handshake tokens; at least 32 bytes for HS256. Empty (and no publicKey) = no token required. Set it through SBC_SECURITY__WEBSOCKET__TOKEN__SECRET rather than in the file. @default ""'),
    publicKey: optionalText.describe('PEM public key (or certificate) that verifies handshake tokens (RS*, PS*, ES*, EdDSA); exclusive with secret. Empty = none.'),
    algorithms: z.array(z.enum(TOKEN_ALGORITHMS)).min(1).optional().describe('Accepted JWS algorithms. @default ["HS256"] with a secret; with a public key the first one its type allows (RS256 for RSA, ES256 for P-256, …)'),
    param: z.string().regex(/^[A-Za-z0-9_.-]+$/, { message: 'a query parameter name' }).default('token').describe('Query parameter of the WebSocket URL that carries the token (else Authorization: Bearer). @default "token"'),
    userClaim: z.string().min(1).default('sub').describe('Claim naming the SIP user the connection is bound to ("alice", or "alice@example.com" to bind the domain too). @default "sub"'),
    audience: optionalText.describe('Required aud claim. Empty = not checked.'),
    issuer: optionalText.describe('Required iss claim. Empty = not checked.'),
    clockToleranceSeconds: z.int().min(0).max(300).default(30).describe('Clock skew allowed on exp and nbf, seconds. Every token must carry exp. @default 30'),
  })
  .superRefine((t, ctx) => {
    const issue = (path: string, message: string): void => ctx.addIssue({ code: 'custom', message, path: [path] });
    if (t.publicKey !== undefined && t.secret !== '') {
      issue('publicKey', 'set either security.websocket.token.secret or publicKey, not both');
      return;
    }
    if (t.publicKey !== undefined) {
      let key: KeyObject;
      try {
        key = createPublicKey(t.publicKey);
      } catch (err) {
        issue('publicKey', `not a PEM public key or certificate: ${(err as Error).message}`);
        return;
      }
      const usable = algorithmsForKey(key);
      if (usable.length === 0) {
        issue('publicKey', `a ${key.asymmetricKeyType ?? 'unknown'} key cannot verify JWTs (RSA, EC P-256/384/521 or Ed25519)`);
        return;
      }
      for (const a of t.algorithms ?? []) if (!usable.includes(a)) issue('algorithms', `${a} does not fit a ${key.asymmetricKeyType} public key (use ${usable.join(', ')})`);
      return;
    }
    if (t.secret === '') {
      if (t.algorithms !== undefined) issue('algorithms', 'no security.websocket.token.secret or publicKey is set');
      return;
    }
    const bytes = Buffer.byteLength(t.secret);
    for (const a of t.algorithms ?? ['HS256']) {
      if (!(HMAC_ALGORITHMS as readonly string[]).includes(a)) {
        issue('algorithms', `${a} needs a publicKey; a secret verifies ${HMAC_ALGORITHMS.join(', ')}`);
        continue;
      }
      const min = HMAC_MIN_BYTES[a as (typeof HMAC_ALGORITHMS)[number]];
      if (bytes < min) issue('secret', `${a} needs a secret of at least ${min} bytes (RFC 7518 §3.2), got ${bytes}`);
    }
  });

export const websocketSchema = z
  .strictObject({
    allowedOrigins: z
      .array(z.string().superRefine((s, ctx) => {
        const problem = originPatternProblem(s);
        if (problem !== undefined) ctx.addIssue({ code: 'custom', message: `must be ${problem}` });
      }))
      .default([])
      .describe('Origins a browser handshake may come from: https://app.example.com, https://*.example.com, *.example.com (any scheme and port); others get HTTP 403. Empty = any. @default []'),
    allowMissingOrigin: z.boolean().default(true).describe('Let handshakes without an Origin header in (native clients send none; browsers always do). @default true'),
    token: tokenSchema.prefault({}),
  })
  .prefault({});

export type WebSocketConfig = z.output<typeof websocketSchema>;
export type HandshakeTokenConfig = WebSocketConfig['token'];
