/**
 * Lines published on one channel in batches: one message per interval
 * however many lines were added, so a burst (bans of a spoofed-source
 * flood, call slots at a high call rate) costs the store, and every
 * subscriber, one message per tick instead of one per event. Bounded: past
 * `maxLines` waiting, lines are dropped and counted (the receiving side must
 * cope with a lost line anyway: a publication may be lost on Redis too).
 */
import type { Logger } from '../log/logger.js';
import type { StateStore } from './store.js';

/** Safe defaults, in one place. */
export const BATCHED_PUBLISHER_DEFAULTS = {
  intervalMs: 50,
  maxLines: 10_000,
} as const;

export interface BatchedPublisherOptions {
  store: StateStore;
  channel: string;
  logger: Logger;
  intervalMs?: number;
  maxLines?: number;
}

export class BatchedPublisher {
  readonly #o: BatchedPublisherOptions;
  #lines: string[] = [];
  #timer: NodeJS.Timeout | undefined;
  #dropped = 0;
  #closed = false;

  constructor(options: BatchedPublisherOptions) {
    this.#o = options;
  }

  /** Lines dropped because too many were waiting, since creation. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Queue one line (no newline in it) for the next batch. */
  add(line: string): void {
    if (this.#closed) return;
    if (this.#lines.length >= (this.#o.maxLines ?? BATCHED_PUBLISHER_DEFAULTS.maxLines)) {
      this.#dropped++;
      return;
    }
    this.#lines.push(line);
    if (this.#timer === undefined) {
      this.#timer = setTimeout(() => this.flush(), this.#o.intervalMs ?? BATCHED_PUBLISHER_DEFAULTS.intervalMs);
      this.#timer.unref();
    }
  }

  /** Publish what is waiting now. */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#lines.length === 0) return;
    const message = this.#lines.join('\n');
    this.#lines = [];
    this.#o.store.publish(this.#o.channel, message).catch((err: unknown) => this.#o.logger.warn({ err, channel: this.#o.channel }, 'batch not published'));
  }

  /** Publishes what is waiting, then takes no more. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.flush();
    this.#closed = true;
  }
}
