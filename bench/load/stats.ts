/**
 * What one generator worker reports, and how the reports of several workers
 * add up into one step's figures.
 */

/** One worker's report for one step (JSON over IPC or stdout). */
export interface WorkerReport {
  mode: string;
  /** Transactions (calls or REGISTERs) started. */
  started: number;
  /** Completed without a failure. */
  ok: number;
  failed: number;
  /** Failure reasons and their counts, e.g. `timeout:INVITE`, `status:503:BYE`. */
  failures: Record<string, number>;
  /** Milliseconds from the first request to the last one started. */
  sendMs: number;
  /** Latency of each completed transaction in ms (INVITE sent → 200, or REGISTER sent → 200). */
  latenciesMs: number[];
  /** CPU this worker process used while it was sending, user + system, in ms. */
  cpuMs: number;
}

/** The figures of one step, all workers together. */
export interface StepFigures {
  started: number;
  ok: number;
  failed: number;
  failures: Record<string, number>;
  /** Rate at which requests actually left the generators, per second. */
  sentRate: number;
  p50Ms: number;
  p99Ms: number;
}

/** The `q` quantile (0..1) of ascending `sorted`, nearest rank; NaN when empty. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank] ?? Number.NaN;
}

/** Add up the workers' reports of one step. */
export function combine(reports: readonly WorkerReport[]): StepFigures {
  const failures: Record<string, number> = {};
  const latencies: number[] = [];
  let started = 0;
  let ok = 0;
  let failed = 0;
  let sendMs = 0;
  for (const r of reports) {
    started += r.started;
    ok += r.ok;
    failed += r.failed;
    sendMs = Math.max(sendMs, r.sendMs);
    for (const [k, v] of Object.entries(r.failures)) failures[k] = (failures[k] ?? 0) + v;
    for (const l of r.latenciesMs) latencies.push(l);
  }
  latencies.sort((a, b) => a - b);
  return {
    started,
    ok,
    failed,
    failures,
    sentRate: sendMs > 0 ? started / (sendMs / 1000) : 0,
    p50Ms: quantile(latencies, 0.5),
    p99Ms: quantile(latencies, 0.99),
  };
}

/** A latency for display: two decimals, or `-` when there is none. */
export function ms(value: number): string {
  return Number.isFinite(value) ? value.toFixed(2) : '-';
}
