/**
 * The supervisor (`workers` > 1): forks N gateway workers with node:cluster,
 * each a full gateway node with its own id; restarts a worker that dies
 * (back-off, logged, counted); forwards SIGTERM, SIGINT and SIGHUP to every
 * worker; relays datagrams a worker steers to another; exits when every
 * worker has exited after a stop.
 *
 *   start ──► running ──signal──► stopping ──all exited──► exit code
 *                │  ▲
 *      worker died│  │restart after back-off
 *                ▼  │
 *             waiting
 */
import cluster, { type Worker } from 'node:cluster';
import type { Config } from '../config/index.js';
import type { Logger } from '../log/logger.js';
import { startClusterAdmin, type ClusterAdmin } from './cluster-admin.js';
import { isMessage, ownPorts, type OwnPort } from './messages.js';
import { serveSharedStore, type SharedStore } from './shared-store-server.js';
import { workerEnv } from './worker-env.js';

export interface SupervisorOptions {
  count: number;
  /** admin.listen / admin.token for the gateway's admin API; state.store memory → a store served to the workers. */
  config: Config;
  logger: Logger;
  /** Longest wait before a restart, ms. @default 10000 */
  maxBackoffMs?: number;
  /** A worker that lived this long before dying is restarted at once, ms. @default 10000 */
  stableMs?: number;
}

interface Slot {
  id: number;
  worker: Worker | undefined;
  startedAt: number;
  ready: boolean;
  /** Steered datagrams sent to it and not yet written to its channel. */
  inFlight: number;
  /** Its own ports, from its ready message. */
  own: OwnPort[];
  /** Deaths in a row without a stable run. */
  failures: number;
  timer: NodeJS.Timeout | undefined;
}

/** Steered datagrams at most waiting on the channel to one worker. */
const MAX_STEER_IN_FLIGHT = 4096;

/** Exit code of a worker that found a configuration error (main.ts). */
const CONFIG_ERROR = 2;

export class Supervisor {
  readonly #o: Required<SupervisorOptions>;
  readonly #log: Logger;
  readonly #slots = new Map<number, Slot>();
  #stopping: NodeJS.Signals | undefined;
  #exitCode = 0;
  #everReady = false;
  #done: ((code: number) => void) | undefined;
  #shared: SharedStore | undefined;
  #admin: ClusterAdmin | undefined;
  /** Workers restarted after dying (they are counted, and logged one line each). */
  restarts = 0;
  /** Steered datagrams dropped because their worker was not there. */
  steerDropped = 0;

  constructor(options: SupervisorOptions) {
    this.#o = { maxBackoffMs: 10_000, stableMs: 10_000, ...options };
    this.#log = options.logger;
  }

