import { silentLogger, type Logger } from '../log/logger.js';
import { StateStoreClosedError, StateStoreUnavailableError, StateWrongTypeError } from './errors.js';
import { RedisConnectionWatch } from './redis-connection-watch.js';
import { closeClient, RedisConnector, untilReady, type RedisClient, type RedisClientTuning, type RedisConnectionConfig } from './redis-connector.js';
import { COUNTER_OVERFLOW, withStoreScripts, type StoreScripts } from './redis-scripts.js';
import type { StateStore } from './store.js';

/** Safe defaults for every Redis store limit, in one place. */
export const REDIS_STORE_DEFAULTS = {
  commandTimeoutMs: 1000,
  connectTimeoutMs: 2000,
  startupTimeoutMs: 5000,
  reconnectMaxDelayMs: 2000,
  closeTimeoutMs: 1000,
} as const;

export interface RedisStoreOptions {
  /**
   * Longest wait for one reply. A Redis that holds the connection but does
   * not answer (stopped, swapping) then fails the operation, and the SIP
   * request that needed it gets its error answer, instead of waiting.
   * @default 1000
   */
  commandTimeoutMs?: number;
  /** Longest TCP connect of one attempt. @default 2000 */
  connectTimeoutMs?: number;
  /** How long `connect()` waits for a first ready connection before giving up. @default 5000 */
  startupTimeoutMs?: number;
  /** Longest pause between reconnect attempts (they start at 100 ms and grow). @default 2000 */
  reconnectMaxDelayMs?: number;
  /** How long `close()` waits for QUIT before dropping the connections. @default 1000 */
  closeTimeoutMs?: number;
  /** Connection state changes and contained subscriber failures. @default silent */
  logger?: Logger;
}

/** What the operation expected to find at its key, for StateWrongTypeError. */
type Expected = 'a string' | 'a hash' | 'an integer counter';

interface Listener {
  onMessage: (message: string) => void;
}

interface Channel {
  listeners: Set<Listener>;
  /** Settles when Redis has confirmed the SUBSCRIBE. */
  subscribed: Promise<void>;
}

interface Subscriber {
  client: RedisClient;
  watch: RedisConnectionWatch;
  /** Settles when the connection is first ready, or has failed to get there. */
  ready: Promise<void>;
}

/**
 * The state store shared by several SBC nodes: Redis (standalone, Sentinel
 * or Cluster, see {@link RedisConnector}), with the semantics of
 * {@link MemoryStore}.
 *
 * Keys are used as given: callers already start them with
 * `state.redis.keyPrefix` (see keys.ts), so no ioredis `keyPrefix` is set.
 * TTLs go to Redis in milliseconds, so expiry is Redis's own.
 *
 * No operation waits on an absent Redis: nothing is queued while
 * disconnected, in-flight commands fail when the connection drops, and
 * replies are awaited `commandTimeoutMs` at most; each such failure is a
 * StateStoreUnavailableError naming where Redis was expected. The
 * connections reconnect in the background, and operations work again as
 * soon as Redis is back.
 *
 * Published messages are delivered through a second connection opened on
 * the first `subscribe()` (a subscribed Redis connection can do nothing
 * else), in publish order per channel, also on a Cluster (see
 * redis-scripts.ts). Like any Redis pub/sub, a message published while that
 * connection is down is lost.
 */
export class RedisStore implements StateStore {
  readonly #connector: RedisConnector;
  readonly #client: RedisClient & StoreScripts;
  readonly #watch: RedisConnectionWatch;
  readonly #tuning: RedisClientTuning;
  readonly #closeTimeoutMs: number;
  readonly #log: Logger;
  readonly #channels = new Map<string, Channel>();
  #subscriber: Subscriber | undefined;
  #closing: Promise<void> | undefined;

