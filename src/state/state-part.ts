/**
 * The state store as a part of the gateway: opened first, closed last. In a
 * gateway worker (`workers: N`) with `state.store: memory` the store is the
 * one the supervisor serves over IPC; with `redis` every worker talks to
 * Redis itself. Either way the parts above see one StateStore.
 *
 * It also settles the flow-token secret (flowTokens.secret): the configured
 * one, else one shared through the store when the store is shared (worker
 * or Redis), else a random one of this process.
 */
import { randomBytes } from 'node:crypto';
import { IpcStateStore } from '../cluster/ipc-state-store.js';
import { gatewayWorkerId } from '../cluster/worker-env.js';
import type { Part, PartContext } from '../server/part.js';
import { started } from '../server/part.js';
import { createStateStore } from './index.js';
import { MirroredRecords, type RecordStore } from './mirrored-records.js';
import { sharedSecret, type SharedSecret } from './shared-secret.js';
import type { StateStore } from './store.js';

export class StatePart implements Part {
  readonly name = 'state';
  readonly #ctx: PartContext;
  #store: StateStore | undefined;
  #secret: string | Buffer | undefined;
  #shared: SharedSecret | undefined;
  #records: MirroredRecords | undefined;

  constructor(ctx: PartContext) {
    this.#ctx = ctx;
  }

  get store(): StateStore {
    return started(this.#store);
  }

  /**
   * Where records one worker owns go (topology records): with workers on one
   * machine kept in the worker and mirrored to the supervisor's store
   * (MirroredRecords), else the store itself (Redis: another node may read
   * them at once).
   */
  get recordStore(): RecordStore {
    return this.#records ?? this.store;
  }

  /** The HMAC key of flow tokens, digest nonces and topology keys; settled by start(). */
  get flowTokenSecret(): string | Buffer {
    return started(this.#secret);
  }

  /** True when other workers or nodes see this store (a worker's IPC store, or Redis). */
  get shared(): boolean {
    return this.#store instanceof IpcStateStore || this.#ctx.config.state.store === 'redis';
  }

  async start(): Promise<void> {
    const c = this.#ctx.config;
    const logger = this.#ctx.logger.child({ part: 'state' });
    const worker = gatewayWorkerId();
    this.#store = worker !== undefined && c.state.store === 'memory'
      ? new IpcStateStore({ logger })
      : await createStateStore(c.state, { logger });
    if (this.#store instanceof IpcStateStore) this.#records = new MirroredRecords(this.#store, { logger });
    if (c.flowTokens.secret !== '') {
      this.#secret = c.flowTokens.secret;
    } else if (this.shared) {
      this.#shared = await sharedSecret(this.#store, c.state.redis.keyPrefix, 'flow-token', logger);
      this.#secret = this.#shared.value;
      logger.info({ worker }, 'flowTokens.secret is empty: using the secret shared through the state store');
    } else {
      this.#secret = randomBytes(32);
    }
  }

  async stop(): Promise<void> {
    this.#shared?.stop();
    // Its last changes are sent before the store closes.
    this.#records?.close();
    await this.#store?.close();
  }
}
