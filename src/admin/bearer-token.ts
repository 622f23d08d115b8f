import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * True when an Authorization header carries `Bearer <token>` (RFC 6750 §2.1).
 * Both sides are hashed first so the comparison takes the same time whatever
 * the length or content of the guess.
 */
export function bearerTokenMatches(authorization: string | undefined, token: string): boolean {
  if (authorization === undefined) return false;
  const space = authorization.indexOf(' ');
  // The auth scheme is case-insensitive (RFC 9110 §11.1).
  if (space < 0 || authorization.slice(0, space).toLowerCase() !== 'bearer') return false;
  const offered = authorization.slice(space + 1).trim();
  return timingSafeEqual(sha256(offered), sha256(token));
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}
