/**
 * Copies for what a transaction keeps long after the message it came from
 * (keys, the last response, the ACK): V8 substrings pin their whole parent
 * string, and small Buffers are views of a shared 8 KB pool slab, so one
 * kept 400-byte response would pin a whole slab for Timer J's 32 s.
 */
import { detached } from '../sip/detached.js';

/**
 * V8 makes substrings and concatenations shorter than 13 characters as flat
 * copies, so only longer strings can pin a parent.
 */
const SHARES_BELOW = 13;

/** `s` as a string that shares no memory with the message it came from. */
export function ownString(s: string): string {
  return s.length < SHARES_BELOW ? s : detached(s);
}

/** `buf` in memory of its own: a view of a larger ArrayBuffer (the pool) is copied. */
export function ownBuffer(buf: Buffer): Buffer {
  if (buf.byteOffset === 0 && buf.byteLength === buf.buffer.byteLength) return buf;
  const copy = Buffer.allocUnsafeSlow(buf.byteLength);
  buf.copy(copy);
  return copy;
}
