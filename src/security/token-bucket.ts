/**
 * A token bucket as plain state plus functions over it, so a table of many
 * thousands holds two numbers per source and taking a token allocates nothing.
 */

export interface TokenBucket {
  /** Tokens left as of `at`. */
  tokens: number;
  /** Monotonic ms of the last refill. */
  at: number;
}

export interface BucketRate {
  /** Tokens added per millisecond. */
  perMs: number;
  /** Most tokens a bucket holds: what a quiet source may send at once. */
  burst: number;
}

export function bucketRate(perSecond: number, burst: number): BucketRate {
  return { perMs: perSecond / 1000, burst };
}

/** Refill for the time elapsed, then take one token; false when less than one is left. */
export function takeToken(bucket: TokenBucket, rate: BucketRate, now: number): boolean {
  const elapsed = now - bucket.at;
  if (elapsed > 0) {
    bucket.tokens = Math.min(rate.burst, bucket.tokens + elapsed * rate.perMs);
    bucket.at = now;
  }
  if (bucket.tokens < 1) return false;
  bucket.tokens -= 1;
  return true;
}

/** When the bucket is full again if nothing more is taken; from then on it is no different from a new one. */
export function fullAt(bucket: TokenBucket, rate: BucketRate): number {
  return bucket.at + (rate.burst - bucket.tokens) / rate.perMs;
}
