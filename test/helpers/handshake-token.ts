/**
 * Handshake tokens as an application server would mint them, with jose:
 * HS256 with a shared secret, RS256 / ES256 with a private key whose public
 * half the gateway is configured with.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { SignJWT } from 'jose';

/** 32 bytes: the least HS256 accepts (RFC 7518 §3.2). */
export const HS_SECRET = 'handshake-token-secret-of-32-b!!';

export interface SigningKey {
  alg: 'HS256' | 'RS256' | 'ES256';
  key: Uint8Array | KeyObject;
  /** What security.websocket.token needs to verify it. */
  config: { secret: string } | { publicKey: string };
}

export function hmacKey(secret = HS_SECRET): SigningKey {
  return { alg: 'HS256', key: new TextEncoder().encode(secret), config: { secret } };
}

export function rsaKey(): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { alg: 'RS256', key: privateKey, config: { publicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString() } };
}

export function ecKey(): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { alg: 'ES256', key: privateKey, config: { publicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString() } };
}

export interface Claims {
  sub?: string;
  /** Seconds from now; negative = already expired. Absent: 300. null: no exp claim. */
  expiresIn?: number | null;
  aud?: string;
  iss?: string;
  extra?: Record<string, unknown>;
}

export async function mintToken(signing: SigningKey, claims: Claims = {}): Promise<string> {
  const jwt = new SignJWT({ ...(claims.extra ?? {}) }).setProtectedHeader({ alg: signing.alg }).setIssuedAt();
  if (claims.sub !== undefined) jwt.setSubject(claims.sub);
  if (claims.expiresIn !== null) jwt.setExpirationTime(Math.floor(Date.now() / 1000) + (claims.expiresIn ?? 300));
  if (claims.aud !== undefined) jwt.setAudience(claims.aud);
  if (claims.iss !== undefined) jwt.setIssuer(claims.iss);
  return jwt.sign(signing.key);
}
