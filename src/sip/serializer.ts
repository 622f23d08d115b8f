import type { SipMessage } from './message.js';

/** Serialize once, on the way out; Content-Length is always recomputed from the body. */
export function serialize(_msg: SipMessage): Buffer {
  throw new Error('not implemented');
}
