/**
 * A map bounded by two generations (the scheme rtpengine's cookie cache
 * uses): writes go to the current generation; once it holds half the cap it
 * becomes the previous one and the old previous is dropped whole. A read that
 * finds a key in the previous generation moves it forward, so entries in use
 * stay and quiet ones go first.
 *
 * Eviction costs O(1) amortised. The obvious alternative, deleting a Map's
 * first key at the cap, is quadratic: V8 keeps deleted slots at the front of
 * the table until it rehashes, so each "first key" walks them all (about
 * 50 µs per insert at 100,000 entries under a spoofed-source flood).
 */
export class GenerationalMap<K, V> {
  #current = new Map<K, V>();
  #previous = new Map<K, V>();
  readonly #generationSize: number;

  /** `maxEntries` (>= 2) bounds both generations together. */
  constructor(maxEntries: number) {
    if (!(maxEntries >= 2)) throw new RangeError('maxEntries must be >= 2');
    this.#generationSize = Math.floor(maxEntries / 2);
  }

  get size(): number {
    return this.#current.size + this.#previous.size;
  }

  get(key: K): V | undefined {
    const value = this.#current.get(key);
    if (value !== undefined) return value;
    const old = this.#previous.get(key);
    if (old === undefined) return undefined;
    this.#previous.delete(key);
    this.#put(key, old);
    return old;
  }

  set(key: K, value: V): void {
    if (this.#current.has(key)) {
      this.#current.set(key, value);
      return;
    }
    this.#previous.delete(key);
    this.#put(key, value);
  }

  delete(key: K): void {
    this.#current.delete(key);
    this.#previous.delete(key);
  }

  /** Delete every entry for which `done` is true (the periodic sweep). */
  deleteWhere(done: (value: V) => boolean): void {
    for (const generation of [this.#current, this.#previous]) {
      for (const [key, value] of generation) if (done(value)) generation.delete(key);
    }
  }

  clear(): void {
    this.#current.clear();
    this.#previous.clear();
  }

  #put(key: K, value: V): void {
    if (this.#current.size >= this.#generationSize) {
      this.#previous = this.#current;
      this.#current = new Map();
    }
    this.#current.set(key, value);
  }
}
