/**
 * RFC 3261 timer values (Table 4, §17) and the one-shot timer slot every
 * transaction uses.
 *
 * Why plain setTimeout for the long timers (B, D, F, H, J, K, L, M, C) too:
 * Node keeps one list per distinct duration behind a single OS timer, and all
 * transactions use the same few durations (64·T1, T4, Timer C), so starting
 * or cancelling one is O(1) and the OS-timer count stays constant no matter
 * how many transactions exist. That already is the coarse shared mechanism;
 * a hand-made wheel would add code and nothing else.
 */

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
 * One named timer of a transaction: start replaces a running one, stop is
 * idempotent. A transaction stops all its slots when it terminates.
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
