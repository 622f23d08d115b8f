/**
 * Records one gateway worker owns, kept in its own memory and mirrored to
 * the shared store (`workers: N`, `state.store: memory`): a dialog's
 * topology record is written and read only by the worker holding the dialog
 * (steering brings every message of the dialog to it), so reading it back
 * from the supervisor on each in-dialog request, and writing each change
 * there before the message may go on, costs channel messages that only
 * matter once that worker is gone. Writes land here at once and reach the
 * shared store within `flushMs`, several changes to one record as one
 * write; a record that comes and goes within one period never travels.
 * A read of a record this worker does not hold (a predecessor's, after a
 * restart) goes to the shared store.
 *
 * What a worker that dies loses is the last `flushMs` of changes: calls set
 * up in that window cannot be continued from outside through its successor.
 *
 *   hset/expire ──► local ──(every flushMs: whole record, TTL left)──► shared store
 *   delete      ──► local gone ──(if it was ever mirrored)──────────► shared delete
 *   hgetall     ──► local, else shared store
 */
import type { Logger } from '../log/logger.js';
import { StateStoreClosedError } from './errors.js';
import type { StateStore } from './store.js';
import { hashFields } from './hash-fields.js';

/** The part of a store a record keeper uses. */
export type RecordStore = Pick<StateStore, 'hset' | 'hgetall' | 'expire' | 'delete'>;

export interface MirroredRecordsOptions {
  /** How often changes go to the shared store, ms. @default 100 */
  flushMs?: number;
  /** Records kept here at most; the oldest beyond it is mirrored and then read from the shared store. @default 200000 */
  maxRecords?: number;
  logger: Logger;
}

interface Local {
  fields: Record<string, string>;
  /** Date.now() ms at which the record expires. */
  expiresAt: number;
  /** The shared store has (some version of) it: its deletion must go there too. */
  mirrored: boolean;
  /** Created again after a deletion not yet mirrored: the shared copy goes before this one is written. */
  replace: boolean;
}

export class MirroredRecords implements RecordStore {
  readonly #shared: RecordStore;
  readonly #local = new Map<string, Local>();
  /** Keys changed since the last flush (deleted ones included). */
  readonly #dirty = new Set<string>();
  #lastSweep = 0;
  readonly #maxRecords: number;
  readonly #log: Logger;
  readonly #timer: NodeJS.Timeout;
  #closed = false;

  constructor(shared: RecordStore, o: MirroredRecordsOptions) {
    this.#shared = shared;
    this.#maxRecords = o.maxRecords ?? 200_000;
    this.#log = o.logger;
    this.#timer = setInterval(() => this.flush(), o.flushMs ?? 100);
    this.#timer.unref();
  }

  /** Records held here (diagnostics, tests). */
  get size(): number {
    return this.#local.size;
  }

  async hset(key: string, fields: Record<string, string>, ttlSeconds: number): Promise<void> {
    if (this.#closed) return this.#shared.hset(key, fields, ttlSeconds);
    if (!(ttlSeconds > 0) || !Number.isFinite(ttlSeconds)) throw new TypeError(`ttlSeconds must be a finite number > 0 (got ${String(ttlSeconds)})`);
    const expiresAt = Date.now() + ttlSeconds * 1000;
    const local = this.#live(key);
    if (local !== undefined) {
      Object.assign(local.fields, fields);
      local.expiresAt = expiresAt;
    } else {
      const deleted = this.#dirty.has(key);
      this.#local.set(key, { fields: hashFields(fields), expiresAt, mirrored: deleted, replace: deleted });
      if (this.#local.size > this.#maxRecords) this.#evictOldest();
    }
    this.#dirty.add(key);
  }

  async hgetall(key: string): Promise<Record<string, string>> {
    const local = this.#live(key);
    if (local !== undefined) return hashFields(local.fields);
    return this.#shared.hgetall(key);
  }

  async expire(key: string, ttlSeconds: number): Promise<boolean> {
    const local = this.#live(key);
    if (local === undefined || this.#closed) return this.#shared.expire(key, ttlSeconds);
    if (!(ttlSeconds > 0) || !Number.isFinite(ttlSeconds)) throw new TypeError(`ttlSeconds must be a finite number > 0 (got ${String(ttlSeconds)})`);
    local.expiresAt = Date.now() + ttlSeconds * 1000;
    this.#dirty.add(key);
    return true;
  }

  async delete(key: string): Promise<boolean> {
    const local = this.#local.get(key);
    if (local === undefined) return this.#shared.delete(key);
    this.#local.delete(key);
    if (local.mirrored) this.#dirty.add(key);
    else this.#dirty.delete(key);
    return local.expiresAt > Date.now();
  }

  /** Sends every change since the last flush to the shared store (also on a timer); a failed write is logged, the record expires there by TTL. */
  flush(): void {
    const now = Date.now();
    for (const key of this.#dirty) {
      const local = this.#local.get(key);
      if (local === undefined) this.#settle(this.#shared.delete(key));
      else if (local.expiresAt > now) this.#write(key, local, now);
    }
    this.#dirty.clear();
    // Expired records leave (the shared store expires its copy itself); the map is in insertion order, not expiry order, so this is a full pass at most once a period.
    if (this.#local.size > 0 && now - this.#lastSweep >= 1000) {
      this.#lastSweep = now;
      for (const [key, local] of this.#local) if (local.expiresAt <= now) this.#local.delete(key);
    }
  }

  /** The last changes go to the shared store; later calls go straight there. */
  close(): void {
    if (this.#closed) return;
    this.flush();
    this.#closed = true;
    clearInterval(this.#timer);
    this.#local.clear();
  }

  #live(key: string): Local | undefined {
    const local = this.#local.get(key);
    if (local === undefined) return undefined;
    if (local.expiresAt > Date.now()) return local;
    this.#local.delete(key);
    return undefined;
  }

  /** The oldest record leaves this worker's memory, mirrored first when it has changes. */
  #evictOldest(): void {
    const oldest = this.#local.keys().next().value;
    if (oldest === undefined) return;
    if (this.#dirty.has(oldest)) {
      this.#write(oldest, this.#local.get(oldest)!, Date.now());
      this.#dirty.delete(oldest);
    }
    this.#local.delete(oldest);
  }

  /** The whole record with the TTL it has left, over whatever the shared store holds. */
  #write(key: string, local: Local, now: number): void {
    const fields = hashFields(local.fields);
    const ttl = Math.max(1, Math.ceil((local.expiresAt - now) / 1000));
    this.#settle(local.replace ? this.#shared.delete(key).then(() => this.#shared.hset(key, fields, ttl)) : this.#shared.hset(key, fields, ttl));
    local.mirrored = true;
    local.replace = false;
  }

  #settle(write: Promise<unknown>): void {
    write.catch((err: unknown) => {
      // Sent as the store closed: it went, its answer is not waited for.
      if (err instanceof StateStoreClosedError) return;
      this.#log.warn({ err }, 'topology record not mirrored to the shared store; it expires there by TTL');
    });
  }
}
