/**
 * What a UAS core retransmits itself over unreliable transports: the 2xx to
 * an INVITE until its ACK (RFC 3261 §13.3.1.4) and a reliable provisional
 * until its PRACK (RFC 3262 §3). Interval T1, doubling up to T2; after 64·T1
 * without the awaited request the owner is told.
 */
import type { Flow } from '../transport/flow.js';

export interface RetransmitTimers {
  t1Ms: number;
  t2Ms: number;
}

export class Retransmitter {
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  /**
   * Start resending `bytes` on `flow` (nothing happens on reliable flows
   * except the give-up deadline, which also applies there).
   */
  constructor(flow: Flow, bytes: Buffer, timers: RetransmitTimers, onGiveUp: () => void) {
    const deadline = performance.now() + 64 * timers.t1Ms;
    let interval = timers.t1Ms;
    const tick = (): void => {
      if (this.#stopped) return;
      if (performance.now() >= deadline) {
        this.stop();
        onGiveUp();
        return;
      }
      if (!flow.reliable) flow.send(bytes);
      interval = Math.min(interval * 2, timers.t2Ms);
      this.#timer = setTimeout(tick, flow.reliable ? Math.max(0, deadline - performance.now()) : interval);
      this.#timer.unref?.();
    };
    this.#timer = setTimeout(tick, flow.reliable ? 64 * timers.t1Ms : interval);
    this.#timer.unref?.();
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  /** Idempotent. */
  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
