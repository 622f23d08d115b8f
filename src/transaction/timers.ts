/**
 * RFC 3261 timer values (Table 4, §17) and the timer slot every transaction
 * uses.
 *
 * Two kinds of timers (STYLE.md): the T1-based retransmission timers (A, E,
 * G) are precise, one Node timer each. The long timers (B, C, D, F, H, I,
 * J, K, L, M) go into a shared lane per duration (timer-lane.ts): tens of
 * thousands of them run at once under call load, and a lane costs a few
 * fields per timer instead of a Node Timeout object and two closures.
 */
import { laneFor, type LaneEntry, type TimerLane } from './timer-lane.js';

/** Base timer values; every other timer derives from these. */
export interface TimerSettings {
  /** RTT estimate (T1). @default 500 */
  t1Ms: number;
  /** Retransmission cap for non-INVITE requests and INVITE responses (T2). @default 4000 */
  t2Ms: number;
  /** Maximum time a message stays in the network (T4). @default 5000 */
  t4Ms: number;
  /** Proxy INVITE timeout, RFC 3261 §16.6 step 11 ("greater than 3 minutes"). @default 180000 */
  timerCMs: number;
}

export const DEFAULT_TIMER_SETTINGS: Readonly<TimerSettings> = {
  t1Ms: 500,
  t2Ms: 4000,
  t4Ms: 5000,
  timerCMs: 180_000,
};

/** Fill in defaults; non-positive or non-finite values fall back to the default. */
export function resolveTimerSettings(partial: Partial<TimerSettings> = {}): TimerSettings {
  const pick = (key: keyof TimerSettings): number => {
    const v = partial[key];
    return typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : DEFAULT_TIMER_SETTINGS[key];
  };
  return { t1Ms: pick('t1Ms'), t2Ms: pick('t2Ms'), t4Ms: pick('t4Ms'), timerCMs: pick('timerCMs') };
}

/** 64·T1: Timers B, F, H, J (UDP), L, M and, here, D on UDP (RFC 3261 §17.1.1.2: "at least 32 s" = 64·T1 at the default T1). */
export function transactionTimeoutMs(s: TimerSettings): number {
  return 64 * s.t1Ms;
}

/**
 * One precise timer of a transaction (the T1-based retransmissions A, E, G):
 * start replaces a running one, stop is idempotent. A transaction stops all
 * its timers when it terminates.
 */
export class TimerSlot {
  #handle: NodeJS.Timeout | undefined;

  get running(): boolean {
    return this.#handle !== undefined;
  }

  start(ms: number, fire: () => void): void {
    this.stop();
    this.#handle = setTimeout(() => {
      this.#handle = undefined;
      fire();
    }, ms);
  }

  stop(): void {
    if (this.#handle !== undefined) {
      clearTimeout(this.#handle);
      this.#handle = undefined;
    }
  }
}

/**
 * One long timer of a transaction (B, C, D, F, H, I, J, K, L, M), run in the
 * shared lane of its duration: it may fire up to the lane's granularity
 * late, never early. Same contract as TimerSlot otherwise. The callback is
 * a function shared by every instance, called with `owner`: tens of
 * thousands of these wait at once, and a closure per start would cost a
 * closure and a context each.
 */
export class CoarseTimer implements LaneEntry {
  #owner: unknown;
  #fire: ((owner: never) => void) | undefined;
  /** @internal Lane bookkeeping (timer-lane.ts). */
  lane: TimerLane | undefined;
  /** @internal */
  deadline = 0;
  /** @internal */
  prev: LaneEntry | undefined;
  /** @internal */
  next: LaneEntry | undefined;

  get running(): boolean {
    return this.lane !== undefined;
  }

  start<T>(ms: number, owner: T, fire: (owner: T) => void): void {
    this.stop();
    this.#owner = owner;
    this.#fire = fire;
    laneFor(ms).add(this);
  }

  stop(): void {
    if (this.lane !== undefined) this.lane.remove(this);
    this.#owner = undefined;
    this.#fire = undefined;
  }

  /** @internal Called by the lane once it has unlinked this entry. */
  expired(): void {
    const fire = this.#fire as ((owner: unknown) => void) | undefined;
    const owner = this.#owner;
    this.#owner = undefined;
    this.#fire = undefined;
    fire?.(owner);
  }
}
