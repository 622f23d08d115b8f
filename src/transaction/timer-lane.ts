/**
 * A coarse timer lane: every running timer of one duration, in start order,
 * behind one Node timer. Equal durations mean deadlines come in start order
 * too, so the lane is a doubly linked list (the entries are the links, no
 * allocation per timer): add at the tail, remove anywhere, expire from the
 * head. The Node timer is armed for the head's deadline plus the lane's
 * granularity, so one wake-up expires every entry due by then; an entry
 * fires up to `granularity` late, never early.
 *
 * Lanes are shared by every transaction layer of the process, like Node's
 * own timer lists (one per duration); a lane with no entries holds no Node
 * timer, so it keeps nothing alive.
 */
import { performance } from 'node:perf_hooks';

/** What a lane links: a timer slot (timers.ts). */
export interface LaneEntry {
  lane: TimerLane | undefined;
  deadline: number;
  prev: LaneEntry | undefined;
  next: LaneEntry | undefined;
  /** Called after the entry was unlinked, once its deadline passed. */
  expired(): void;
}

/** Longest a coarse timer fires late: 1/64 of its duration, at most this. */
const MAX_GRANULARITY_MS = 100;

export class TimerLane {
  readonly durationMs: number;
  readonly granularityMs: number;
  #head: LaneEntry | undefined;
  #tail: LaneEntry | undefined;
  #size = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(durationMs: number) {
    this.durationMs = durationMs;
    this.granularityMs = Math.min(MAX_GRANULARITY_MS, Math.floor(durationMs / 64));
  }

  /** Entries waiting (for tests and diagnostics). */
  get size(): number {
    return this.#size;
  }

  add(entry: LaneEntry): void {
    entry.lane = this;
    entry.deadline = performance.now() + this.durationMs;
    entry.prev = this.#tail;
    entry.next = undefined;
    if (this.#tail === undefined) this.#head = entry;
    else this.#tail.next = entry;
    this.#tail = entry;
    this.#size++;
    if (this.#timer === undefined) this.#arm(this.durationMs);
  }

  remove(entry: LaneEntry): void {
    if (entry.lane !== this) return;
    const { prev, next } = entry;
    if (prev === undefined) this.#head = next;
    else prev.next = next;
    if (next === undefined) this.#tail = prev;
    else next.prev = prev;
    entry.lane = undefined;
    entry.prev = undefined;
    entry.next = undefined;
    this.#size--;
    if (this.#size === 0 && this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }

  #arm(ms: number): void {
    this.#timer = setTimeout(() => this.#expire(), Math.max(1, Math.ceil(ms + this.granularityMs)));
  }

  #expire(): void {
    this.#timer = undefined;
    const now = performance.now();
    for (let e = this.#head; e !== undefined && e.deadline <= now; e = this.#head) {
      this.remove(e);
      try {
        e.expired();
      } catch (err) {
        // As uncaught as it would be from its own Node timer, but the rest of the lane still expires.
        process.nextTick(() => {
          throw err;
        });
      }
    }
    // The callbacks may have added entries (a new timer of this duration) and armed the lane already.
    if (this.#head !== undefined && this.#timer === undefined) this.#arm(this.#head.deadline - now);
  }
}

const lanes = new Map<number, TimerLane>();

/** The process's lane for timers of `durationMs`. */
export function laneFor(durationMs: number): TimerLane {
  let lane = lanes.get(durationMs);
  if (lane === undefined) {
    lane = new TimerLane(durationMs);
    lanes.set(durationMs, lane);
  }
  return lane;
}
