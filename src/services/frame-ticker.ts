/**
 * One 20 ms clock for every tone call: each tick asks every subscriber for
 * the frames that fell due. Deadlines are counted from the start (start +
 * n·20 ms), so timer lateness does not add up to drift; after a stall longer
 * than MAX_CATCH_UP frames the missed frames are skipped (the receiver's
 * jitter buffer would drop them anyway) and the timestamps jump as real time
 * did. The timer runs only while someone listens, and is unref'd.
 */
import { FRAME_MS } from './tone-frames.js';

/** Frames sent at most in one tick to catch up. */
export const MAX_CATCH_UP = 3;

export interface FrameSink {
  /** Send one frame; `skipped` frames before it were not sent (their timestamps still count). */
  frame(skipped: number): void;
}

export class FrameTicker {
  readonly #sinks = new Set<FrameSink>();
  readonly #periodMs: number;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | undefined;
  #start = 0;
  #ticks = 0;

  constructor(periodMs = FRAME_MS, now: () => number = () => performance.now()) {
    this.#periodMs = periodMs;
    this.#now = now;
  }

  get size(): number {
    return this.#sinks.size;
  }

  add(sink: FrameSink): void {
    this.#sinks.add(sink);
    if (this.#timer === undefined) {
      this.#start = this.#now();
      this.#ticks = 0;
      this.#schedule();
    }
  }

  remove(sink: FrameSink): void {
    this.#sinks.delete(sink);
    if (this.#sinks.size === 0 && this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }

  /** One tick (the timer's; tests call it directly): how many frames were due. */
  tick(): number {
    const due = Math.floor((this.#now() - this.#start) / this.#periodMs) + 1 - this.#ticks;
    if (due <= 0) return 0;
    const skipped = Math.max(0, due - MAX_CATCH_UP);
    const send = due - skipped;
    this.#ticks += due;
    for (const sink of [...this.#sinks]) {
      for (let i = 0; i < send; i++) {
        try {
          sink.frame(i === 0 ? skipped : 0);
        } catch {
          // One call's failure must not stop the others' audio.
        }
      }
    }
    return due;
  }

  #schedule(): void {
    const next = this.#start + this.#ticks * this.#periodMs;
    this.#timer = setTimeout(() => {
      this.tick();
      if (this.#sinks.size > 0) this.#schedule();
      else this.#timer = undefined;
    }, Math.max(0, next - this.#now()));
    this.#timer.unref();
  }
}
