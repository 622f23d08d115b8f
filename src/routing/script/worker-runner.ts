/**
 * `routing.isolation: worker`: the routing script in its own thread. The
 * request crosses as JSON (structured clone), the decision comes back the
 * same way. A decision later than routing.timeoutMs answers 500 as on the
 * event loop; if the thread then does not answer a ping either, the script
 * is stuck (a loop that never yields): the thread is ended, every decision
 * waiting on it answers 500, and a fresh thread takes the next calls.
 */
import { Worker } from 'node:worker_threads';
import type { Logger } from '../../log/logger.js';
import type { ScriptOutcome } from './script-runner.js';
import type { FromWorker, ToWorker } from './script-worker.js';
import type { RoutingRequestJson } from './types.js';

const WORKER_URL = new URL('./script-worker.js', import.meta.url);
/** How long a thread that overran may take to answer a ping before it counts as stuck. */
const PING_MS = 250;
/** Decisions waiting at once; beyond it a call answers 500 at once rather than queue behind a slow script. */
const MAX_PENDING = 10_000;

interface Pending {
  resolve: (o: ScriptOutcome) => void;
  timer: NodeJS.Timeout;
  /** Held back while the thread is suspected stuck; posted once it answers a ping, or to its successor. */
  held: RoutingRequestJson | undefined;
  timeoutMs: number;
}

export class WorkerScript {
  readonly #file: string;
  readonly #log: Logger;
  #worker: Worker;
  #nextId = 0;
  readonly #pending = new Map<number, Pending>();
  #ping: { id: number; timer: NodeJS.Timeout } | undefined;
  #closed = false;

  private constructor(file: string, worker: Worker, log: Logger) {
    this.#file = file;
    this.#log = log;
    this.#worker = worker;
    this.#listen(worker);
  }

  /** A thread with the script loaded, or the script's load error. */
  static async start(file: string, log: Logger): Promise<{ ok: true; script: WorkerScript } | { ok: false; error: string }> {
    const worker = spawn(file);
    const first = await firstMessage(worker);
    if ('error' in first) {
      await worker.terminate();
      return { ok: false, error: first.error };
    }
    return { ok: true, script: new WorkerScript(file, worker, log) };
  }

  run(request: RoutingRequestJson, timeoutMs: number): Promise<ScriptOutcome> {
    if (this.#closed || this.#pending.size >= MAX_PENDING) return Promise.resolve({ kind: 'error', error: new Error(this.#closed ? 'script thread closed' : 'too many decisions waiting') });
    const id = ++this.#nextId;
    return new Promise((resolve) => {
      const suspect = this.#ping !== undefined;
      this.#pending.set(id, { resolve, timer: this.#deadline(id, timeoutMs), held: suspect ? request : undefined, timeoutMs });
      if (!suspect) this.#worker.postMessage({ id, request } satisfies ToWorker);
    });
  }

  /** Ends the thread; decisions still waiting answer 500. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#failPending('script thread closed');
    void this.#worker.terminate();
  }

  #listen(worker: Worker): void {
    worker.on('message', (m: FromWorker) => {
      if ('pong' in m) {
        if (this.#ping?.id === m.pong) {
          clearTimeout(this.#ping.timer);
          this.#ping = undefined;
          this.#postHeld();
        }
        return;
      }
      if (!('id' in m)) return;
      const p = this.#pending.get(m.id);
      if (p === undefined) return; // too late: already answered 500
      this.#pending.delete(m.id);
      clearTimeout(p.timer);
      p.resolve(m.outcome.kind === 'value' ? m.outcome : { kind: 'error', error: new Error(m.outcome.error) });
    });
    worker.on('error', (err) => {
      this.#log.error({ err, script: this.#file }, 'routing script thread failed; starting a new one');
      this.#replace(worker);
    });
    worker.on('exit', () => this.#replace(worker));
  }

  /** A decision overran: does the thread still answer at all? */
  #checkAlive(): void {
    if (this.#ping !== undefined || this.#closed) return;
    const id = ++this.#nextId;
    const worker = this.#worker;
    const timer = setTimeout(() => {
      this.#ping = undefined;
      this.#log.error({ script: this.#file }, 'routing script does not yield (an endless loop?): its thread is ended and a new one started');
      this.#replace(worker);
    }, PING_MS);
    timer.unref();
    this.#ping = { id, timer };
    worker.postMessage({ ping: id } satisfies ToWorker);
  }

  #replace(worker: Worker): void {
    if (this.#closed || worker !== this.#worker) return;
    if (this.#ping !== undefined) {
      clearTimeout(this.#ping.timer);
      this.#ping = undefined;
    }
    // What the stuck thread had is lost (500); what was held back goes to the new one.
    this.#failPending('script thread restarted', false);
    worker.removeAllListeners();
    void worker.terminate();
    // The file loaded before; a thread that cannot load it now answers every call 500 until a reload.
    this.#worker = spawn(this.#file);
    this.#listen(this.#worker);
    this.#postHeld();
  }

  /** A decision not back by then answers 500, and makes us ask whether the thread is stuck. */
  #deadline(id: number, timeoutMs: number): NodeJS.Timeout {
    const timer = setTimeout(() => {
      const p = this.#pending.get(id);
      if (p === undefined) return;
      this.#pending.delete(id);
      p.resolve({ kind: 'timeout' });
      this.#checkAlive();
    }, timeoutMs);
    timer.unref();
    return timer;
  }

  /** Held decisions go out now; their time starts again (the wait was ours, not the script's). */
  #postHeld(): void {
    for (const [id, p] of this.#pending) {
      if (p.held === undefined) continue;
      clearTimeout(p.timer);
      p.timer = this.#deadline(id, p.timeoutMs);
      this.#worker.postMessage({ id, request: p.held } satisfies ToWorker);
      p.held = undefined;
    }
  }

  #failPending(why: string, held = true): void {
    for (const [id, p] of this.#pending) {
      if (!held && p.held !== undefined) continue;
      clearTimeout(p.timer);
      p.resolve({ kind: 'error', error: new Error(why) });
      this.#pending.delete(id);
    }
  }
}

function spawn(file: string): Worker {
  const w = new Worker(WORKER_URL, { workerData: { file }, resourceLimits: { maxOldGenerationSizeMb: 256 } });
  w.unref();
  return w;
}

function firstMessage(worker: Worker): Promise<{ ok: true } | { error: string }> {
  return new Promise((resolve) => {
    worker.once('message', (m: FromWorker) => resolve('loadError' in m ? { error: m.loadError } : { ok: true }));
    worker.once('error', (err) => resolve({ error: err.message }));
    worker.once('exit', (code) => resolve({ error: `script thread exited (${code}) before loading` }));
  });
}
