/**
 * Starts `count` jobs at `rate` per second, spread evenly: every tick it
 * starts as many as are due by the clock, so a late tick catches up instead
 * of lowering the rate. Resolves with the milliseconds from the first start
 * to the last.
 */
export function pace(rate: number, count: number, start: (index: number) => void): Promise<number> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    let started = 0;
    const tick = (): void => {
      const now = performance.now();
      const due = Math.min(count, Math.floor(((now - t0) / 1000) * rate) + 1);
      while (started < due) start(started++);
      if (started >= count) {
        resolve(performance.now() - t0);
        return;
      }
      // 1 ms ticks keep bursts to a few requests at the rates measured here.
      setTimeout(tick, 1);
    };
    tick();
  });
}
