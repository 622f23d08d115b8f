import type { Logger } from '../log/logger.js';
import type { RedisClient } from './redis-connector.js';

/**
 *   connecting ──ready──► ready ──command timeout──► unresponsive
 *        │                ▲  │ ◄─────── reply ──────────┘   │
 *        │           ready│  │error / lost                  │error / lost
 *        └──error──► down ┴◄─┘◄─────────────────────────────┘
 */
type ConnectionState = 'connecting' | 'ready' | 'unresponsive' | 'down';

export interface RedisConnectionWatchOptions {
  logger: Logger;
  /** Password-free description of the target. */
  location: string;
  /** Which of the store's connections this is: commands or subscriber. */
  role: string;
  /** For the message when commands time out on a connection that looks up. */
  commandTimeoutMs: number;
}

/**
 * Follows one Redis connection and logs each change of its state once:
 * connected, lost (with the reason), back, not answering. A Redis that is
 * down for an hour while calls keep coming costs a few lines, not one per
 * retry or per command. Only error messages are logged, never ioredis error
 * objects: those can carry the arguments of the command that failed (AUTH).
 */
export class RedisConnectionWatch {
  readonly #log: Logger;
  readonly #fields: { redis: string; role: string };
  readonly #commandTimeoutMs: number;
  #state: ConnectionState = 'connecting';
  #lastReason: string | undefined;
  #downSince = 0;
  #everReady = false;
  #closed = false;

  constructor(client: RedisClient, o: RedisConnectionWatchOptions) {
    this.#log = o.logger;
    this.#fields = { redis: o.location, role: o.role };
    this.#commandTimeoutMs = o.commandTimeoutMs;
    client.on('ready', () => this.#ready());
    client.on('error', (err: Error) => this.#failed(err.message));
    client.on('reconnecting', (delayMs: unknown) => this.#reconnecting(delayMs));
  }

  /** A command timed out: the connection is up but Redis does not answer (stopped, overloaded). */
  noteTimeout(): void {
    if (this.#closed || this.#state !== 'ready') return;
    this.#state = 'unresponsive';
    this.#downSince = Date.now();
    this.#log.warn({ ...this.#fields, commandTimeoutMs: this.#commandTimeoutMs }, 'state store not answering: commands time out');
  }

  /** Redis answered a command (a reply or a reply error). */
  noteAnswer(): void {
    if (this.#state !== 'unresponsive' || this.#closed) return;
    this.#state = 'ready';
    this.#log.info({ ...this.#fields, downMs: Date.now() - this.#downSince }, 'state store answering again');
  }

  /** Our own close follows: its disconnect is no outage. */
  close(): void {
    this.#closed = true;
  }

  #ready(): void {
    if (this.#closed || this.#state === 'ready') return;
    if (this.#everReady) this.#log.info({ ...this.#fields, downMs: Date.now() - this.#downSince }, 'state store reconnected');
    else this.#log.info(this.#fields, 'state store connected');
    this.#everReady = true;
    this.#state = 'ready';
    this.#lastReason = undefined;
  }

  #failed(reason: string): void {
    if (this.#closed || (this.#state === 'down' && reason === this.#lastReason)) return;
    if (this.#state !== 'down') this.#downSince = Date.now();
    this.#state = 'down';
    this.#lastReason = reason;
    this.#log.error({ ...this.#fields, reason }, 'state store connection failed; retrying');
  }

  #reconnecting(delayMs: unknown): void {
    if (this.#closed || this.#state === 'down' || this.#state === 'connecting') return;
    this.#state = 'down';
    this.#downSince = Date.now();
    this.#log.warn({ ...this.#fields, retryInMs: delayMs }, 'state store connection lost; reconnecting');
  }
}
