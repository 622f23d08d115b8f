/**
 * Requests per source IP as token buckets. The table is bounded: a spoofed
 * source flood over UDP fills it with one-packet sources, so at the cap the
 * sources quiet the longest are forgotten (one that loses its bucket only gets
 * a fresh burst), and a sweep drops buckets that have refilled, which a new
 * one equals.
 */
import { GenerationalMap } from './generational-map.js';
import { bucketRate, fullAt, takeToken, type BucketRate, type TokenBucket } from './token-bucket.js';

export interface SourceRateLimiterOptions {
  /** Sustained requests per second per source; must be > 0 (0 = unlimited means no limiter at all). */
  requestsPerSecond: number;
  /** Requests a quiet source may send at once. */
  burst: number;
  /** Sources tracked at once (>= 2). */
  maxSources: number;
}

export class SourceRateLimiter {
  readonly #buckets: GenerationalMap<string, TokenBucket>;
  readonly #rate: BucketRate;

  constructor(options: SourceRateLimiterOptions) {
    if (!(options.requestsPerSecond > 0)) throw new RangeError('requestsPerSecond must be > 0');
    if (!(options.burst >= 1)) throw new RangeError('burst must be >= 1');
    this.#buckets = new GenerationalMap(options.maxSources);
    this.#rate = bucketRate(options.requestsPerSecond, options.burst);
  }

  /** Sources with a bucket (including refilled ones the sweep has not reached). */
  get size(): number {
    return this.#buckets.size;
  }

  /** Counts one request from `source`; false when it is over its rate. */
  take(source: string, now: number): boolean {
    let bucket = this.#buckets.get(source);
    if (bucket === undefined) {
      bucket = { tokens: this.#rate.burst, at: now };
      this.#buckets.set(source, bucket);
    }
    return takeToken(bucket, this.#rate, now);
  }

  /** Drop a source's bucket (it is banned: when the ban ends it starts afresh). */
  forget(source: string): void {
    this.#buckets.delete(source);
  }

  /** Drop the buckets that have refilled. */
  sweep(now: number): void {
    this.#buckets.deleteWhere((bucket) => fullAt(bucket, this.#rate) <= now);
  }

  clear(): void {
    this.#buckets.clear();
  }
}
