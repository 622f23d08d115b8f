/**
 * Banned source IPs and when each ban ends. Bounded: at the cap, the bans of
 * sources that have been quiet the longest go first (a source that keeps
 * sending while banned keeps its ban). Expiry needs no timer: reads check the
 * end, and the sweep frees ended bans.
 */
import { GenerationalMap } from './generational-map.js';

export interface BanListOptions {
  /** How long a ban lasts, in ms (> 0). */
  durationMs: number;
  /** Bans held at once (>= 2). */
  maxSources: number;
}

export class BanList {
  /** Source → monotonic ms when its ban ends. */
  readonly #endsAt: GenerationalMap<string, number>;
  #durationMs: number;

  constructor(options: BanListOptions) {
    if (!(options.durationMs > 0)) throw new RangeError('durationMs must be > 0');
    this.#endsAt = new GenerationalMap(options.maxSources);
    this.#durationMs = options.durationMs;
  }

  /** Bans held, including ended ones the sweep has not reached. */
  get size(): number {
    return this.#endsAt.size;
  }

  isBanned(source: string, now: number): boolean {
    const endsAt = this.#endsAt.get(source);
    if (endsAt === undefined) return false;
    if (endsAt > now) return true;
    this.#endsAt.delete(source);
    return false;
  }

  /** Ban `source` from `now`; false when it already was (a ban is not prolonged, so it is logged once). */
  ban(source: string, now: number): boolean {
    if (this.isBanned(source, now)) return false;
    this.#endsAt.set(source, now + this.#durationMs);
    return true;
  }

  /** Bans from now on last `durationMs`; bans in force keep their end. */
  setDuration(durationMs: number): void {
    if (!(durationMs > 0)) throw new RangeError('durationMs must be > 0');
    this.#durationMs = durationMs;
  }

  /** Drop the bans that have ended. */
  sweep(now: number): void {
    this.#endsAt.deleteWhere((endsAt) => endsAt <= now);
  }

  clear(): void {
    this.#endsAt.clear();
  }
}
