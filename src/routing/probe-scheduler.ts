interface Task {
  timer: NodeJS.Timeout | undefined;
  intervalMs: number;
  run: () => Promise<void>;
}

/**
 * Runs one periodic task per target. The first run of each task comes after
 * a random fraction of its interval so targets configured together are not
 * probed in lockstep; later runs come one interval after the previous run
 * finished, so a slow probe never overlaps the next one. Timers are unref'd:
 * probing alone never keeps the process alive.
 */
export class ProbeScheduler {
  readonly #tasks = new Map<string, Task>();
  readonly #random: () => number;
  #closed = false;

  constructor(random: () => number = Math.random) {
    this.#random = random;
  }

  /** Start (or restart) task `id`. `run` must not reject. */
  add(id: string, intervalMs: number, run: () => Promise<void>): void {
    this.remove(id);
    if (this.#closed || !(intervalMs > 0)) return;
    const task: Task = { timer: undefined, intervalMs, run };
    this.#tasks.set(id, task);
    this.#arm(id, task, Math.floor(this.#random() * intervalMs));
  }

  /** Stop task `id`; a run in progress finishes but is not rescheduled. */
  remove(id: string): void {
    const task = this.#tasks.get(id);
    if (task === undefined) return;
    clearTimeout(task.timer);
    this.#tasks.delete(id);
  }

  has(id: string): boolean {
    return this.#tasks.has(id);
  }

  get size(): number {
    return this.#tasks.size;
  }

  /** Idempotent: clears every timer and forgets every task. */
  close(): void {
    this.#closed = true;
    for (const task of this.#tasks.values()) clearTimeout(task.timer);
    this.#tasks.clear();
  }

  #arm(id: string, task: Task, delayMs: number): void {
    task.timer = setTimeout(() => {
      task.timer = undefined;
      void task.run().finally(() => {
        // Removed or replaced while running: that owner schedules its own runs.
        if (this.#tasks.get(id) === task) this.#arm(id, task, task.intervalMs);
      });
    }, delayMs);
    task.timer.unref();
  }
}
