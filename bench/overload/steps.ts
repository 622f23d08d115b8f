/**
 * A step load against one system: one SIPp caller run per step, started
 * back to back on the clock (a step's stragglers overlap the next step, as
 * they would in real traffic), while the system is sampled once a second
 * (its /metrics, memory, kernel UDP drops). Each step's figures are then its
 * own caller's outcomes plus the samples taken while it was sending.
 */
import { mkdtempSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePortInRange } from '../../test/helpers/free-port.js';
import { byLabel, rangeOf, sumOf, type Sample } from './prom-text.js';
import { callerFigures, type CallerFigures } from './sipp-files.js';
import { startCaller, type CallerResult } from './sipp.js';
import type { SystemUnderTest } from './systems.js';

export interface StepPlan {
  label: string;
  rate: number;
  durationS: number;
}

/** What the gateway's /metrics said during a step (undefined where the metric does not exist). */
export interface GatewayReadings {
  /** Largest nodejs_eventloop_lag_p99_seconds of the one-second scrapes, ms (each scrape covers the second before it). */
  loopLagP99Ms?: number;
  /** Largest nodejs_eventloop_lag_max_seconds, ms. */
  loopLagMaxMs?: number;
  /** Largest nodejs_heap_size_used_bytes seen. */
  heapUsedMaxBytes?: number;
  /** Highest sbc_overload_state seen. */
  overloadStateMax?: number;
  /** Growth of sbc_overload_shed_total by reason. */
  shed?: Record<string, number>;
  /** Growth of sbc_rejected_requests_total by reason (no-target, overload, ...). */
  rejected?: Record<string, number>;
  /** Lowest sbc_backend_up seen (0 = a target was down). */
  backendUpMin?: number;
  /** Scrapes that got no answer within 2 s. */
  scrapesMissed: number;
  scrapes: number;
}

export interface StepResult extends StepPlan {
  caller: CallerFigures;
  /** The caller run had to be killed at its bound. */
  callerKilled: boolean;
  gateway?: GatewayReadings;
  /** Kernel UDP drops at the system's SIP port during the step. */
  udpDrops: number;
  /** Memory at the end of the step's sending. */
  rssKb: number;
  pssKb: number;
  /** Backend-down log lines that appeared during the step. */
  backendDownLines: number;
  load1: number;
}

/** Seconds a caller waits after its last call for stragglers: 10 s for a final response (the scenario's wait), then the BYE. */
export const STRAGGLER_S = 22;

interface Scrape {
  at: number;
  samples: Sample[] | undefined;
}

/** Growth of each label's value between two scrapes (counters; a label new in `b` counts from 0). */
function growth(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(b)) {
    const d = v - (a[k] ?? 0);
    if (d !== 0) out[k] = d;
  }
  return out;
}

function readings(before: Sample[] | undefined, during: Scrape[]): GatewayReadings {
  const answered = during.map((s) => s.samples).filter((s): s is Sample[] => s !== undefined);
  const r: GatewayReadings = { scrapes: during.length, scrapesMissed: during.length - answered.length };
  const maxOf = (name: string): number | undefined => {
    let m: number | undefined;
    for (const s of answered) {
      const v = rangeOf(s, name)?.max;
      if (v !== undefined) m = Math.max(m ?? v, v);
    }
    return m;
  };
  const lagP99 = maxOf('nodejs_eventloop_lag_p99_seconds');
  if (lagP99 !== undefined) r.loopLagP99Ms = lagP99 * 1000;
  const lagMax = maxOf('nodejs_eventloop_lag_max_seconds');
  if (lagMax !== undefined) r.loopLagMaxMs = lagMax * 1000;
  const heap = maxOf('nodejs_heap_size_used_bytes');
  if (heap !== undefined) r.heapUsedMaxBytes = heap;
  const state = maxOf('sbc_overload_state');
  if (state !== undefined) r.overloadStateMax = state;
  let upMin: number | undefined;
  for (const s of answered) {
    const v = rangeOf(s, 'sbc_backend_up')?.min;
    if (v !== undefined) upMin = Math.min(upMin ?? v, v);
  }
  if (upMin !== undefined) r.backendUpMin = upMin;
  const last = answered[answered.length - 1];
  if (last !== undefined) {
    const base = before ?? [];
    if (sumOf(last, 'sbc_overload_shed_total') !== undefined) r.shed = growth(byLabel(base, 'sbc_overload_shed_total', 'reason'), byLabel(last, 'sbc_overload_shed_total', 'reason'));
    r.rejected = growth(byLabel(base, 'sbc_rejected_requests_total', 'reason'), byLabel(last, 'sbc_rejected_requests_total', 'reason'));
  }
  return r;
}

