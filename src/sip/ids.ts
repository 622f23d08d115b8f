import { randomBytes } from 'node:crypto';
import { branchMark } from './worker-mark.js';

/** One getrandom() call serves many ids instead of one per tag or branch. */
const POOL_BYTES = 4096;
let pool = Buffer.alloc(0);
let offset = 0;

function take(bytes: number): number {
  if (offset + bytes > pool.length) {
    pool = randomBytes(Math.max(POOL_BYTES, bytes));
    offset = 0;
  }
  const at = offset;
  offset += bytes;
  return at;
}

/** `bytes` random bytes as lower-case hex (2 characters per byte). */
export function randomToken(bytes = 8): string {
  const at = take(bytes);
  return pool.toString('hex', at, at + bytes);
}

/** The RFC 3261 magic cookie every branch we generate starts with (§8.1.1.7). */
export const BRANCH_MAGIC = 'z9hG4bK';

/** A new Via branch: magic cookie, this worker's mark (worker-mark.ts), 64 random bits. */
export function newBranch(): string {
  return BRANCH_MAGIC + branchMark() + randomToken(8);
}

/** A From/To tag with at least 32 random bits (RFC 3261 §19.3). */
export function newTag(): string {
  return randomToken(6);
}
