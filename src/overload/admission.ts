/**
 * Admission control: turns load samples into how much new work to take.
 *
 *              any signal at/over its threshold
 *   normal ───────────────────────────────────────► shedding
 *     ▲        (admit fraction ×0.75 per hot sample, │
 *     │         +0.05 per sample below 80 % of every │
 *     │         threshold; in between it holds)      │
 *     └──────────── admit fraction back at 1 and ◄───┘
 *                   `recoverSamples` cool samples in a row
 *
 * While shedding, a new out-of-dialog request from outside is admitted with
 * probability `admitFraction` (AIMD, like TCP's window): a binary on/off
 * switch would shed everything during a surge, because shedding itself keeps
 * the event loop busy. Only the signals that mean "work is waiting" (loop
 * delay, the kernel receive queue, pending INVITEs, heap) drive it; a busy
 * loop that keeps up is not overloaded.
 */
import { performance } from 'node:perf_hooks';
import type { Logger } from '../log/logger.js';
import type { LoadSample } from './load-monitor.js';

export type OverloadState = 'normal' | 'shedding';

/** What tripped admission control; also the `reason` label of sbc_overload_shed_total. */
export type OverloadSignal = 'loop-delay' | 'event-loop-utilization' | 'udp-queue' | 'pending-invites' | 'heap';

export interface AdmissionThresholds {
  loopDelayMs: number;
  eventLoopUtilization: number;
  maxPendingInvites: number;
  heapFraction: number;
  /** Bytes in the kernel receive queues of our UDP sockets. */
  udpQueueBytes: number;
  recoverSamples: number;
  sampleIntervalMs: number;
}

export interface AdmissionOptions {
  thresholds: AdmissionThresholds;
  logger: Logger;
  /** Told on every state change (metrics). */
  onState?: (state: OverloadState) => void;
  /** Source of the admission coin, [0, 1). @default Math.random */
  random?: () => number;
  /** @default performance.now */
  now?: () => number;
}

/** Below this fraction of every threshold a sample counts as cool. */
const COOL = 0.8;
const DECREASE = 0.75;
const INCREASE = 0.05;
/** Never shut the door completely: some calls keep getting through and the fraction can be probed upward. */
const MIN_FRACTION = 0.02;
/** A sampling timer this many intervals late means the loop is stalled right now. */
const STALL_INTERVALS = 3;

export class Admission {
  readonly #t: AdmissionThresholds;
  readonly #log: Logger;
  readonly #onState: ((state: OverloadState) => void) | undefined;
  readonly #random: () => number;
  readonly #now: () => number;
  #state: OverloadState = 'normal';
  #fraction = 1;
  #reason: OverloadSignal | undefined;
  #coolRun = 0;
  #heapHot = false;
  #lastSampleAt: number;
  #lastLoopMaxMs = 0;
  /** Last time our own trouble was seen (shedding, a stalled loop, a backlog). */
  #troubleAt = -Infinity;
  #enteredAt = 0;

  constructor(options: AdmissionOptions) {
    this.#t = options.thresholds;
    this.#log = options.logger;
    this.#onState = options.onState;
    this.#random = options.random ?? Math.random;
    this.#now = options.now ?? (() => performance.now());
    this.#lastSampleAt = this.#now();
  }

  get state(): OverloadState {
    return this.#state;
  }

  get shedding(): boolean {
    return this.#state === 'shedding';
  }

  /** The signal that last ran hot while shedding. */
  get reason(): OverloadSignal | undefined {
    return this.#reason;
  }

  get admitFraction(): number {
    return this.#fraction;
  }

  /** The heap is over its threshold: new work from inside is refused too. */
  get critical(): boolean {
    return this.#heapHot;
  }

  /** Longest loop stall in the last sample, ms: what a datagram read now may have waited for behind it. */
  get lastStallMs(): number {
    return this.#lastLoopMaxMs;
  }

  /** Take the next new out-of-dialog request? Always true when normal. */
  admitsNew(): boolean {
    return this.#state === 'normal' || this.#random() < this.#fraction;
  }

  /**
   * True when our own trouble could explain a target's silence since
   * `since` (performance.now() ms): we were shedding or stalled or behind at
   * some point since then, or the loop is stalled right now.
   */
  excuses(since: number): boolean {
    if (this.#state === 'shedding') return true;
    const now = this.#now();
    if (now - this.#lastSampleAt > STALL_INTERVALS * this.#t.sampleIntervalMs) return true;
    return this.#troubleAt >= since - this.#t.sampleIntervalMs;
  }

  update(s: LoadSample): void {
    const t = this.#t;
    this.#lastSampleAt = s.at;
    this.#lastLoopMaxMs = s.loopMaxMs;
    const hot = this.#hotSignal(s, 1);
    this.#heapHot = s.heapFraction >= t.heapFraction;
    const cool = hot === undefined && this.#hotSignal(s, COOL) === undefined;
    if (hot !== undefined || s.loopMaxMs >= t.loopDelayMs) this.#troubleAt = s.at;

    if (hot !== undefined) {
      this.#reason = hot;
      this.#coolRun = 0;
      this.#fraction = Math.max(MIN_FRACTION, this.#fraction * DECREASE);
      if (this.#state === 'normal') this.#enter(hot, s);
      return;
    }
    if (this.#state === 'normal') return;
    this.#troubleAt = s.at;
    if (!cool) {
      this.#coolRun = 0;
      return;
    }
    this.#fraction = Math.min(1, this.#fraction + INCREASE);
    this.#coolRun++;
    if (this.#fraction >= 1 && this.#coolRun >= t.recoverSamples) this.#leave();
  }

  #hotSignal(s: LoadSample, scale: number): OverloadSignal | undefined {
    const t = this.#t;
    if (s.heapFraction >= t.heapFraction * scale) return 'heap';
    if (s.loopDelayMs >= t.loopDelayMs * scale) return 'loop-delay';
    if (s.udpQueuedBytes >= t.udpQueueBytes * scale || (scale === 1 && s.udpDrops > 0)) return 'udp-queue';
    // Busy alone is not overloaded; busy with a backlog building is.
    if (s.elu >= t.eventLoopUtilization * scale && s.udpQueuedBytes >= (t.udpQueueBytes / 4) * scale) return 'event-loop-utilization';
    if (s.pendingInvites >= t.maxPendingInvites * scale) return 'pending-invites';
    return undefined;
  }

  #enter(reason: OverloadSignal, s: LoadSample): void {
    this.#state = 'shedding';
    this.#enteredAt = s.at;
    this.#log.warn({
      reason,
      loopDelayMs: round(s.loopDelayMs),
      elu: round(s.elu),
      pendingInvites: s.pendingInvites,
      heapFraction: round(s.heapFraction),
      udpQueuedBytes: s.udpQueuedBytes,
      udpDrops: s.udpDrops,
    }, 'overload: shedding new requests');
    this.#onState?.('shedding');
  }

  #leave(): void {
    this.#state = 'normal';
    this.#reason = undefined;
    this.#fraction = 1;
    this.#log.info({ sheddingSeconds: round((this.#lastSampleAt - this.#enteredAt) / 1000) }, 'overload: back to normal');
    this.#onState?.('normal');
  }
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}
