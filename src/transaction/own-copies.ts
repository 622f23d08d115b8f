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

/**
 * Bytes a transaction keeps through a long wait (the last response for
 * Timer J or G/H, our ACK for Timer D), held as a one-byte string: the same
 * bytes without a Buffer, an ArrayBuffer and a backing store around them
 * (about 200 bytes less each), and never a view of a shared pool slab.
 * Resends are rare; each rebuilds a Buffer.
 */
export type KeptBytes = string;

export function keepBytes(buf: Buffer): KeptBytes {
  // latin1 maps every byte to one character and back: lossless for any bytes.
  return buf.toString('latin1');
}

export function bytesOf(data: Buffer | KeptBytes): Buffer {
  return typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
}
