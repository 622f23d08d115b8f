/**
 * Admission control: turns load samples into how much new work to take.
 *
 *            lateness over its target for 3 samples in a row,
 *            or a hard limit hit (kernel queue full, drops,
 *            pending INVITEs: 2 samples; heap: 1)
 *   normal ───────────────────────────────────────► shedding
 *     ▲        new requests admitted up to a rate:   │
 *     │        cut when the loop is asked more than  │
 *     │        it can do, raised with its idle time, │
 *     │        held in between                       │
 *     └──────────── nothing shed and no lateness ◄───┘
 *                   for `recoverSamples` samples
 *
 * Lateness is how long a request arriving now waits before we look at it:
 * the loop's delay (99th percentile over the sample) plus the estimated wait
 * in the kernel receive queue (its datagrams over our read rate). Like
 * CoDel, what counts is a *standing* backlog: only lateness that stayed over
 * its target for three samples in a row (300 ms by default) means we take in
 * more than we carry. A busy loop that keeps up, a burst that drains, a GC
 * pause or a JIT warm-up do not shed.
 *
 * While shedding, new out-of-dialog requests from outside are admitted up to
 * a rate (a token bucket) and the rest get a 503. A rate, not a share of
 * what is offered: when the surge stops, what is offered falls under the
 * rate and everything is admitted at once, before the next sample; and during
 * a surge what gets through does not depend on how hard the callers push.
 * The rate is steered by the demand on the loop (#demand: the work it was
 * asked for over what it did, read from its utilization and from how the
 * receive queue moved): over 1 it is cut towards what the loop did, at most
 * once every CUT_HOLD samples (what we admit shows in the queue only a
 * little later, with the answers of the calls it started; cutting on every
 * sample overshoots); under the target demand (`eventLoopUtilization`) it is
 * raised in proportion, so idle time is never left unused for long.
 */
import { performance } from 'node:perf_hooks';
import type { Logger } from '../log/logger.js';
import type { LoadSample } from './load-monitor.js';

export type OverloadState = 'normal' | 'shedding';

/** What tripped admission control; also the `reason` label of sbc_overload_shed_total. */
export type OverloadSignal = 'loop-delay' | 'queue-delay' | 'udp-queue' | 'pending-invites' | 'heap';

export interface AdmissionThresholds {
  /** Lateness target: loop delay p99 + estimated kernel queue wait, ms. */
  loopDelayMs: number;
  /** Target demand while shedding: below it the admitted rate grows, between it and 1 it holds. */
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

/** Hard-limit samples in a row before shedding starts (the heap: 1). */
const ENTER_SAMPLES = 2;
/** Late samples in a row that make a standing backlog (CoDel's interval, in samples). */
const LATE_SAMPLES = 3;
/** Below this share of the lateness target a sample counts as early (hysteresis: in between the rate holds) … */
const COOL = 0.5;
/** … and below this share of the heap and pending-INVITE limits. */
const COOL_LIMITS = 0.8;
/** Cut per sample on a hard limit, or on lateness from the loop itself; also the first cut at most. */
const DECREASE = 0.8;
/** Deepest cut on demand. */
const MAX_CUT = 0.5;
/** After a cut on demand, samples before the next one: what we admit shows in the queue a little later. */
const CUT_HOLD = 2;
/** The lateness counts as shrinking when it fell below this share of the previous sample's. */
const DRAINING = 0.9;
/** Samples over which a queue standing over the lateness target is to be worked off. */
const DRAIN_SAMPLES = 5;
/** With idle time the rate grows towards the target demand (eventLoopUtilization) by its ratio, at most this factor per sample … */
const MAX_GROWTH = 2;
/** … and by at least this share. */
const MIN_GROWTH = 1.05;
/** Weight of the newest sample in the smoothed offered rate (a loop stalled for one sample reads little: not a fall in demand). */
const OFFERED_WEIGHT = 0.3;
/** Never shut the door completely: this share of what is offered (and 1/s) keeps getting through. */
const MIN_SHARE = 0.02;
const MIN_RATE = 1;
/** Tokens the bucket holds, in seconds of the rate: a burst of that many is admitted at once. */
const BURST_S = 0.05;
/** Heap in use now (garbage included) over this share of the limit is hot even before a full GC says what is alive. */
const HEAP_NOW = 0.95;
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
  #reason: OverloadSignal | undefined;
  /** Share admitted until a rate is known (the first sample after shedding starts). */
  #fraction = 1;
  /** New requests per second admitted while shedding; undefined until the first sample of offered requests. */
  #rate: number | undefined;
  #tokens = 0;
  #tokensAt = 0;
  /** New requests offered and admitted since the last sample (counted while shedding). */
  #offered = 0;
  #admitted = 0;
  /** Share of the offered admitted in the last sample that had any. */
  #share = 1;
  /** New requests offered per second while shedding, smoothed. */
  #offeredRate = 0;
  #coolRun = 0;
  #hotRun = 0;
  #lateRun = 0;
  #sinceCut = Infinity;
  #lastQueued = 0;
  #lastQueuedDatagrams = 0;
  #lastLateness = 0;
  #lastDemand = 0;
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

