/**
 * A worker's side of the supervisor link: its id (from the environment the
 * supervisor forked it with), the steering of stray datagrams to their owner
 * through the supervisor, and the signals the supervisor forwards.
 */
import cluster from 'node:cluster';
import type { SteeredDatagram, WorkerSteering } from '../transport/index.js';
import { isMessage, steerMessage, steeredDatagram } from './messages.js';

// Not SBC_*: those are configuration overrides (config/overrides.ts).
export const WORKER_ID_ENV = 'WEBRTC_SBC_WORKER_ID';
export const WORKER_COUNT_ENV = 'WEBRTC_SBC_WORKER_COUNT';

/** The environment worker `id` of `count` is forked with. */
export function workerEnv(id: number, count: number): Record<string, string> {
  return { [WORKER_ID_ENV]: String(id), [WORKER_COUNT_ENV]: String(count) };
}

/** This process's worker id when it is a gateway worker under a supervisor, else undefined. */
export function gatewayWorkerId(env: NodeJS.ProcessEnv = process.env): number | undefined {
  if (!cluster.isWorker) return undefined;
  const text = env[WORKER_ID_ENV];
  return text !== undefined && /^[1-9][0-9]?$/.test(text) ? Number(text) : undefined;
}

export class WorkerLink implements WorkerSteering {
  readonly id: number;
  #onSteered: ((d: SteeredDatagram) => void) | undefined;
  #onSignal: ((signal: 'SIGTERM' | 'SIGINT' | 'SIGHUP') => void) | undefined;
  /** Datagrams passed on and received, for diagnostics. */
  passed = 0;
  received = 0;

  constructor(id: number) {
    this.id = id;
    process.on('message', (m: unknown) => this.#onMessage(m));
  }

  pass(owner: number, datagram: SteeredDatagram): void {
    if (typeof process.send !== 'function' || !process.connected) return;
    this.passed += 1;
    try {
      process.send(steerMessage(owner, datagram), undefined, undefined, () => undefined);
    } catch {
      // The supervisor is going away; the sender retransmits.
    }
  }

  /** Datagrams other workers pass here go to `handler` (the transport layer once started). */
  onSteered(handler: (d: SteeredDatagram) => void): void {
    this.#onSteered = handler;
  }

  onSignal(handler: (signal: 'SIGTERM' | 'SIGINT' | 'SIGHUP') => void): void {
    this.#onSignal = handler;
  }

  /** Tell the supervisor every part has started. */
  ready(): void {
    if (typeof process.send === 'function' && process.connected) process.send({ sbc: 'ready' });
  }

  #onMessage(m: unknown): void {
    if (isMessage(m, 'steer')) {
      const d = steeredDatagram(m);
      if (d !== undefined && this.#onSteered !== undefined) {
        this.received += 1;
        this.#onSteered(d);
      }
    } else if (isMessage(m, 'signal')) {
      const s = m.signal;
      if (s === 'SIGTERM' || s === 'SIGINT' || s === 'SIGHUP') this.#onSignal?.(s);
    }
  }
}