/**
 * Run `plan` against `sys`, steps back to back. Resolves when every caller
 * run has ended (the last one at most STRAGGLER_S after its sending).
 */
export async function runSteps(sys: SystemUnderTest, plan: readonly StepPlan[], log: (line: string) => void): Promise<StepResult[]> {
  const dir = mkdtempSync(join(tmpdir(), `overload-${sys.name}-`));
  const isGateway = sys.name === 'gateway';
  const scrapes: Scrape[] = [];
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const t = Date.now();
      if (isGateway) scrapes.push({ at: t, samples: await sys.scrape(2000) });
      await new Promise((r) => setTimeout(r, Math.max(0, 1000 - (Date.now() - t))));
    }
  })();
  const first = isGateway ? await sys.scrape(5000) : undefined;
  const runs: Array<{ step: StepPlan; done: Promise<CallerResult>; startedAt: number; endedAt: number; drops0: number; down0: number }> = [];
  const t0 = Date.now();
  let offset = 0;
  const ends: Array<{ rssKb: number; pssKb: number; drops: number }> = [];
  for (const step of plan) {
    const due = t0 + offset * 1000;
    await new Promise((r) => setTimeout(r, Math.max(0, due - Date.now())));
    const port = await freePortInRange(20000, 32000);
    const calls = Math.max(1, Math.round(step.rate * step.durationS));
    const drops0 = await sys.udpDrops();
    const run = startCaller({ target: sys.target, host: sys.callerHost, port, rate: step.rate, calls, dir, name: `${runs.length}-${step.label.replace(/[^A-Za-z0-9.]+/g, '_')}`, boundMs: (step.durationS + STRAGGLER_S) * 1000 });
    // An early failure surfaces when the results are read.
    run.done.catch(() => undefined);
    runs.push({ step, done: run.done, startedAt: Date.now(), endedAt: due + step.durationS * 1000, drops0, down0: sys.backendDownLines().length });
    log(`${sys.name}: ${step.label} ${step.rate} calls/s for ${step.durationS} s (sipp pid ${run.pid})`);
    offset += step.durationS;
    // Memory and drops at the end of this step's sending are read when the next step starts (below) or after the last.
    if (runs.length > 1) ends.push(await endReading(sys));
  }
  await new Promise((r) => setTimeout(r, Math.max(0, t0 + offset * 1000 - Date.now())));
  ends.push(await endReading(sys));
  const results = await Promise.all(runs.map((r) => r.done.then((v) => v, (e: unknown) => e as Error)));
  sampling = false;
  await sampler;
  const out: StepResult[] = [];
  let prevLast: Sample[] | undefined = first;
  for (const [i, r] of runs.entries()) {
    const res = results[i];
    if (res instanceof Error) throw res;
    if (res === undefined) continue;
    const during = scrapes.filter((s) => s.at >= r.startedAt && s.at < r.endedAt + 500);
    const end = ends[i] ?? { rssKb: 0, pssKb: 0, drops: r.drops0 };
    const nextDown = runs[i + 1]?.down0 ?? sys.backendDownLines().length;
    const step: StepResult = {
      ...r.step,
      caller: callerFigures(res.outcomes, { durationS: r.step.durationS, created: res.created }),
      callerKilled: res.killed,
      udpDrops: end.drops - r.drops0,
      rssKb: end.rssKb,
      pssKb: end.pssKb,
      backendDownLines: nextDown - r.down0,
      load1: Math.round((loadavg()[0] ?? 0) * 100) / 100,
    };
    if (isGateway) {
      step.gateway = readings(prevLast, during);
      const answered = during.filter((s) => s.samples !== undefined);
      prevLast = answered[answered.length - 1]?.samples ?? prevLast;
    }
    out.push(step);
  }
  return out;
}

async function endReading(sys: SystemUnderTest): Promise<{ rssKb: number; pssKb: number; drops: number }> {
  const [m, drops] = await Promise.all([sys.memory(false), sys.udpDrops()]);
  return { ...m, drops };
}