  /** Share of the new requests offered that was admitted (last sample with any; 1 when normal). */
  get admitFraction(): number {
    return this.#state === 'normal' ? 1 : this.#share;
  }

  /** New requests per second admitted while shedding (undefined when normal or not known yet). */
  get admitRate(): number | undefined {
    return this.#state === 'normal' ? undefined : this.#rate;
  }

  /** The heap is over its threshold: new work from inside is refused too. */
  get critical(): boolean {
    return this.#heapHot;
  }

  /** Longest loop stall in the last sample, ms: what a datagram read now may have waited for behind it. */
  get lastStallMs(): number {
    return this.#lastLoopMaxMs;
  }

  /** How long a request arriving now waits before we look at it (last sample), ms. */
  get latenessMs(): number {
    return this.#lastLateness;
  }

  /** Work asked of the loop in the last sample over what it can do (1 = exactly busy; see #demand). */
  get demand(): number {
    return this.#lastDemand;
  }

  /** Take this new out-of-dialog request? Always true when normal; while shedding, up to the admitted rate. */
  admitsNew(): boolean {
    if (this.#state === 'normal') return true;
    this.#offered++;
    let ok: boolean;
    const rate = this.#rate;
    if (rate === undefined) {
      ok = this.#random() < this.#fraction;
    } else {
      const now = this.#now();
      this.#tokens = Math.min(Math.max(1, rate * BURST_S), this.#tokens + ((now - this.#tokensAt) * rate) / 1000);
      this.#tokensAt = now;
      ok = this.#tokens >= 1;
      if (ok) this.#tokens -= 1;
    }
    if (ok) this.#admitted++;
    return ok;
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
    const elapsedS = Math.max(s.elapsedMs, 1) / 1000;
    this.#lastSampleAt = s.at;
    this.#lastLoopMaxMs = s.loopMaxMs;
    const previousQueued = this.#lastQueued;
    this.#lastQueued = s.udpQueuedBytes;
    const lateness = s.loopDelayMs + s.queueDelayMs;
    const previousLateness = this.#lastLateness;
    this.#lastLateness = lateness;
    const demand = this.#demand(s);
    this.#lastDemand = demand;
    this.#lastQueuedDatagrams = s.queuedDatagrams;
    this.#lateRun = lateness >= t.loopDelayMs ? this.#lateRun + 1 : 0;
    this.#heapHot = this.#heapOver(s, 1);
    const hard = this.#hardSignal(s, s.udpQueuedBytes < previousQueued * DRAINING);
    const late = this.#lateRun >= LATE_SAMPLES;
    if (hard !== undefined || late) this.#troubleAt = s.at;
    this.#recordStall(s);
    this.#hotRun = hard !== undefined ? this.#hotRun + 1 : 0;
    const offered = this.#offered / elapsedS;
    const admitted = this.#admitted / elapsedS;
    const shed = this.#offered - this.#admitted;
    if (this.#offered > 0) this.#share = this.#admitted / this.#offered;
    this.#offered = 0;
    this.#admitted = 0;
    this.#sinceCut++;

    if (this.#state === 'normal') {
      // A single hard sample (a burst) is not overload, the heap always is; lateness has had its samples.
      const enter = hard !== undefined && (hard === 'heap' || this.#hotRun >= ENTER_SAMPLES) ? hard : late ? lateSignal(s) : undefined;
      if (enter === undefined) return;
      this.#reason = enter;
      this.#coolRun = 0;
      // Nothing was counted while normal: admit the share the demand says the loop keeps up with, until a rate is known.
      this.#fraction = Math.max(MIN_SHARE, Math.min(DECREASE, 1 / demand));
      this.#share = this.#fraction;
      this.#rate = undefined;
      this.#sinceCut = 0;
      this.#enter(enter, s);
      return;
    }

    this.#troubleAt = s.at;
    if (this.#rate === undefined) {
      if (offered === 0) {
        // Nothing offered yet to measure a rate on: a hard limit still cuts the share the coin admits.
        if (hard !== undefined) this.#share = this.#fraction = Math.max(MIN_SHARE, this.#fraction * DECREASE);
        return;
      }
      // The first sample shed by a coin: the rate is the share it admitted of what was offered.
      this.#offeredRate = offered;
      this.#rate = Math.max(MIN_RATE, MIN_SHARE * offered, offered * this.#fraction);
      this.#tokens = 0;
      this.#tokensAt = this.#now();
    } else {
      this.#offeredRate += OFFERED_WEIGHT * (offered - this.#offeredRate);
    }
    const floor = Math.max(MIN_RATE, MIN_SHARE * this.#offeredRate);
    // What a cut starts from: the rate, or what is offered when that is less (then nothing was being shed).
    const base = Math.max(floor, Math.min(this.#rate, this.#offeredRate));
    // Demand over 1 with the lateness still under half its target is a busy loop keeping up (or one starved
    // sample): no cut. Hard limits cut regardless.
    const overDemand = demand > 1 && lateness >= t.loopDelayMs * COOL;
    if (hard !== undefined || overDemand) {
      // A hard limit (memory, drops, a full queue, too many pending INVITEs) cuts by DECREASE at least; more asked
      // than the loop can do (the queue grows, or stands over the target) cuts towards what it did. At most every
      // CUT_HOLD samples (a GC pause fills the queue, and it takes a sample or two to drain), the heap excepted.
      this.#coolRun = 0;
      this.#reason = hard ?? 'queue-delay';
      if (hard === 'heap' || this.#sinceCut >= CUT_HOLD) {
        const factor = Math.min(hard !== undefined ? DECREASE : 1, overDemand ? Math.max(MAX_CUT, 1 / demand) : 1);
        this.#rate = Math.max(floor, base * factor);
        this.#sinceCut = 0;
      }
      return;
    }
    if (late && s.loopDelayMs >= s.queueDelayMs && lateness >= previousLateness * DRAINING) {
      // Late by the loop itself, not the queue (e.g. work from other sockets), and not getting better.
      this.#coolRun = 0;
      this.#reason = 'loop-delay';
      if (this.#sinceCut >= CUT_HOLD) {
        this.#rate = Math.max(floor, base * DECREASE);
        this.#sinceCut = 0;
      }
      return;
    }
    if (!this.#isEarly(s, lateness)) {
      this.#coolRun = 0;
      return;
    }
    // Idle time: raise the rate in proportion, from what was admitted; between the target demand and 1 it holds.
    const target = t.eventLoopUtilization;
    if (demand < target && shed > 0) {
      const growth = Math.min(MAX_GROWTH, Math.max(MIN_GROWTH, target / Math.max(demand, 0.01)));
      // No higher than what is offered (a little over): above it the rate means nothing and would admit a new surge whole.
      this.#rate = Math.max(this.#rate, Math.min(Math.max(this.#rate, admitted) * growth, Math.max(offered, this.#offeredRate) * 1.1));
    }
    this.#coolRun = shed > 0 ? 0 : this.#coolRun + 1;
    if (this.#coolRun >= t.recoverSamples) this.#leave();
  }

  /**
   * Work asked of the loop in this sample over what it can do. The loop was
   * busy `elu` of the time reading R datagrams; the queue grew by G more it
   * could not get to, and E stand over the lateness target (to be worked off
   * within DRAIN_SAMPLES): demand = elu · (R + G + E / DRAIN_SAMPLES) / R.
   * A draining queue (G < 0) shows spare capacity. Without reads (no UDP,
   * or the gate not installed) it is the utilization alone.
   */
  #demand(s: LoadSample): number {
    const r = s.datagramsRead;
    if (r <= 0 || s.elapsedMs <= 0) return s.elu;
    const growth = s.queuedDatagrams - this.#lastQueuedDatagrams;
    const standing = Math.max(0, s.queuedDatagrams - (r / s.elapsedMs) * this.#t.loopDelayMs);
    return Math.max(0, (s.elu * (r + growth + standing / DRAIN_SAMPLES)) / r);
  }

  /** The heap over `share` of its threshold: what survived the last full GC, or what is in use now when that is near the limit. */
  #heapOver(s: LoadSample, share: number): boolean {
    const limit = this.#t.heapFraction * share;
    return s.heapLiveFraction >= limit || s.heapFraction >= Math.max(limit, HEAP_NOW * share);
  }

  /** A hard limit hit, if any: memory, kernel drops or a near-full queue, too many pending INVITEs. */
  #hardSignal(s: LoadSample, draining: boolean): OverloadSignal | undefined {
    const t = this.#t;
    if (this.#heapHot) return 'heap';
    if (s.udpDrops > 0) return 'udp-queue';
    // A full queue already shrinking is being dealt with.
    if (!draining && s.udpQueuedBytes >= t.udpQueueBytes) return 'udp-queue';
    // (Drops count even while draining: what arrives meanwhile is lost.)
    if (s.pendingInvites >= t.maxPendingInvites) return 'pending-invites';
    return undefined;
  }

  /**
   * The lateness well below its target and the queue short; the heap and the
   * pending INVITEs under their limits, well under when they were what
   * tripped (hysteresis: in between the rate holds).
   */
  #isEarly(s: LoadSample, lateness: number): boolean {
    const t = this.#t;
    if (lateness >= t.loopDelayMs * COOL || s.udpQueuedBytes >= t.udpQueueBytes / 4) return false;
    const share = (signal: OverloadSignal): number => (this.#reason === signal ? COOL_LIMITS : 1);
    return !this.#heapOver(s, share('heap')) && s.pendingInvites < t.maxPendingInvites * share('pending-invites');
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
      queueDelayMs: round(s.queueDelayMs),
      elu: round(s.elu),
      pendingInvites: s.pendingInvites,
      heapFraction: round(s.heapFraction),
      heapLiveFraction: round(s.heapLiveFraction),
      udpQueuedBytes: s.udpQueuedBytes,
      udpDrops: s.udpDrops,
    }, 'overload: shedding new requests');
    this.#onState?.('shedding');
  }

  #leave(): void {
    this.#state = 'normal';
    this.#reason = undefined;
    this.#fraction = 1;
    this.#share = 1;
    this.#rate = undefined;
    this.#coolRun = 0;
    this.#log.info({ sheddingSeconds: round((this.#lastSampleAt - this.#enteredAt) / 1000) }, 'overload: back to normal');
    this.#onState?.('normal');
  }
}

function lateSignal(s: LoadSample): OverloadSignal {
  return s.queueDelayMs >= s.loopDelayMs ? 'queue-delay' : 'loop-delay';
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}
