import { NumberMinHeap } from './number-min-heap.js';

/**
 * Keys grouped by expiry time into coarse buckets (one per `resolutionMs`):
 * a bucket wheel instead of a timer per key. A bucket's id is the end of its
 * time slot, so every key in a bucket whose id is due has expired.
 *
 * A min-heap of bucket ids finds the earliest bucket, both for the periodic
 * sweep and for evicting the keys closest to expiry when the store is full.
 * Emptied buckets leave a stale id in the heap; stale ids are dropped when
 * they reach the top, and the heap is rebuilt when they pile up.
 */
export class ExpiryIndex {
  readonly #resolutionMs: number;
  readonly #buckets = new Map<number, Set<string>>();
  readonly #heap = new NumberMinHeap();

  constructor(resolutionMs: number) {
    this.#resolutionMs = resolutionMs;
  }

  /** Number of non-empty buckets (for tests and diagnostics). */
  get bucketCount(): number {
    return this.#buckets.size;
  }

  add(key: string, expiresAt: number): void {
    const id = this.#bucketId(expiresAt);
    let bucket = this.#buckets.get(id);
    if (!bucket) {
      bucket = new Set();
      this.#buckets.set(id, bucket);
      this.#heap.push(id);
    }
    bucket.add(key);
  }

  remove(key: string, expiresAt: number): void {
    const id = this.#bucketId(expiresAt);
    const bucket = this.#buckets.get(id);
    if (!bucket || !bucket.delete(key)) return;
    if (bucket.size === 0) {
      this.#buckets.delete(id);
      // Refreshed TTLs empty buckets far from the top; keep the heap near the live set.
      if (this.#heap.size > 2 * this.#buckets.size + 64) this.#heap.rebuild(this.#buckets.keys());
    }
  }

  move(key: string, fromExpiresAt: number, toExpiresAt: number): void {
    if (this.#bucketId(fromExpiresAt) === this.#bucketId(toExpiresAt)) return;
    this.remove(key, fromExpiresAt);
    this.add(key, toExpiresAt);
  }

  /**
   * Remove and return up to `limit` keys from buckets that are fully expired
   * at `now`, earliest first. Keys left over wait for the next call.
   */
  takeExpired(now: number, limit: number): string[] {
    const taken: string[] = [];
    while (taken.length < limit) {
      const id = this.#earliestBucketId();
      if (id === undefined || id * this.#resolutionMs > now) break;
      const bucket = this.#buckets.get(id)!;
      for (const key of bucket) {
        bucket.delete(key);
        taken.push(key);
        if (taken.length >= limit) break;
      }
      if (bucket.size === 0) {
        this.#buckets.delete(id);
        this.#heap.pop();
      }
    }
    return taken;
  }

  /** A key from the earliest bucket: the one to evict first. */
  earliestKey(): string | undefined {
    const id = this.#earliestBucketId();
    if (id === undefined) return undefined;
    for (const key of this.#buckets.get(id)!) return key;
    return undefined;
  }

  clear(): void {
    this.#buckets.clear();
    this.#heap.clear();
  }

  #bucketId(expiresAt: number): number {
    return Math.ceil(expiresAt / this.#resolutionMs);
  }

  #earliestBucketId(): number | undefined {
    for (;;) {
      const id = this.#heap.peek();
      if (id === undefined) return undefined;
      if (this.#buckets.has(id)) return id;
      this.#heap.pop();
    }
  }
}