  /**
   * Connect and wait until Redis answers, for at most `startupTimeoutMs`.
   * @throws StateStoreUnavailableError naming the target (never its password) and the last connection error
   */
  static async connect(config: RedisConnectionConfig, options: RedisStoreOptions = {}): Promise<RedisStore> {
    const startupTimeoutMs = positiveMs('startupTimeoutMs', options.startupTimeoutMs ?? REDIS_STORE_DEFAULTS.startupTimeoutMs);
    const store = new RedisStore(new RedisConnector(config), options);
    try {
      await untilReady(store.#client, startupTimeoutMs);
    } catch (err) {
      await store.close();
      throw new StateStoreUnavailableError(
        `state.store=redis: cannot reach Redis at ${store.location} (${(err as Error).message}); start Redis there, correct state.redis, or set state.store=memory for a single node`,
      );
    }
    return store;
  }

  private constructor(connector: RedisConnector, options: RedisStoreOptions) {
    this.#connector = connector;
    this.#log = options.logger ?? silentLogger();
    this.#tuning = {
      commandTimeoutMs: positiveMs('commandTimeoutMs', options.commandTimeoutMs ?? REDIS_STORE_DEFAULTS.commandTimeoutMs),
      connectTimeoutMs: positiveMs('connectTimeoutMs', options.connectTimeoutMs ?? REDIS_STORE_DEFAULTS.connectTimeoutMs),
      reconnectMaxDelayMs: positiveMs('reconnectMaxDelayMs', options.reconnectMaxDelayMs ?? REDIS_STORE_DEFAULTS.reconnectMaxDelayMs),
      connectionName: 'webrtc-sbc',
    };
    this.#closeTimeoutMs = positiveMs('closeTimeoutMs', options.closeTimeoutMs ?? REDIS_STORE_DEFAULTS.closeTimeoutMs);
    const client = connector.createClient(this.#tuning);
    this.#watch = this.#watchClient(client, 'commands');
    this.#client = withStoreScripts(client);
  }

  /** Where the store connects, without the password. */
  get location(): string {
    return this.#connector.location;
  }

  async get(key: string): Promise<string | undefined> {
    const value = await this.#run('get', key, 'a string', () => this.#client.get(key));
    return value ?? undefined;
  }

  async set(key: string, value: string, ttlSeconds: number): Promise<void> {
    this.#assertOpen('set');
    const ttlMs = ttlMilliseconds(ttlSeconds);
    await this.#run('set', key, 'a string', () => this.#client.set(key, value, 'PX', ttlMs));
  }

  async setIfAbsent(key: string, value: string, ttlSeconds: number): Promise<boolean> {
    this.#assertOpen('setIfAbsent');
    const ttlMs = ttlMilliseconds(ttlSeconds);
    return (await this.#run('setIfAbsent', key, 'a string', () => this.#client.set(key, value, 'PX', ttlMs, 'NX'))) === 'OK';
  }

  async delete(key: string): Promise<boolean> {
    return (await this.#run('delete', key, 'a string', () => this.#client.del(key))) > 0;
  }

  async expire(key: string, ttlSeconds: number): Promise<boolean> {
    this.#assertOpen('expire');
    const ttlMs = ttlMilliseconds(ttlSeconds);
    return (await this.#run('expire', key, 'a string', () => this.#client.pexpire(key, ttlMs))) === 1;
  }

  async hget(key: string, field: string): Promise<string | undefined> {
    const value = await this.#run('hget', key, 'a hash', () => this.#client.hget(key, field));
    return value ?? undefined;
  }

  async hgetall(key: string): Promise<Record<string, string>> {
    return this.#run('hgetall', key, 'a hash', () => this.#client.hgetall(key));
  }

  async hset(key: string, fields: Record<string, string>, ttlSeconds: number): Promise<void> {
    this.#assertOpen('hset');
    const ttlMs = ttlMilliseconds(ttlSeconds);
    const pairs: string[] = [];
    for (const field of Object.keys(fields)) pairs.push(field, fields[field]!);
    await this.#run('hset', key, 'a hash', () => this.#client.hsetWithTtl(key, ttlMs, ...pairs));
  }

  async hdel(key: string, ...fields: string[]): Promise<number> {
    // HDEL needs a field; HLEN gives the same answer (0) and the same type check.
    if (fields.length === 0) return this.#run('hdel', key, 'a hash', async () => (await this.#client.hlen(key), 0));
    return this.#run('hdel', key, 'a hash', () => this.#client.hdel(key, ...fields));
  }

  async incr(key: string, by: number, ttlSeconds: number): Promise<number> {
    this.#assertOpen('incr');
    if (!Number.isSafeInteger(by)) throw new TypeError(`incr: by must be a safe integer (got ${by}) for key "${key}"`);
    const ttlMs = ttlMilliseconds(ttlSeconds);
    return this.#run('incr', key, 'an integer counter', () => this.#client.incrWithTtl(key, by, ttlMs));
  }

  async publish(channel: string, message: string): Promise<void> {
    await this.#run('publish', channel, 'a string', () => this.#client.publishInOrder(channel, message));
  }

  async subscribe(channel: string, onMessage: (message: string) => void): Promise<() => Promise<void>> {
    this.#assertOpen('subscribe');
    const listener: Listener = { onMessage };
    let entry = this.#channels.get(channel);
    if (entry === undefined) {
      entry = { listeners: new Set(), subscribed: this.#subscribeChannel(channel) };
      this.#channels.set(channel, entry);
    }
    entry.listeners.add(listener);
    try {
      await entry.subscribed;
    } catch (err) {
      entry.listeners.delete(listener);
      // The next subscribe to this channel tries again.
      if (this.#channels.get(channel) === entry) this.#channels.delete(channel);
      throw this.#translate('subscribe', channel, 'a string', err);
    }
    const subscribed = entry;
    return () => this.#unsubscribe(channel, subscribed, listener);
  }

  /** Idempotent. Operations still in flight finish or reject with StateStoreClosedError; later ones reject with it. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#channels.clear();
    this.#watch.close();
    const subscriber = this.#subscriber;
    this.#subscriber = undefined;
    subscriber?.watch.close();
    await Promise.all([closeClient(this.#client, this.#closeTimeoutMs), subscriber && closeClient(subscriber.client, this.#closeTimeoutMs)]);
  }

  // ── commands ──────────────────────────────────────────────────────────

  async #run<T>(operation: string, key: string, expected: Expected, command: () => Promise<T>): Promise<T> {
    this.#assertOpen(operation);
    try {
      const result = await command();
      this.#watch.noteAnswer();
      return result;
    } catch (err) {
      throw this.#translate(operation, key, expected, err);
    }
  }

  #assertOpen(operation: string): void {
    if (this.#closing !== undefined) throw new StateStoreClosedError(operation);
  }

  /** An ioredis failure as the store's own error; the caller never sees an ioredis error object. */
  #translate(operation: string, key: string, expected: Expected, err: unknown): Error {
    if (this.#closing !== undefined) return new StateStoreClosedError(operation);
    const message = err instanceof Error ? err.message : String(err);
    if (isReplyError(err)) {
      this.#watch.noteAnswer();
      if (message.startsWith('WRONGTYPE')) return new StateWrongTypeError(key, expected);
      if (message.includes('not an integer')) return new StateWrongTypeError(key, 'an integer counter');
      if (message.includes(COUNTER_OVERFLOW) || message.includes('would overflow')) return new RangeError(`incr: counter "${key}" would overflow`);
    } else if (message === TIMED_OUT) {
      this.#watch.noteTimeout();
    }
    return new StateStoreUnavailableError(`state store unavailable: ${operation} on Redis at ${this.#connector.location} failed: ${this.#reason(err, message)}`);
  }

  /** ioredis's wording of a failure, in terms of the store's own settings. */
  #reason(err: unknown, message: string): string {
    if (message === TIMED_OUT) return `no reply within ${this.#tuning.commandTimeoutMs} ms`;
    if (err instanceof Error && err.name === 'MaxRetriesPerRequestError') return 'the connection dropped before the reply';
    if (message.includes('enableOfflineQueue')) return 'not connected (reconnecting)';
    return message;
  }

  // ── publish/subscribe ─────────────────────────────────────────────────

  async #subscribeChannel(channel: string): Promise<void> {
    const subscriber = this.#subscriberConnection();
    await subscriber.ready;
    await subscriber.client.subscribe(channel);
  }

  /** The subscriber connection, opened on first use; a failed opening is retried by the next subscribe. */
  #subscriberConnection(): Subscriber {
    if (this.#subscriber !== undefined) return this.#subscriber;
    const client = this.#connector.createClient({ ...this.#tuning, connectionName: 'webrtc-sbc:subscriber' });
    const watch = this.#watchClient(client, 'subscriber');
    client.on('message', (channel: string, message: string) => this.#deliver(channel, message));
    const subscriber: Subscriber = {
      client,
      watch,
      ready: untilReady(client, this.#tuning.connectTimeoutMs + this.#tuning.commandTimeoutMs).catch(async (err: unknown) => {
        if (this.#subscriber === subscriber) this.#subscriber = undefined;
        watch.close();
        await closeClient(client, 0);
        throw err;
      }),
    };
    this.#subscriber = subscriber;
    return subscriber;
  }

  async #unsubscribe(channel: string, entry: Channel, listener: Listener): Promise<void> {
    if (!entry.listeners.delete(listener) || entry.listeners.size > 0 || this.#channels.get(channel) !== entry) return;
    this.#channels.delete(channel);
    const subscriber = this.#subscriber;
    if (subscriber === undefined || this.#closing !== undefined) return;
    try {
      await subscriber.client.unsubscribe(channel);
    } catch (err) {
      // Nobody listens any more either way; a stray message finds no listener.
      this.#log.debug({ channel, reason: (err as Error).message }, 'state store unsubscribe not confirmed');
    }
  }

  #deliver(channel: string, message: string): void {
    const entry = this.#channels.get(channel);
    if (entry === undefined) return;
    for (const listener of Array.from(entry.listeners)) {
      try {
        const result: unknown = listener.onMessage(message);
        // An async subscriber's rejection must not become an unhandled rejection.
        if (result instanceof Promise) result.catch((err: unknown) => this.#subscriberFailed(channel, err));
      } catch (err) {
        this.#subscriberFailed(channel, err);
      }
    }
  }

  #subscriberFailed(channel: string, err: unknown): void {
    this.#log.error({ err, channel }, 'state subscriber failed');
  }

  #watchClient(client: RedisClient, role: string): RedisConnectionWatch {
    return new RedisConnectionWatch(client, { logger: this.#log, location: this.#connector.location, role, commandTimeoutMs: this.#tuning.commandTimeoutMs });
  }
}

/** ioredis's message for a reply that did not come within `commandTimeout`. */
const TIMED_OUT = 'Command timed out';

/** Redis answered with an error (as opposed to not answering at all). */
function isReplyError(err: unknown): boolean {
  return err instanceof Error && err.name === 'ReplyError';
}

function ttlMilliseconds(ttlSeconds: number): number {
  if (typeof ttlSeconds !== 'number' || !Number.isFinite(ttlSeconds) || ttlSeconds <= 0) {
    throw new TypeError(`ttlSeconds must be a finite number > 0 (got ${String(ttlSeconds)}): the store never keeps a key forever`);
  }
  // Never 0: PX 0 is an error in Redis, and a positive TTL must give the key some life.
  return Math.max(1, Math.ceil(ttlSeconds * 1000));
}

function positiveMs(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) throw new TypeError(`${name} must be a number of milliseconds > 0 (got ${String(value)})`);
  return value;
}
