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
  /** 0 = at the end of the event-loop turn that added the first line. @default 50 */
  intervalMs?: number;
  maxLines?: number;
}

export class BatchedPublisher {
  readonly #o: BatchedPublisherOptions;
  #lines: string[] = [];
  #timer: NodeJS.Timeout | undefined;
  /** intervalMs 0: the flush at the end of this turn. */
  #immediate: NodeJS.Immediate | undefined;
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
    if (this.#timer !== undefined || this.#immediate !== undefined) return;
    const interval = this.#o.intervalMs ?? BATCHED_PUBLISHER_DEFAULTS.intervalMs;
    if (interval <= 0) {
      // At the end of this turn of the event loop, not a timer tick (1 ms) later: what one turn
      // produced leaves before the I/O of the next turn (a caller's next request) is read.
      this.#immediate = setImmediate(() => this.flush());
      this.#immediate.unref();
    } else {
      this.#timer = setTimeout(() => this.flush(), interval);
      this.#timer.unref();
    }
  }

  /** Publish what is waiting now. */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#immediate !== undefined) clearImmediate(this.#immediate);
    this.#immediate = undefined;
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
