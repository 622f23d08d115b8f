/**
 * Admission control: turns load samples into how much new work to take.
 *
 *           any signal at/over its threshold for 2 samples (heap: 1)
 *   normal ───────────────────────────────────────► shedding
 *     ▲        (admit fraction ×0.8 per hot sample,  │
 *     │         +0.05 per cool sample, ×1.5 + 0.05   │
 *     │         when the loop also has idle time;    │
 *     │         in between it holds)                 │
 *     └──────────── admit fraction back at 1 and ◄───┘
 *                   `recoverSamples` cool samples in a row
 *
 * While shedding, a new out-of-dialog request from outside is admitted with
 * probability `admitFraction` (AIMD, like TCP's window): a binary on/off
 * switch would shed everything during a surge, because shedding itself keeps
 * the event loop busy. Only the signals that mean "work is waiting" (loop
 * delay, the kernel receive queue, pending INVITEs, heap) drive it; a busy
 * loop that keeps up is not overloaded, and a receive backlog that is
 * already shrinking holds the share rather than cutting it (the backlog lags
 * behind what we admit; cutting on it overshoots).
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

/** Hot samples in a row before shedding starts. */
const ENTER_SAMPLES = 2;
/** Below this fraction of every threshold a sample counts as cool. */
const COOL = 0.8;
const DECREASE = 0.8;
/** The receive backlog counts as draining when it shrank below this share of the previous sample. */
const DRAINING = 0.95;
const INCREASE = 0.05;
/** Growth of the admitted share per cool sample when the loop has idle time. */
const FAST_INCREASE = 1.5;
/** Never shut the door completely: some calls keep getting through and the fraction can be probed upward. */
const MIN_FRACTION = 0.02;
/** A sampling timer this many intervals late means the loop is stalled right now. */
const STALL_INTERVALS = 3;
/** Share of a request's time our loop must have stood still for its silence to be excused. */
const STALL_SHARE = 0.25;
/** Loop delay up to this is normal jitter, not a stall, ms. */
const STALL_JITTER_MS = 20;
/** Samples of stall history kept (at 100 ms: 102 s). */
const STALL_HISTORY = 1024;

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
  #hotRun = 0;
  #lastQueued = 0;
  #heapHot = false;
  #lastSampleAt: number;
  #lastLoopMaxMs = 0;
  /** Last time we were overloaded (a hot sample, or shedding). */
  #troubleAt = -Infinity;
  /** Ring of the last samples' stalls (ms beyond jitter) and their times: enough for a Timer B of 32 s. */
  readonly #stalls = new Float64Array(STALL_HISTORY);
  readonly #stallAt = new Float64Array(STALL_HISTORY).fill(-Infinity);
  #stallHead = 0;
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
   * `since` (performance.now() ms, when the request went out): we were
   * overloaded (shedding, or a signal over its threshold) at some point since
   * then, or the loop stood still for at least a quarter of that time (a
   * 100 ms pause does not explain 4 s of silence), counting a stall going on
   * right now.
   */
  excuses(since: number): boolean {
    if (this.#state === 'shedding') return true;
    const interval = this.#t.sampleIntervalMs;
    if (this.#troubleAt >= since - interval) return true;
    const now = this.#now();
    const sinceSample = now - this.#lastSampleAt;
    let stalled = sinceSample > STALL_INTERVALS * interval ? sinceSample : 0;
    const h = this.#stalls;
    for (let i = 0, at = this.#stallHead; i < h.length; i++) {
      at = (at - 1 + h.length) % h.length;
      const t = this.#stallAt[at]!;
      if (t < since) break;
      stalled += h[at]!;
    }
    return stalled >= STALL_SHARE * Math.max(interval, now - since);
  }

  update(s: LoadSample): void {
    const t = this.#t;
    this.#lastSampleAt = s.at;
    this.#lastLoopMaxMs = s.loopMaxMs;
    const previous = this.#lastQueued;
    const growth = s.udpQueuedBytes - previous;
    this.#lastQueued = s.udpQueuedBytes;
    const hot = this.#hotSignal(s, growth, s.udpQueuedBytes < previous * DRAINING);
    this.#heapHot = s.heapFraction >= t.heapFraction;
    if (hot !== undefined) this.#troubleAt = s.at;
    this.#recordStall(s);

    if (hot !== undefined) {
      this.#reason = hot;
      this.#coolRun = 0;
      this.#hotRun++;
      // A single hot sample (a GC pause, JIT warm-up) is not overload; the heap is never ignored.
      if (this.#state === 'normal' && this.#hotRun < ENTER_SAMPLES && hot !== 'heap') return;
      this.#fraction = Math.max(MIN_FRACTION, this.#fraction * DECREASE);
      if (this.#state === 'normal') this.#enter(hot, s);
      return;
    }
    this.#hotRun = 0;
    if (this.#state === 'normal') return;
    this.#troubleAt = s.at;
    if (!this.#isCool(s, growth)) {
      this.#coolRun = 0;
      return;
    }
    // Idle time on the loop: the surge is over, come back fast; else probe upward slowly.
    this.#fraction = Math.min(1, s.elu < t.eventLoopUtilization ? this.#fraction * FAST_INCREASE + INCREASE : this.#fraction + INCREASE);
    this.#coolRun++;
    if (this.#fraction >= 1 && this.#coolRun >= t.recoverSamples) this.#leave();
  }

  /** The signal that says work is piling up, if any. */
  #hotSignal(s: LoadSample, growth: number, draining: boolean): OverloadSignal | undefined {
    const t = this.#t;
    if (s.heapFraction >= t.heapFraction) return 'heap';
    if (s.loopDelayMs >= t.loopDelayMs) return 'loop-delay';
    if (s.udpDrops > 0) return 'udp-queue';
    // A backlog already shrinking is being dealt with: it holds the share admitted rather than cutting it.
    if (!draining && s.udpQueuedBytes >= t.udpQueueBytes) return 'udp-queue';
    // A backlog growing fast is caught before it is large.
    if (s.udpQueuedBytes >= t.udpQueueBytes / 4 && growth >= t.udpQueueBytes / 8) return 'udp-queue';
    // Busy alone is not overloaded; busy with a backlog building is.
    if (!draining && s.elu >= t.eventLoopUtilization && s.udpQueuedBytes >= t.udpQueueBytes / 2) return 'event-loop-utilization';
    if (s.pendingInvites >= t.maxPendingInvites) return 'pending-invites';
    return undefined;
  }

  /** Every signal well below its threshold and no backlog building (hysteresis: between cool and hot the share holds). */
  #isCool(s: LoadSample, growth: number): boolean {
    const t = this.#t;
    return s.heapFraction < t.heapFraction * COOL && s.loopDelayMs < t.loopDelayMs * COOL &&
      s.udpQueuedBytes < t.udpQueueBytes / 8 && growth < t.udpQueueBytes / 64 && s.pendingInvites < t.maxPendingInvites * COOL;
  }

  /** The sample's longest pause beyond normal jitter, kept for excuses(). */
  #recordStall(s: LoadSample): void {
    const at = this.#stallHead;
    this.#stallAt[at] = s.at;
    this.#stalls[at] = Math.max(0, s.loopMaxMs - STALL_JITTER_MS);
    this.#stallHead = (at + 1) % this.#stalls.length;
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
