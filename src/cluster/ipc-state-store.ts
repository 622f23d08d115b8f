/**
 * The state store of a gateway worker (`workers: N`, `state.store: memory`):
 * every call is a request to the store the supervisor serves
 * (serveSharedStore), answered by id. A request never hangs: it rejects
 * with StateStoreUnavailableError when no answer comes within `timeoutMs`,
 * when the channel to the supervisor is gone, or at once when `maxPending`
 * requests are already waiting. Publish/subscribe has the semantics of the
 * other stores: every subscriber of a channel, in this worker and the
 * others, the publisher's own included, gets each message.
 */
import { randomUUID } from 'node:crypto';
import { silentLogger, type Logger } from '../log/logger.js';
import { StateStoreClosedError, StateStoreUnavailableError } from '../state/errors.js';
import type { StateStore } from '../state/store.js';
import { isSbcMessage, parentEndpoint, sendSafely, type IpcEndpoint } from './ipc-endpoint.js';
import { fromWireError, MAX_BATCH, STORE_MESSAGE, STORE_PUBLICATION, type StoreOp, type WireRequest } from './store-protocol.js';

/** Safe defaults for every limit, in one place. */
export const IPC_STORE_DEFAULTS = {
  timeoutMs: 2000,
  maxPending: 20_000,
} as const;

export interface IpcStateStoreOptions {
  /** The channel to the supervisor. @default process (this worker's channel to the primary) */
  endpoint?: IpcEndpoint;
  /** A request without an answer after this long rejects. @default 2000 */
  timeoutMs?: number;
  /** Requests waiting at once; one more rejects at once. @default 20000 */
  maxPending?: number;
  /** Contained subscriber failures, a lost channel. @default silent */
  logger?: Logger;
}

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  op: StoreOp;
  deadline: number;
}

interface Channel {
  listeners: Set<(message: string) => void>;
  /** The supervisor has the subscription once this resolves. */
  ready: Promise<void>;
}

export class IpcStateStore implements StateStore {
  readonly #endpoint: IpcEndpoint;
  readonly #client = randomUUID();
  readonly #timeoutMs: number;
  readonly #maxPending: number;
  readonly #logger: Logger;
  /** In id order, so in deadline order: the sweep stops at the first live one. */
  readonly #pending = new Map<number, Pending>();
  readonly #channels = new Map<string, Channel>();
  /** Requests of this turn of the event loop, sent together by #flush. */
  #outbox: WireRequest[] = [];
  #flushing: NodeJS.Immediate | undefined;
  #nextId = 1;
  #sweep: NodeJS.Timeout | undefined;
  #closed = false;
  #lost = false;

