/**
 * The supervisor's side of the shared state store (`workers: N` with
 * `state.store: memory`): one MemoryStore in the supervisor, served to every
 * worker over its IPC channel, so all workers see one state exactly as
 * several nodes see one Redis. Published messages go to every subscribed
 * store of every worker, the publisher's included.
 *
 * @example
 *   // in the supervisor, before forking
 *   const shared = serveSharedStore(cluster, { logger });
 *   ...
 *   await shared.close();   // after the workers have exited
 */
import type { Cluster, Worker } from 'node:cluster';
import type { Logger } from '../log/logger.js';
import { silentLogger } from '../log/logger.js';
import { MemoryStore, type MemoryStoreOptions } from '../state/memory-store.js';
import type { StateStore } from '../state/store.js';
import { isSbcMessage, sendSafely, type IpcEndpoint } from './ipc-endpoint.js';
import { isStoreOp, MAX_BATCH, STORE_MESSAGE, STORE_PUBLICATION, toWireError, type StoreOp, type WireAnswer } from './store-protocol.js';

export interface SharedStoreOptions {
  /** The store to serve; default a new MemoryStore (closed by close()). */
  store?: StateStore;
  /** Limits of the default MemoryStore. */
  memory?: Omit<MemoryStoreOptions, 'logger'>;
  logger?: Logger;
}

/** A store being served; close() stops serving every worker and closes the store it created. */
export interface SharedStore {
  readonly store: StateStore;
  close(): Promise<void>;
}

/** Most channels one client may subscribe to: a worker gone wrong must not grow the supervisor. */
const MAX_CHANNELS_PER_CLIENT = 1024;

/**
 * Serve a store to every current and future worker of `cluster`; a worker's
 * subscriptions end when it exits.
 */
export function serveSharedStore(cluster: Cluster, options: SharedStoreOptions = {}): SharedStore {
  const logger = options.logger ?? silentLogger();
  const owned = options.store === undefined;
  const store = options.store ?? new MemoryStore({ ...options.memory, logger });
  const served = new Map<Worker, () => void>();
  const attach = (worker: Worker): void => {
    if (served.has(worker)) return;
    const stop = serveStoreOver(worker as unknown as IpcEndpoint, store, logger);
    served.set(worker, stop);
    worker.once('exit', () => {
      served.get(worker)?.();
      served.delete(worker);
    });
  };
  for (const worker of Object.values(cluster.workers ?? {})) if (worker !== undefined) attach(worker);
  cluster.on('fork', attach);
  let closed: Promise<void> | undefined;
  return {
    store,
    close: () => (closed ??= (async () => {
      cluster.off('fork', attach);
      for (const stop of served.values()) stop();
      served.clear();
      if (owned) await store.close();
    })()),
  };
}

/**
 * Serve `store` to the IpcStateStores at the other end of one channel.
 * Returns the function that stops serving (and drops its subscriptions).
 */
