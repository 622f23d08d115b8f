import { performance } from 'node:perf_hooks';
import { silentLogger, type Logger } from '../log/logger.js';
import { StateStoreClosedError, StateWrongTypeError } from './errors.js';
import { ExpiryIndex } from './expiry-index.js';
import type { StateStore } from './store.js';
import { hashFields } from './hash-fields.js';

/** Safe defaults for every memory-store limit, in one place. */
export const MEMORY_STORE_DEFAULTS = {
  maxKeys: 1_000_000,
  sweepIntervalMs: 1000,
  sweepBatch: 10_000,
  expiryResolutionMs: 1000,
} as const;

export interface MemoryStoreOptions {
  /**
   * Most keys held at once. When full, a new key evicts the key closest to
   * expiry (see {@link MemoryStore}).
   * @default 1_000_000
   */
  maxKeys?: number;
  /** Clock in milliseconds; inject one in tests. @default performance.now */
  now?: () => number;
  /** How often the background sweep runs. @default 1000 */
  sweepIntervalMs?: number;
  /** Most expired keys one sweep removes, so a tick never stalls the event loop. @default 10_000 */
  sweepBatch?: number;
  /** Receives contained subscriber failures and eviction warnings. @default silent */
  logger?: Logger;
}

type Entry =
  | { kind: 'string'; value: string; expiresAt: number }
  | { kind: 'hash'; fields: Map<string, string>; expiresAt: number };

interface Subscription {
  onMessage: (message: string) => void;
}

/**
 * The state store for a single node.
 *
 * Expiry costs no timer per key: a read checks the key's deadline, and one
 * coarse, unref()'d sweep removes at most `sweepBatch` expired keys per tick
 * from an expiry-bucket index.
 *
 * When `maxKeys` is reached, writing a new key evicts the key closest to
 * expiry (like Redis `volatile-ttl`) rather than rejecting the write. Every
 * caller must already cope with a key vanishing because its TTL ran out, so
 * eviction adds no new failure mode, whereas rejection would add an error
 * path at every write site; and a flood of short-lived keys (rate counters)
 * evicts its own kind first instead of blocking long-lived flow bindings.
 *
 * Published messages are delivered synchronously, before `publish()`
 * resolves; callers must not rely on that, as a Redis store cannot promise it.
 */
export class MemoryStore implements StateStore {
  readonly #entries = new Map<string, Entry>();
  readonly #channels = new Map<string, Set<Subscription>>();
  readonly #index: ExpiryIndex;
  readonly #maxKeys: number;
  readonly #sweepBatch: number;
  readonly #now: () => number;
  readonly #logger: Logger;
  #sweepTimer: NodeJS.Timeout | undefined;
  #evictedSinceLastSweep = 0;
  #evictedTotal = 0;
  #closed = false;

  constructor(options: MemoryStoreOptions = {}) {
    this.#maxKeys = positiveInteger('maxKeys', options.maxKeys ?? MEMORY_STORE_DEFAULTS.maxKeys);
    this.#sweepBatch = positiveInteger('sweepBatch', options.sweepBatch ?? MEMORY_STORE_DEFAULTS.sweepBatch);
    const sweepIntervalMs = positiveInteger('sweepIntervalMs', options.sweepIntervalMs ?? MEMORY_STORE_DEFAULTS.sweepIntervalMs);
    this.#now = options.now ?? (() => performance.now());
    this.#logger = options.logger ?? silentLogger();
    this.#index = new ExpiryIndex(MEMORY_STORE_DEFAULTS.expiryResolutionMs);
    this.#sweepTimer = setInterval(() => this.#sweepTick(), sweepIntervalMs);
    // The sweep only tidies memory; it must not keep the process alive.
    this.#sweepTimer.unref();
  }

  /** Keys held, including expired ones the sweep has not reached yet. */
  get size(): number {
    return this.#entries.size;
  }

  /** Keys evicted because the store was full, since creation. */
  get evictedCount(): number {
    return this.#evictedTotal;
  }

  async get(key: string): Promise<string | undefined> {
    this.#assertOpen('get');
    const entry = this.#live(key);
    if (!entry) return undefined;
    if (entry.kind !== 'string') throw new StateWrongTypeError(key, 'a string');
    return entry.value;
  }