  constructor(options: IpcStateStoreOptions = {}) {
    const endpoint = options.endpoint ?? parentEndpoint();
    if (endpoint === undefined) throw new StateStoreUnavailableError('no IPC channel to the supervisor: IpcStateStore runs in a gateway worker (WEBRTC_SBC_WORKER_ID)');
    this.#endpoint = endpoint;
    this.#timeoutMs = options.timeoutMs ?? IPC_STORE_DEFAULTS.timeoutMs;
    this.#maxPending = options.maxPending ?? IPC_STORE_DEFAULTS.maxPending;
    if (!(this.#timeoutMs > 0)) throw new TypeError('timeoutMs must be > 0');
    if (!(this.#maxPending >= 1)) throw new TypeError('maxPending must be >= 1');
    this.#logger = options.logger ?? silentLogger();
    endpoint.on('message', this.#onMessage);
    endpoint.on('disconnect', this.#onDisconnect);
  }

  /** Requests waiting for their answer (diagnostics, tests). */
  get pending(): number {
    return this.#pending.size;
  }

  get(key: string): Promise<string | undefined> {
    return this.#call('get', [key]) as Promise<string | undefined>;
  }

  set(key: string, value: string, ttlSeconds: number): Promise<void> {
    return this.#withTtl(ttlSeconds, 'set', [key, value, ttlSeconds]) as Promise<void>;
  }

  setIfAbsent(key: string, value: string, ttlSeconds: number): Promise<boolean> {
    return this.#withTtl(ttlSeconds, 'setIfAbsent', [key, value, ttlSeconds]) as Promise<boolean>;
  }

  delete(key: string): Promise<boolean> {
    return this.#call('delete', [key]) as Promise<boolean>;
  }

  expire(key: string, ttlSeconds: number): Promise<boolean> {
    return this.#withTtl(ttlSeconds, 'expire', [key, ttlSeconds]) as Promise<boolean>;
  }

  hget(key: string, field: string): Promise<string | undefined> {
    return this.#call('hget', [key, field]) as Promise<string | undefined>;
  }

  async hgetall(key: string): Promise<Record<string, string>> {
    return ((await this.#call('hgetall', [key])) ?? {}) as Record<string, string>;
  }

  hset(key: string, fields: Record<string, string>, ttlSeconds: number): Promise<void> {
    return this.#withTtl(ttlSeconds, 'hset', [key, fields, ttlSeconds]) as Promise<void>;
  }

  hdel(key: string, ...fields: string[]): Promise<number> {
    return this.#call('hdel', [key, ...fields]) as Promise<number>;
  }

  incr(key: string, by: number, ttlSeconds: number): Promise<number> {
    if (this.#closed) return Promise.reject(new StateStoreClosedError('incr'));
    // JSON would turn a non-finite step into null: refuse it here with the message the other stores give.
    if (!Number.isSafeInteger(by)) return Promise.reject(new TypeError(`incr: by must be a safe integer (got ${by}) for key "${key}"`));
    return this.#withTtl(ttlSeconds, 'incr', [key, by, ttlSeconds]) as Promise<number>;
  }

  async publish(channel: string, message: string): Promise<void> {
    await this.#call('publish', [channel, message]);
  }

  async subscribe(channel: string, onMessage: (message: string) => void): Promise<() => Promise<void>> {
    if (this.#closed) throw new StateStoreClosedError('subscribe');
    let entry = this.#channels.get(channel);
    if (entry === undefined) {
      const ready = this.#call('subscribe', [channel]).then(() => undefined);
      const created: Channel = { listeners: new Set(), ready };
      entry = created;
      this.#channels.set(channel, created);
      ready.catch(() => {
        // A failed subscription leaves no channel behind; the next subscribe tries again.
        if (this.#channels.get(channel) === created && created.listeners.size === 0) this.#channels.delete(channel);
      });
    }
    const listener = (message: string): void => onMessage(message);
    await entry.ready;
    entry.listeners.add(listener);
    const current = entry;
    return async () => {
      if (!current.listeners.delete(listener) || current.listeners.size > 0) return;
      if (this.#channels.get(channel) === current) this.#channels.delete(channel);
      if (!this.#closed && !this.#lost) await this.#call('unsubscribe', [channel]).catch(() => undefined);
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#endpoint.off('message', this.#onMessage);
    this.#endpoint.off('disconnect', this.#onDisconnect);
    clearInterval(this.#sweep);
    this.#sweep = undefined;
    // What was asked in this turn still goes (its answers are not waited for).
    if (!this.#lost) this.#outbox.push([0, 'close', []]);
    this.#flush();
    this.#channels.clear();
    this.#failAll((op) => new StateStoreClosedError(op));
  }

  #withTtl(ttlSeconds: number, op: StoreOp, args: unknown[]): Promise<unknown> {
    if (this.#closed) return Promise.reject(new StateStoreClosedError(op));
    if (typeof ttlSeconds !== 'number' || !Number.isFinite(ttlSeconds) || ttlSeconds <= 0) {
      return Promise.reject(new TypeError(`ttlSeconds must be a finite number > 0 (got ${String(ttlSeconds)}): the store never keeps a key forever`));
    }
    return this.#call(op, args);
  }

  #call(op: StoreOp, args: unknown[]): Promise<unknown> {
    if (this.#closed) return Promise.reject(new StateStoreClosedError(op));
    if (this.#lost) return Promise.reject(new StateStoreUnavailableError(`state store unavailable: the channel to the supervisor is closed (${op})`));
    if (this.#pending.size >= this.#maxPending) {
      return Promise.reject(new StateStoreUnavailableError(`state store unavailable: ${this.#maxPending} requests already waiting for the supervisor (${op})`));
    }
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, op, deadline: Date.now() + this.#timeoutMs });
      this.#armSweep();
      this.#outbox.push([id, op, args]);
      if (this.#outbox.length >= MAX_BATCH) this.#flush();
      else this.#flushing ??= setImmediate(this.#flush);
    });
  }

  /** Sends this turn's requests as one message; a send that fails rejects each of them. */
  readonly #flush = (): void => {
    if (this.#flushing !== undefined) clearImmediate(this.#flushing);
    this.#flushing = undefined;
    const batch = this.#outbox;
    if (batch.length === 0) return;
    this.#outbox = [];
    sendSafely(this.#endpoint, { sbc: STORE_MESSAGE, client: this.#client, batch }, (error) => {
      for (const [id, op] of batch) {
        const p = this.#pending.get(id);
        if (p === undefined) continue;
        this.#pending.delete(id);
        p.reject(new StateStoreUnavailableError(`state store unavailable: the channel to the supervisor did not take the request (${error.message}) (${op})`));
      }
    });
  };

  readonly #onMessage = (message: unknown): void => {
    if (isSbcMessage(message, STORE_PUBLICATION)) {
      if (message.client !== this.#client || typeof message.channel !== 'string' || typeof message.message !== 'string') return;
      const entry = this.#channels.get(message.channel);
      if (entry !== undefined) for (const listener of Array.from(entry.listeners)) this.#deliver(message.channel, listener, message.message);
      return;
    }
    if (!isSbcMessage(message, STORE_MESSAGE) || message.client !== this.#client || !Array.isArray(message.answers)) return;
    for (const answer of message.answers as unknown[]) {
      if (!Array.isArray(answer) || typeof answer[0] !== 'number') continue;
      const p = this.#pending.get(answer[0]);
      if (p === undefined) continue;
      this.#pending.delete(answer[0]);
      if (answer[1] === 1) p.resolve(answer[2]);
      else p.reject(fromWireError(answer[2]));
    }
  };

  readonly #onDisconnect = (): void => {
    if (this.#lost) return;
    this.#lost = true;
    if (this.#flushing !== undefined) clearImmediate(this.#flushing);
    this.#flushing = undefined;
    this.#outbox = [];
    this.#logger.error('state store unavailable: the channel to the supervisor closed');
    this.#failAll((op) => new StateStoreUnavailableError(`state store unavailable: the channel to the supervisor closed (${op})`));
  };

  #failAll(error: (op: string) => Error): void {
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of pending) p.reject(error(p.op));
  }

  /** One coarse, unref'd timer for every deadline instead of a timer per request. */
  #armSweep(): void {
    if (this.#sweep !== undefined) return;
    const every = Math.max(10, Math.min(250, Math.floor(this.#timeoutMs / 4)));
    this.#sweep = setInterval(() => this.#expire(), every);
    this.#sweep.unref();
  }

  #expire(): void {
    const now = Date.now();
    for (const [id, p] of this.#pending) {
      if (p.deadline > now) return;
      this.#pending.delete(id);
      p.reject(new StateStoreUnavailableError(`state store unavailable: the supervisor did not answer ${p.op} within ${this.#timeoutMs} ms`));
    }
    if (this.#pending.size === 0) {
      clearInterval(this.#sweep);
      this.#sweep = undefined;
    }
  }

  #deliver(channel: string, listener: (message: string) => void, message: string): void {
    try {
      const result: unknown = listener(message);
      if (result instanceof Promise) result.catch((err: unknown) => this.#logger.error({ err, channel }, 'state subscriber failed'));
    } catch (err) {
      this.#logger.error({ err, channel }, 'state subscriber failed');
    }
  }
}