export function serveStoreOver(endpoint: IpcEndpoint, store: StateStore, logger: Logger = silentLogger()): () => void {
  /** client → channel → unsubscribe */
  const subscriptions = new Map<string, Map<string, Promise<() => Promise<void>>>>();
  let stopped = false;

  const dropClient = (client: string): void => {
    const channels = subscriptions.get(client);
    if (!channels) return;
    subscriptions.delete(client);
    for (const unsubscribe of channels.values()) void unsubscribe.then((u) => u()).catch(() => undefined);
  };

  const perform = async (client: string, op: StoreOp, args: unknown[]): Promise<unknown> => {
    const s = (i: number): string => text(args[i], op);
    switch (op) {
      case 'get': return store.get(s(0));
      case 'set': return store.set(s(0), s(1), args[2] as number);
      case 'setIfAbsent': return store.setIfAbsent(s(0), s(1), args[2] as number);
      case 'delete': return store.delete(s(0));
      case 'expire': return store.expire(s(0), args[1] as number);
      case 'hget': return store.hget(s(0), s(1));
      case 'hgetall': return store.hgetall(s(0));
      case 'hset': return store.hset(s(0), fieldsOf(args[1]), args[2] as number);
      case 'hdel': return store.hdel(s(0), ...args.slice(1).map((_, i) => s(i + 1)));
      case 'incr': return store.incr(s(0), args[1] as number, args[2] as number);
      case 'publish': return store.publish(s(0), s(1));
      case 'subscribe': {
        const channel = s(0);
        let channels = subscriptions.get(client);
        if (!channels) subscriptions.set(client, (channels = new Map()));
        if (channels.has(channel)) return undefined;
        if (channels.size >= MAX_CHANNELS_PER_CLIENT) throw new RangeError(`subscribe: more than ${MAX_CHANNELS_PER_CLIENT} channels for one store`);
        const unsubscribe = store.subscribe(channel, (message) => {
          sendSafely(endpoint, { sbc: STORE_PUBLICATION, client, channel, message });
        });
        channels.set(channel, unsubscribe);
        await unsubscribe;
        return undefined;
      }
      case 'unsubscribe': {
        const channel = s(0);
        const unsubscribe = subscriptions.get(client)?.get(channel);
        if (unsubscribe === undefined) return undefined;
        subscriptions.get(client)?.delete(channel);
        await (await unsubscribe)();
        return undefined;
      }
      case 'close':
        dropClient(client);
        return undefined;
    }
  };

  /** Answers ready in this turn, by client, sent together by flush. */
  let outbox = new Map<string, WireAnswer[]>();
  let flushing: NodeJS.Immediate | undefined;
  const flush = (): void => {
    flushing = undefined;
    const ready = outbox;
    outbox = new Map();
    if (stopped) return;
    for (const [client, answers] of ready) {
      sendSafely(endpoint, { sbc: STORE_MESSAGE, client, answers }, (error) => logger.debug({ err: error }, 'state answer not delivered (worker gone)'));
    }
  };
  const reply = (client: string, answer: WireAnswer): void => {
    if (stopped) return;
    let answers = outbox.get(client);
    if (answers === undefined) outbox.set(client, (answers = []));
    answers.push(answer);
    flushing ??= setImmediate(flush);
  };

  const onMessage = (message: unknown): void => {
    if (stopped || !isSbcMessage(message, STORE_MESSAGE)) return;
    const { client, batch } = message;
    if (typeof client !== 'string' || !Array.isArray(batch) || batch.length > MAX_BATCH) return;
    for (const request of batch as unknown[]) {
      if (!Array.isArray(request) || typeof request[0] !== 'number') continue;
      const id = request[0];
      const op: unknown = request[1];
      const args = Array.isArray(request[2]) ? (request[2] as unknown[]) : [];
      if (!isStoreOp(op)) {
        reply(client, [id, 0, { name: 'TypeError', message: `unknown state store operation ${String(op)}` }]);
        continue;
      }
      perform(client, op, args).then(
        // JSON has no undefined: an answer without a value is one.
        (value) => reply(client, value === undefined ? [id, 1] : [id, 1, value]),
        (error: unknown) => reply(client, [id, 0, toWireError(error)]),
      );
    }
  };
  const onDisconnect = (): void => stop();
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    if (flushing !== undefined) clearImmediate(flushing);
    flushing = undefined;
    endpoint.off('message', onMessage);
    endpoint.off('disconnect', onDisconnect);
    for (const client of [...subscriptions.keys()]) dropClient(client);
  };
  endpoint.on('message', onMessage);
  endpoint.on('disconnect', onDisconnect);
  return stop;
}

function text(value: unknown, op: string): string {
  if (typeof value !== 'string') throw new TypeError(`${op}: expected a string argument`);
  return value;
}

function fieldsOf(value: unknown): Record<string, string> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new TypeError('hset: fields must be an object of strings');
  const fields = value as Record<string, unknown>;
  for (const name of Object.keys(fields)) if (typeof fields[name] !== 'string') throw new TypeError(`hset: field "${name}" is not a string`);
  return fields as Record<string, string>;
}