  async set(key: string, value: string, ttlSeconds: number): Promise<void> {
    this.#assertOpen('set');
    const expiresAt = this.#deadline(ttlSeconds);
    this.#put(key, { kind: 'string', value: own(value), expiresAt });
  }

  async setIfAbsent(key: string, value: string, ttlSeconds: number): Promise<boolean> {
    this.#assertOpen('setIfAbsent');
    const expiresAt = this.#deadline(ttlSeconds);
    if (this.#live(key)) return false;
    this.#put(key, { kind: 'string', value: own(value), expiresAt });
    return true;
  }

  async delete(key: string): Promise<boolean> {
    this.#assertOpen('delete');
    const entry = this.#live(key);
    if (!entry) return false;
    this.#remove(key, entry);
    return true;
  }

  async expire(key: string, ttlSeconds: number): Promise<boolean> {
    this.#assertOpen('expire');
    const expiresAt = this.#deadline(ttlSeconds);
    const entry = this.#live(key);
    if (!entry) return false;
    this.#retime(key, entry, expiresAt);
    return true;
  }

  async hget(key: string, field: string): Promise<string | undefined> {
    this.#assertOpen('hget');
    return this.#liveHash(key)?.fields.get(field);
  }

  async hgetall(key: string): Promise<Record<string, string>> {
    this.#assertOpen('hgetall');
    const record = hashFields();
    const entry = this.#liveHash(key);
    if (entry) for (const [field, value] of entry.fields) record[field] = value;
    return record;
  }

  async hset(key: string, fields: Record<string, string>, ttlSeconds: number): Promise<void> {
    this.#assertOpen('hset');
    const expiresAt = this.#deadline(ttlSeconds);
    const entry = this.#liveHash(key);
    if (entry) {
      for (const field of Object.keys(fields)) entry.fields.set(own(field), own(fields[field]!));
      this.#retime(key, entry, expiresAt);
      return;
    }
    const names = Object.keys(fields);
    // Like Redis, a hash never exists empty.
    if (names.length === 0) return;
    const map = new Map<string, string>();
    for (const field of names) map.set(own(field), own(fields[field]!));
    this.#put(key, { kind: 'hash', fields: map, expiresAt });
  }

  async hdel(key: string, ...fields: string[]): Promise<number> {
    this.#assertOpen('hdel');
    const entry = this.#liveHash(key);
    if (!entry) return 0;
    let removed = 0;
    for (const field of fields) if (entry.fields.delete(field)) removed++;
    if (entry.fields.size === 0) this.#remove(key, entry);
    return removed;
  }

  async incr(key: string, by: number, ttlSeconds: number): Promise<number> {
    this.#assertOpen('incr');
    if (!Number.isSafeInteger(by)) throw new TypeError(`incr: by must be a safe integer (got ${by}) for key "${key}"`);
    const expiresAt = this.#deadline(ttlSeconds);
    const entry = this.#live(key);
    if (!entry) {
      this.#put(key, { kind: 'string', value: String(by), expiresAt });
      return by;
    }
    const current = entry.kind === 'string' ? integerValue(entry.value) : undefined;
    if (entry.kind !== 'string' || current === undefined) throw new StateWrongTypeError(key, 'an integer counter');
    const next = current + by;
    if (!Number.isSafeInteger(next)) throw new RangeError(`incr: counter "${key}" would overflow`);
    // The TTL set at creation is kept: a rate window must end on time however busy it is.
    entry.value = String(next);
    return next;
  }

  async publish(channel: string, message: string): Promise<void> {
    this.#assertOpen('publish');
    const subscriptions = this.#channels.get(channel);
    if (!subscriptions) return;
    for (const subscription of Array.from(subscriptions)) this.#deliver(channel, subscription, message);
  }

  async subscribe(channel: string, onMessage: (message: string) => void): Promise<() => Promise<void>> {
    this.#assertOpen('subscribe');
    const subscription: Subscription = { onMessage };
    let subscriptions = this.#channels.get(channel);
    if (!subscriptions) {
      subscriptions = new Set();
      this.#channels.set(channel, subscriptions);
    }
    subscriptions.add(subscription);
    return async () => {
      const current = this.#channels.get(channel);
      if (!current || !current.delete(subscription)) return;
      if (current.size === 0) this.#channels.delete(channel);
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#sweepTimer);
    this.#sweepTimer = undefined;
    this.#entries.clear();
    this.#index.clear();
    this.#channels.clear();
  }

  /**
   * Remove up to `sweepBatch` expired keys now; returns how many were removed.
   * The background sweep calls this every `sweepIntervalMs`.
   */
  sweepExpired(): number {
    if (this.#closed) return 0;
    const now = this.#now();
    const keys = this.#index.takeExpired(now, this.#sweepBatch);
    for (const key of keys) this.#entries.delete(key);
    return keys.length;
  }

  #sweepTick(): void {
    this.sweepExpired();
    if (this.#evictedSinceLastSweep > 0) {
      // One line per tick at most, however many keys a flood evicted.
      this.#logger.warn({ evicted: this.#evictedSinceLastSweep, maxKeys: this.#maxKeys }, 'state store full: evicted keys closest to expiry');
      this.#evictedSinceLastSweep = 0;
    }
  }

  #assertOpen(operation: string): void {
    if (this.#closed) throw new StateStoreClosedError(operation);
  }

  #deadline(ttlSeconds: number): number {
    if (typeof ttlSeconds !== 'number' || !Number.isFinite(ttlSeconds) || ttlSeconds <= 0) {
      throw new TypeError(`ttlSeconds must be a finite number > 0 (got ${String(ttlSeconds)}): the store never keeps a key forever`);
    }
    return this.#now() + ttlSeconds * 1000;
  }

  /** The entry if present and unexpired; an expired one is removed on the way. */
  #live(key: string): Entry | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= this.#now()) {
      this.#remove(key, entry);
      return undefined;
    }
    return entry;
  }

  #liveHash(key: string): Extract<Entry, { kind: 'hash' }> | undefined {
    const entry = this.#live(key);
    if (!entry) return undefined;
    if (entry.kind !== 'hash') throw new StateWrongTypeError(key, 'a hash');
    return entry;
  }

  #put(key: string, entry: Entry): void {
    const previous = this.#entries.get(key);
    if (previous) {
      this.#index.remove(key, previous.expiresAt);
    } else if (this.#entries.size >= this.#maxKeys) {
      this.#evictOne();
    }
    const owned = own(key);
    this.#entries.set(owned, entry);
    this.#index.add(owned, entry.expiresAt);
  }

  #retime(key: string, entry: Entry, expiresAt: number): void {
    this.#index.move(key, entry.expiresAt, expiresAt);
    entry.expiresAt = expiresAt;
  }

  #remove(key: string, entry: Entry): void {
    this.#entries.delete(key);
    this.#index.remove(key, entry.expiresAt);
  }

  #evictOne(): void {
    const victim = this.#index.earliestKey();
    if (victim === undefined) return;
    const entry = this.#entries.get(victim);
    if (entry) this.#remove(victim, entry);
    // An already expired victim is tidying, not a loss worth reporting.
    if (entry && entry.expiresAt > this.#now()) {
      this.#evictedSinceLastSweep++;
      this.#evictedTotal++;
    }
  }

  #deliver(channel: string, subscription: Subscription, message: string): void {
    try {
      const result: unknown = subscription.onMessage(message);
      // An async subscriber's rejection must not become an unhandled rejection.
      if (result instanceof Promise) result.catch((err: unknown) => this.#subscriberFailed(channel, err));
    } catch (err) {
      this.#subscriberFailed(channel, err);
    }
  }

  #subscriberFailed(channel: string, err: unknown): void {
    this.#logger.error({ err, channel }, 'state subscriber failed');
  }
}

/**
 * A string of the store's own. Values often are substrings of a SIP message
 * (a Contact, a tag) or concatenations of them, and V8 keeps the whole
 * message text alive behind those: a record that lives as long as its
 * dialog would hold the message that created it. Strings under 13
 * characters are always flat copies already.
 */
function own(s: string): string {
  return s.length < 13 ? s : Buffer.from(s, 'utf8').toString('utf8');
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value <= 0) throw new TypeError(`${name} must be a positive integer (got ${String(value)})`);
  return value;
}

/** The counter value of a string, or undefined when it is not a plain integer. */
function integerValue(value: string): number | undefined {
  const n = Number(value);
  return Number.isSafeInteger(n) && String(n) === value ? n : undefined;
}
