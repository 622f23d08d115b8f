/**
 * Proxy mode keeps no dialog state, but a drain must know whether calls are
 * still up: this counts the calls whose initial INVITE got a 2xx through us
 * and whose BYE has not been seen. One small entry per established call,
 * bounded in number and age (a BYE that went around us cannot hold it forever).
 */
export interface EstablishedCallsOptions {
  /** Longest a call is counted without its BYE. @default 43200 (12 h, as dialog records) */
  maxCallSeconds?: number;
  /** Most calls counted; beyond it the oldest are forgotten. @default 200000 */
  maxTracked?: number;
  now?: () => number;
}

export class EstablishedCalls {
  readonly #ttlMs: number;
  readonly #max: number;
  readonly #now: () => number;
  /** Call-ID → when it is forgotten; insertion order is age order. */
  readonly #calls = new Map<string, number>();

  constructor(options: EstablishedCallsOptions = {}) {
    this.#ttlMs = (options.maxCallSeconds ?? 43_200) * 1000;
    this.#max = options.maxTracked ?? 200_000;
    this.#now = options.now ?? Date.now;
  }

  /** Calls up now. */
  get size(): number {
    this.#expire();
    return this.#calls.size;
  }

  /** A 2xx to an initial INVITE went through (every fork's 2xx may repeat it). */
  confirmed(callId: string | undefined): void {
    if (callId === undefined || this.#calls.has(callId)) return;
    this.#expire();
    if (this.#calls.size >= this.#max) {
      const oldest = this.#calls.keys().next();
      if (oldest.done !== true) this.#calls.delete(oldest.value);
    }
    this.#calls.set(callId, this.#now() + this.#ttlMs);
  }

  /** Its BYE was answered. */
  ended(callId: string | undefined): void {
    if (callId !== undefined) this.#calls.delete(callId);
  }

  #expire(): void {
    const now = this.#now();
    for (const [callId, until] of this.#calls) {
      if (until > now) return;
      this.#calls.delete(callId);
    }
  }
}
