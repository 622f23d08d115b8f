/**
 * Call records POSTed in batches (a JSON array) to `callRecords.webhook.url`.
 * Never in the way of calls: records wait in a bounded queue (the oldest are
 * dropped and counted when it is full), one request is in flight at a time,
 * each with a timeout, and a failed batch is retried with a doubling back-off
 * before it is dropped. The global fetch (undici) keeps the connection alive
 * between batches.
 *
 *   queued ──► batch (≤ batchSize) ──POST──► 2xx: next batch
 *                                     └──► error / timeout / non-2xx: wait 0.5 s, 1 s, 2 s … (retries) ──► dropped
 */
import type { Logger } from '../log/logger.js';

export interface WebhookSettings {
  url: string;
  timeoutMs: number;
  batchSize: number;
  maxQueue: number;
  retries: number;
}

const FIRST_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 30_000;

export class RecordWebhook {
  #s: WebhookSettings;
  readonly #log: Logger;
  readonly #dropped: (reason: string, n: number) => void;
  /** Serialized records waiting; `#head` is the first one not yet taken. */
  #queue: string[] = [];
  #head = 0;
  #sending: Promise<void> | undefined;
  #backoff: NodeJS.Timeout | undefined;
  #wakeBackoff: (() => void) | undefined;
  #closed = false;

  constructor(settings: WebhookSettings, logger: Logger, dropped: (reason: string, n: number) => void) {
    this.#s = settings;
    this.#log = logger;
    this.#dropped = dropped;
  }

  /** Records waiting to be sent (the queue stays at or below maxQueue). */
  get queued(): number {
    return this.#queue.length - this.#head;
  }

  get url(): string {
    return this.#s.url;
  }

  /** A reload may change every setting; the queue is kept. */
  update(settings: WebhookSettings): void {
    this.#s = settings;
    this.#trim();
  }

  push(json: string): void {
    if (this.#closed) return;
    this.#queue.push(json);
    this.#trim();
    this.#kick();
  }

  /**
   * Stop: what is queued gets one last try (no retries) for at most one
   * timeoutMs after the request in flight ends; what is left is dropped.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#wakeBackoff?.();
    await this.#sending;
    const deadline = Date.now() + this.#s.timeoutMs;
    while (this.queued > 0 && Date.now() < deadline) {
      const batch = this.#take();
      if (!(await this.#post(batch))) {
        this.#dropped('webhook-failed', batch.length);
        break;
      }
    }
    if (this.queued > 0) this.#dropped('webhook-failed', this.queued);
    this.#queue = [];
    this.#head = 0;
  }

  /** One sender at a time; records that arrive as it finishes start the next. */
  #kick(): void {
    this.#sending ??= this.#drain().finally(() => {
      this.#sending = undefined;
      if (this.queued > 0 && !this.#closed) this.#kick();
    });
  }

  async #drain(): Promise<void> {
    while (this.queued > 0 && !this.#closed) {
      const batch = this.#take();
      let backoff = FIRST_BACKOFF_MS;
      let sent = false;
      for (let attempt = 0; attempt <= this.#s.retries && !this.#closed; attempt++) {
        if (attempt > 0) {
          await this.#sleep(backoff);
          backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
          if (this.#closed) break;
        }
        sent = await this.#post(batch);
        if (sent) break;
      }
      if (!sent) {
        if (this.#closed) {
          // close() makes the last attempt; the batch goes back to the front.
          this.#queue.splice(this.#head, 0, ...batch);
          return;
        }
        this.#dropped('webhook-failed', batch.length);
      }
    }
  }

  #take(): string[] {
    const n = Math.min(this.#s.batchSize, this.queued);
    const batch = this.#queue.slice(this.#head, this.#head + n);
    this.#head += n;
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    return batch;
  }

  /** Oldest records beyond maxQueue go. */
  #trim(): void {
    const over = this.queued - this.#s.maxQueue;
    if (over <= 0) return;
    this.#head += over;
    this.#dropped('webhook-queue-full', over);
  }

  async #post(batch: string[]): Promise<boolean> {
    try {
      const res = await fetch(this.#s.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: `[${batch.join(',')}]`,
        signal: AbortSignal.timeout(this.#s.timeoutMs),
      });
      // Read the body so the connection goes back to the pool (keep-alive).
      await res.arrayBuffer().catch(() => undefined);
      if (res.ok) return true;
      this.#log.warn({ status: res.status, records: batch.length }, 'call records webhook refused a batch');
      return false;
    } catch (err) {
      this.#log.warn({ err: (err as Error).message, records: batch.length }, 'call records webhook unreachable');
      return false;
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      this.#wakeBackoff = resolve;
      this.#backoff = setTimeout(resolve, ms);
      this.#backoff.unref();
    }).then(() => {
      if (this.#backoff !== undefined) clearTimeout(this.#backoff);
      this.#backoff = undefined;
      this.#wakeBackoff = undefined;
    });
  }
}