  /**
   * Serves the shared store (state.store memory), forks every worker, opens
   * the admin API for the whole gateway; resolves with the process exit code
   * once every worker has exited after a stop.
   */
  async run(): Promise<number> {
    const finished = new Promise<number>((resolve) => { this.#done = resolve; });
    cluster.on('exit', (worker, code, signal) => this.#onExit(worker, code, signal));
    for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, () => this.#onSignal(signal));
    // Before the first fork: every worker's IpcStateStore talks to it from its start. With Redis each worker connects itself.
    if (this.#o.config.state.store === 'memory') this.#shared = serveSharedStore(cluster, { logger: this.#log.child({ part: 'state' }) });
    this.#log.info({ workers: this.#o.count }, 'supervisor starting workers');
    for (let id = 1; id <= this.#o.count; id++) {
      const slot: Slot = { id, worker: undefined, startedAt: 0, ready: false, inFlight: 0, own: [], failures: 0, timer: undefined };
      this.#slots.set(id, slot);
      this.#fork(slot);
    }
    try {
      this.#admin = await startClusterAdmin({ config: this.#o.config, cluster, workers: this.#o.count, logger: this.#log, restarts: () => this.restarts });
      this.#log.info({ admin: this.#admin.url() }, 'admin API listening for every worker');
    } catch (err) {
      this.#log.fatal({ err }, 'admin API could not listen; stopping the gateway');
      this.#exitCode = 1;
      this.#stop('SIGTERM');
    }
    const code = await finished;
    await this.#admin?.stop().catch(() => undefined);
    await this.#shared?.close().catch(() => undefined);
    return code;
  }

  /** The live workers by id (tests, the admin side). */
  workers(): ReadonlyMap<number, Worker> {
    const out = new Map<number, Worker>();
    for (const s of this.#slots.values()) if (s.worker !== undefined) out.set(s.id, s.worker);
    return out;
  }

  #fork(slot: Slot): void {
    slot.timer = undefined;
    slot.ready = false;
    slot.inFlight = 0;
    slot.startedAt = Date.now();
    const worker = cluster.fork(workerEnv(slot.id, this.#o.count));
    slot.worker = worker;
    worker.on('message', (m: unknown) => this.#onMessage(slot, m));
    // A send to a worker that is going away fails; that is not the supervisor's error.
    worker.on('error', (err) => this.#log.debug({ err, worker: slot.id }, 'worker channel error'));
  }

  #onMessage(slot: Slot, m: unknown): void {
    if (isMessage(m, 'steer')) {
      const target = typeof m.to === 'number' ? this.#slots.get(m.to) : undefined;
      const to = target?.worker;
      // Gone, restarting, or not keeping up: dropped (the sender retransmits), never queued without bound.
      if (target === undefined || to === undefined || !to.isConnected() || target.inFlight >= MAX_STEER_IN_FLIGHT) {
        this.steerDropped += 1;
        return;
      }
      target.inFlight += 1;
      to.send(m, undefined, () => { target.inFlight -= 1; });
    } else if (isMessage(m, 'ready')) {
      slot.ready = true;
      slot.own = ownPorts(m);
      this.#everReady = true;
      this.#log.info({ worker: slot.id, pid: slot.worker?.process.pid }, 'worker ready');
      // Every worker learns every worker's own ports: what one relays to another from them is inside.
      const siblings = { sbc: 'siblings', own: [...this.#slots.values()].flatMap((s) => s.own) };
      for (const s of this.#slots.values()) if (s.worker?.isConnected() === true) s.worker.send(siblings, undefined, () => undefined);
    }
  }

  #onExit(worker: Worker, code: number | null, signal: string | null): void {
    const slot = [...this.#slots.values()].find((s) => s.worker === worker);
    if (slot === undefined) return;
    slot.worker = undefined;
    const lived = Date.now() - slot.startedAt;
    if (this.#stopping !== undefined) {
      if (code !== 0 && code !== null) this.#exitCode = code === CONFIG_ERROR ? CONFIG_ERROR : 1;
      this.#log.info({ worker: slot.id, code, signal }, 'worker stopped');
      this.#finishIfDone();
      return;
    }
    if (code === CONFIG_ERROR || (!slot.ready && !this.#everReady)) {
      // A configuration error, or no worker ever got going: restarting would only repeat it.
      this.#log.fatal({ worker: slot.id, code, signal }, 'worker failed to start; stopping the gateway');
      this.#exitCode = code === CONFIG_ERROR ? CONFIG_ERROR : 1;
      this.#stop('SIGTERM');
      return;
    }
    slot.failures = lived >= this.#o.stableMs ? 0 : slot.failures + 1;
    const delayMs = slot.failures === 0 ? 0 : Math.min(this.#o.maxBackoffMs, 100 * 2 ** (slot.failures - 1));
    this.restarts += 1;
    this.#log.warn({ worker: slot.id, code, signal, livedMs: lived, delayMs, restarts: this.restarts }, 'worker died; restarting it');
    slot.timer = setTimeout(() => this.#fork(slot), delayMs);
  }

  #onSignal(signal: NodeJS.Signals): void {
    if (signal === 'SIGHUP') {
      this.#log.info({ signal }, 'reloading every worker');
      this.#forward('SIGHUP');
      return;
    }
    if (this.#stopping !== undefined) this.#log.warn({ signal }, 'second signal: workers stop now');
    this.#stop(signal);
  }

  #stop(signal: NodeJS.Signals): void {
    this.#stopping = signal;
    for (const slot of this.#slots.values()) {
      if (slot.timer !== undefined) clearTimeout(slot.timer);
      slot.timer = undefined;
    }
    this.#forward(signal === 'SIGINT' ? 'SIGINT' : 'SIGTERM');
    this.#finishIfDone();
  }

  #forward(signal: 'SIGTERM' | 'SIGINT' | 'SIGHUP'): void {
    for (const slot of this.#slots.values()) {
      const w = slot.worker;
      if (w === undefined) continue;
      if (w.isConnected()) w.send({ sbc: 'signal', signal }, undefined, () => undefined);
      else if (signal !== 'SIGHUP') w.process.kill('SIGTERM');
    }
  }

  #finishIfDone(): void {
    if ([...this.#slots.values()].some((s) => s.worker !== undefined)) return;
    this.#log.info({ code: this.#exitCode, restarts: this.restarts }, 'supervisor: every worker has exited');
    this.#done?.(this.#exitCode);
  }
}
