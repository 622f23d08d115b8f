/**
 * The token a WebSocket handshake carries (security.websocket.token): a JWT
 * in the URL's query parameter (browsers cannot set headers on a WebSocket)
 * or in `Authorization: Bearer`, verified with jose against the configured
 * HMAC secret or public key. Its user claim names the SIP user the
 * connection is then bound to. The token itself never reaches a log line.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { errors, jwtVerify, type JWTVerifyOptions } from 'jose';
import { algorithmsForKey, type HandshakeTokenConfig, type TokenAlgorithm } from '../config/websocket-schema.js';

/** Why a handshake's token was not accepted; each is a metric label. */
export type TokenRefusal = 'token-missing' | 'token-malformed' | 'token-signature' | 'token-expired' | 'token-claims';

export type TokenVerdict = { ok: true; user: string } | { ok: false; reason: TokenRefusal };

/** Longest token looked at; an RS256 JWT with a few claims is under 1 KiB. */
const MAX_TOKEN_CHARS = 8192;
/** A SIP user part (or user@host) we bind to: no spaces, controls or separators that could confuse a comparison. */
const USER_VALUE = /^[^\s\x00-\x1f\x7f<>"]{1,256}$/;

/** True when the configuration asks for a token (a secret or a public key is set). */
export function tokenRequired(config: HandshakeTokenConfig): boolean {
  return config.secret !== '' || config.publicKey !== undefined;
}

export class HandshakeTokenVerifier {
  readonly #key: Uint8Array | KeyObject;
  readonly #options: JWTVerifyOptions;
  readonly #param: string;
  readonly #userClaim: string;

  /** `config` as the schema validated it, with a secret or a public key (tokenRequired). */
  constructor(config: HandshakeTokenConfig) {
    let algorithms: readonly TokenAlgorithm[];
    if (config.publicKey !== undefined) {
      const key = createPublicKey(config.publicKey);
      this.#key = key;
      algorithms = config.algorithms ?? algorithmsForKey(key).slice(0, 1);
    } else {
      this.#key = new TextEncoder().encode(config.secret);
      algorithms = config.algorithms ?? ['HS256'];
    }
    this.#param = config.param;
    this.#userClaim = config.userClaim;
    this.#options = {
      algorithms: [...algorithms],
      clockTolerance: config.clockToleranceSeconds,
      // A token without exp would be a password that never expires.
      requiredClaims: ['exp', config.userClaim],
      ...(config.audience !== undefined ? { audience: config.audience } : {}),
      ...(config.issuer !== undefined ? { issuer: config.issuer } : {}),
    };
  }

  /** The token of an upgrade request: the query parameter first, else Authorization: Bearer. */
  extract(req: IncomingMessage): string | undefined {
    const url = req.url;
    if (url !== undefined && url.includes('?')) {
      const fromQuery = new URLSearchParams(url.slice(url.indexOf('?') + 1)).get(this.#param);
      if (fromQuery !== null && fromQuery !== '') return fromQuery;
    }
    const auth = req.headers.authorization;
    if (auth !== undefined && /^bearer /i.test(auth)) {
      const token = auth.slice(7).trim();
      if (token !== '') return token;
    }
    return undefined;
  }

  async verify(token: string | undefined): Promise<TokenVerdict> {
    if (token === undefined) return { ok: false, reason: 'token-missing' };
    if (token.length > MAX_TOKEN_CHARS) return { ok: false, reason: 'token-malformed' };
    let payload: Record<string, unknown>;
    try {
      payload = (await jwtVerify(token, this.#key, this.#options)).payload;
    } catch (err) {
      return { ok: false, reason: refusalOf(err) };
    }
    const user = payload[this.#userClaim];
    if (typeof user !== 'string' || !USER_VALUE.test(user)) return { ok: false, reason: 'token-claims' };
    return { ok: true, user };
  }
}

function refusalOf(err: unknown): TokenRefusal {
  if (err instanceof errors.JWTExpired) return 'token-expired';
  if (err instanceof errors.JWTClaimValidationFailed) return 'token-claims';
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'token-signature';
  return 'token-malformed';
}
