/**
 * The overload bench: SIPp UAC → proxy over UDP → SIPp UAS, record-routed,
 * for our gateway and for Kamailio 5.6 one after the other in the same run.
 *   1. capacity: the gateway's clean rate C (highest rate with every call
 *      answered within 2 s in a short run), unless --capacity N is given;
 *   2. steps: 0.5x, 1x, 1.5x, 2x, 3x C for 10 s each, then 0.5x C, against a
 *      fresh gateway and then Kamailio at the same absolute rates;
 *   3. memory: a steady 1,000 calls/s for 60 s against each, then RSS/PSS
 *      and the gateway's heap used;
 *   4. heap: the highest rate the gateway carries for 5 minutes with
 *      --max-old-space-size=256 (alive, >= 99 % answered): C first, then
 *      0.75 C (two runs at most, about 11 minutes; --heap-search goes on
 *      down a quarter at a time, --heap-rate N runs that rate only,
 *      --skip-heap none).
 * Progress goes to stderr; the table to stdout; the figures as JSON to
 * --json FILE (default bench/results/overload-<time>.json).
 *
 * Run: node dist/bench/overload/run.js [--quick] [--capacity N] [--heap-search] [--heap-rate N] [--heap-seconds S] [--heap-mb MB] [--json FILE]
 *        [--kamailio-children N] [--skip-gateway] [--skip-kamailio] [--skip-memory] [--skip-heap]
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { repoRoot } from '../../test/helpers/paths.js';
import { freePortInRange } from '../../test/helpers/free-port.js';
import { benchWorkDir } from '../load/sbc-process.js';
import { memoryLine, stepTable, verdicts, type MemoryResult, type SystemRun, type Verdict } from './report.js';
import { callerFigures, recoverySeconds } from './sipp-files.js';
import { requireSipp, startCaller } from './sipp.js';
import { runSteps, STRAGGLER_S, type StepPlan, type StepResult } from './steps.js';
import { startGateway, startKamailio, type SystemUnderTest } from './systems.js';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    capacity: { type: 'string' },
    'heap-search': { type: 'boolean', default: false },
    // One rate instead of the search, and the length of each run (default 300 s, --quick 20 s).
    'heap-rate': { type: 'string' },
    'heap-seconds': { type: 'string' },
    // The old-space limit of those runs, MB (default 256: the issue's figure).
    'heap-mb': { type: 'string' },
    json: { type: 'string' },
    'kamailio-children': { type: 'string' },
    'skip-kamailio': { type: 'boolean', default: false },
    'skip-gateway': { type: 'boolean', default: false },
    'skip-memory': { type: 'boolean', default: false },
    'skip-heap': { type: 'boolean', default: false },
  },
});
const quick = values.quick ?? false;
const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

const PLAN = quick
  ? { stepS: 3, recoveryS: 4, calibrationS: 2, calibrationRates: [500, 1000, 2000], memoryRate: 1000, memoryS: 10, heapS: 20 }
  : { stepS: 10, recoveryS: 12, calibrationS: 3, calibrationRates: [1000, 1500, 2000, 3000, 4000], memoryRate: 1000, memoryS: 60, heapS: 300 };
const heapSeconds = values['heap-seconds'] === undefined ? PLAN.heapS : Number(values['heap-seconds']);
const MULTIPLIERS: Array<[string, number]> = [['0.5x', 0.5], ['1x', 1], ['1.5x', 1.5], ['2x', 2], ['3x', 3]];
// Two cores: two SIP workers per core keep one busy while the other waits on a lock or the kernel.
const KAMAILIO_CHILDREN = Number(values['kamailio-children'] ?? 4);

interface CalibrationStep {
  rate: number;
  clean: boolean;
  started: number;
  good: number;
  sentRate: number;
  setupP99Ms: number;
}

/** One short run at `rate` against `sys`: clean when every call was answered within 2 s and the rate really went out. */
async function probeRate(sys: SystemUnderTest, rate: number, seconds: number, dir: string, label = 'calibration'): Promise<CalibrationStep> {
  const run = startCaller({ target: sys.target, host: sys.callerHost, port: await freePortInRange(20000, 32000), rate, calls: Math.round(rate * seconds), dir, name: `cal-${rate}-${Date.now()}`, boundMs: (seconds + 12) * 1000 });
  const res = await run.done;
  const f = callerFigures(res.outcomes, { durationS: seconds, created: res.created });
  const clean = f.started > 0 && f.good === f.started && f.sentRate >= 0.9 * rate;
  log(`${label}: ${rate}/s → ${f.good}/${f.started} answered within 2 s, sent ${f.sentRate.toFixed(0)}/s, p99 setup ${f.setupP99Ms} ms${clean ? '' : '  (not clean)'}`);
  return { rate, clean, started: f.started, good: f.good, sentRate: f.sentRate, setupP99Ms: f.setupP99Ms };
}

/**
 * Rising short runs on one gateway until one is not clean (or halving from
 * the first when that one is not), then one run halfway on a fresh gateway;
 * C = the highest clean rate.
 */
async function findCapacity(work: string): Promise<{ capacity: number; confirmed: boolean; steps: CalibrationStep[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'overload-cal-'));
  const steps: CalibrationStep[] = [];
  let best = 0;
  let confirmed = quick;
  let failedAt: number | undefined;
  let gw = await startGateway({ workDir: work });
  try {
    // Warm-up (not counted): JIT and first allocations.
    await probeRate(gw, 250, 1, dir, 'warm-up (not counted)');
    for (const rate of PLAN.calibrationRates) {
      const s = await probeRate(gw, rate, PLAN.calibrationS, dir);
      steps.push(s);
      if (!s.clean) {
        failedAt = rate;
        break;
      }
      best = rate;
      await new Promise((r) => setTimeout(r, 1500));
    }
    // Not even the first rate: halve it until one is clean.
    for (let rate = Math.round((PLAN.calibrationRates[0] ?? 1000) / 2); best === 0 && rate >= 100; rate = Math.round(rate / 2)) {
      await new Promise((r) => setTimeout(r, 1500));
      const s = await probeRate(gw, rate, PLAN.calibrationS, dir);
      steps.push(s);
      if (s.clean) best = rate;
    }
    if (failedAt !== undefined && best > 0 && failedAt > best && !quick) {
      const mid = Math.round((best + failedAt) / 2 / 50) * 50;
      if (mid > best && mid < failedAt) {
        // The failed run may have left the gateway worse off (a backend marked down): a fresh one.
        await gw.stop();
        gw = await startGateway({ workDir: work });
        await probeRate(gw, 250, 1, dir, 'warm-up (not counted)');
        const s = await probeRate(gw, mid, PLAN.calibrationS, dir);
        steps.push(s);
        if (s.clean) best = mid;
      }
    }
    // A short run overestimates (queues and timers have not filled yet): C must hold for a whole step.
    // Confirm it for PLAN.stepS on a fresh gateway, a quarter lower each time it does not.
    for (let tries = 0; best > 100 && tries < 4 && !quick; tries++) {
      await gw.stop();
      gw = await startGateway({ workDir: work });
      // A fresh process sheds while its JIT warms up: warm it at half the rate first (the step run warms up too).
      await probeRate(gw, Math.round(best / 2), 3, dir, 'warm-up (not counted)');
      const s = await probeRate(gw, best, PLAN.stepS, dir, `confirm for ${PLAN.stepS} s`);
      steps.push(s);
      if (s.clean) {
        confirmed = true;
        break;
      }
      best = Math.max(100, Math.round((best * 0.75) / 50) * 50);
    }
  } finally {
    await gw.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return { capacity: best > 0 ? best : 100, confirmed, steps };
}

/** Warm up (not counted), then the step plan; recovery from the last step. */
async function stepRun(sys: SystemUnderTest, plan: readonly StepPlan[], capacity: number, dir: string): Promise<SystemRun> {
  await probeRate(sys, Math.max(50, Math.round(capacity / 4)), 2, dir, `${sys.name} warm-up (not counted)`);
  await new Promise((r) => setTimeout(r, 1000));
  const steps: StepResult[] = await runSteps(sys, plan, log);
  for (const s of steps) {
    const c = s.caller;
    log(`${sys.name} ${s.label}: ${c.good}/${c.started} within 2 s, failed ${JSON.stringify(c.failedByStatus)}, no final ${c.noFinal}, unaccounted ${c.unaccounted}, p99 setup ${c.setupP99Ms} ms` +
      (s.gateway !== undefined ? `, loop p99 ${s.gateway.loopLagP99Ms?.toFixed(0) ?? '-'} ms, rejected ${JSON.stringify(s.gateway.rejected ?? {})}, shed ${JSON.stringify(s.gateway.shed ?? 'n/a')}` : '') +
      `, udp drops ${s.udpDrops}, cpu ${s.cpuPercent}%, uas cpu ${s.uasCpuPercent}%, load ${s.load1}`);
  }
  const last = steps[steps.length - 1];
  const died = sys.exitStatus();
  return {
    name: sys.name,
    steps,
    recoveryS: last === undefined ? undefined : recoverySeconds(last.caller.successBySecond),
    ...(died !== undefined ? { died } : {}),
    backendDown: sys.backendDownLines(),
    logTail: sys.tail().slice(-30),
  };
}

/** A steady `rate` for `seconds` against `sys`; memory read at the end while the load still runs. */
async function memoryRun(sys: SystemUnderTest, rate: number, seconds: number, dir: string) {
  await probeRate(sys, 250, 1, dir, `${sys.name} warm-up (not counted)`);
  // Two seconds more calls than measured: the reading is taken under load.
  const run = startCaller({ target: sys.target, host: sys.callerHost, port: await freePortInRange(20000, 32000), rate, calls: rate * (seconds + 2), dir, name: `mem-${sys.name}`, boundMs: (seconds + 2 + STRAGGLER_S) * 1000 });
  run.done.catch(() => undefined);
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const reading = await sys.memory(true);
  log(`memory: ${sys.name} at ${rate}/s after ${seconds} s: RSS ${(reading.rssKb / 1024).toFixed(0)} MB, PSS ${(reading.pssKb / 1024).toFixed(0)} MB${reading.heapUsedBytes === undefined ? '' : `, heap used ${(reading.heapUsedBytes / 1048576).toFixed(0)} MB`}`);
  const res = await run.done;
  const f = callerFigures(res.outcomes, { durationS: seconds + 2, created: res.created });
  return { ...reading, answeredPercent: f.started > 0 ? (100 * f.answered) / f.started : 0 };
}

interface HeapRun {
  rate: number;
  seconds: number;
  answeredPercent: number;
  /** Calls that got a 503 from admission control (a surge shed before the heap is exhausted). */
  shedPercent: number;
  /** Largest nodejs_heap_size_used_bytes and RSS seen (scraped every 5 s), MB. */
  heapUsedMaxMb?: number;
  rssMaxMb: number;
  died?: string;
}

const HEAP_MB = Number(values['heap-mb'] ?? 256);
const HEAP_FLAG = `--max-old-space-size=${HEAP_MB}`;

/** One run of `rate` for `seconds` on a fresh gateway with a 256 MB old space: does it live, and how much is answered. */
async function heapRun(work: string, rate: number, seconds: number, dir: string): Promise<HeapRun> {
  const gw = await startGateway({ workDir: work, nodeFlags: [HEAP_FLAG] });
  let heapMax: number | undefined;
  let rssMax = 0;
  let watching = true;
  const watcher = (async () => {
    while (watching && gw.exitStatus() === undefined) {
      const m = await gw.memory(true).catch(() => undefined);
      if (m !== undefined) {
        rssMax = Math.max(rssMax, m.rssKb / 1024);
        if (m.heapUsedBytes !== undefined) heapMax = Math.max(heapMax ?? 0, m.heapUsedBytes / 1048576);
      }
      for (let i = 0; i < 50 && watching; i++) await new Promise((r) => setTimeout(r, 100));
    }
  })();
  try {
    const run = startCaller({ target: gw.target, host: gw.callerHost, port: await freePortInRange(20000, 32000), rate, calls: rate * seconds, dir, name: `heap-${rate}`, boundMs: (seconds + STRAGGLER_S) * 1000 });
    const res = await run.done;
    watching = false;
    await watcher;
    const f = callerFigures(res.outcomes, { durationS: seconds, created: res.created });
    const died = gw.exitStatus();
    const shed = f.failedByStatus['503'] ?? 0;
    const r: HeapRun = {
      rate,
      seconds,
      answeredPercent: f.started > 0 ? (100 * f.good) / f.started : 0,
      shedPercent: f.started > 0 ? (100 * shed) / f.started : 0,
      ...(heapMax !== undefined ? { heapUsedMaxMb: Math.round(heapMax) } : {}),
      rssMaxMb: Math.round(rssMax),
      ...(died !== undefined ? { died } : {}),
    };
    log(`heap: ${rate}/s for ${seconds} s with ${HEAP_FLAG}: ${r.answeredPercent.toFixed(2)}% answered within 2 s, ${r.shedPercent.toFixed(2)}% shed (503), heap used max ${r.heapUsedMaxMb ?? '-'} MB, RSS max ${r.rssMaxMb} MB${died !== undefined ? `, gateway DIED (${died})` : ', alive'}`);
    return r;
  } finally {
    watching = false;
    await watcher;
    await gw.stop();
  }
}

/**
 * The highest rate the gateway carries for `seconds` on a fresh process with
 * a 256 MB old space (alive, >= 99 % answered within 2 s): the clean capacity
 * C first (no rate above it is carried cleanly anyway), then a quarter lower
 * each time until one passes, `maxRuns` runs at most. `only` runs that one rate.
 */
async function heapSearch(work: string, capacity: number, seconds: number, dir: string, maxRuns: number, only?: number): Promise<{ highest: number | undefined; runs: HeapRun[] }> {
  const runs: HeapRun[] = [];
  const passes = (r: HeapRun): boolean => r.died === undefined && r.answeredPercent >= 99;
  if (only !== undefined) {
    const r = await heapRun(work, only, seconds, dir);
    runs.push(r);
    return { highest: passes(r) ? only : undefined, runs };
  }
  for (let rate = Math.round(capacity / 50) * 50; rate >= 100 && runs.length < maxRuns; rate = Math.round((rate * 0.75) / 50) * 50) {
    const r = await heapRun(work, rate, seconds, dir);
    runs.push(r);
    if (passes(r)) return { highest: rate, runs };
  }
  return { highest: undefined, runs };
}

async function main(): Promise<void> {
  requireSipp();
  const started = Date.now();
  const work = benchWorkDir();
  const dir = mkdtempSync(join(tmpdir(), 'overload-run-'));
  const errors: string[] = [];
  const result: Record<string, unknown> = {
    quick,
    startedAt: new Date(started).toISOString(),
    machine: { cores: cpus().length, model: cpus()[0]?.model, load1AtStart: loadavg()[0] },
    node: process.version,
    kamailioChildren: KAMAILIO_CHILDREN,
  };
  let gatewayRun: SystemRun | undefined;
  let kamailioRun: SystemRun | undefined;
  let memory: MemoryResult | undefined;
  let capacity: number;
  try {
    if (values.capacity !== undefined) {
      capacity = Number(values.capacity);
      if (!(capacity > 0)) throw new Error(`--capacity ${values.capacity}: not a positive number`);
      log(`capacity: C = ${capacity} calls/s (--capacity)`);
    } else {
      const cal = await findCapacity(work.dir);
      capacity = cal.capacity;
      result['calibration'] = cal.steps;
      result['capacityConfirmed'] = cal.confirmed;
      log(`capacity: C = ${capacity} calls/s (highest rate with every call answered within 2 s in ${PLAN.calibrationS} s, ${cal.confirmed ? `confirmed for ${PLAN.stepS} s` : `NOT confirmed for ${PLAN.stepS} s: the last try failed too (a busy machine?)`})`);
    }
    result['capacity'] = capacity;
    const plan: StepPlan[] = [
      ...MULTIPLIERS.map(([label, m]) => ({ label, rate: Math.round(capacity * m), durationS: PLAN.stepS })),
      { label: 'after 0.5x', rate: Math.round(capacity * 0.5), durationS: PLAN.recoveryS },
    ];
    result['plan'] = plan;

    if (!(values['skip-gateway'] ?? false)) {
      const gw = await startGateway({ workDir: work.dir });
      log(`gateway: pid ${gw.pid} at ${gw.target}`);
      try {
        gatewayRun = await stepRun(gw, plan, capacity, dir);
      } catch (err) {
        errors.push(`gateway steps: ${(err as Error).message}`);
        log(`gateway steps failed: ${(err as Error).message}\n${gw.tail().join('\n')}`);
      } finally {
        await gw.stop();
      }
    }
    if (!(values['skip-kamailio'] ?? false)) {
      try {
        const kam = await startKamailio(KAMAILIO_CHILDREN);
        log(`kamailio: pid ${kam.pid} at ${kam.target}, ${KAMAILIO_CHILDREN} children`);
        try {
          kamailioRun = await stepRun(kam, plan, capacity, dir);
        } finally {
          await kam.stop();
        }
      } catch (err) {
        errors.push(`kamailio steps: ${(err as Error).message}`);
        log(`kamailio steps failed: ${(err as Error).message}`);
      }
    }
    if (!(values['skip-memory'] ?? false)) {
      memory = { rate: PLAN.memoryRate, seconds: PLAN.memoryS, errors: [] };
      try {
        const gwm = await startGateway({ workDir: work.dir });
        try {
          const m = await memoryRun(gwm, PLAN.memoryRate, PLAN.memoryS, dir);
          const died = gwm.exitStatus();
          memory.gateway = { ...m, ...(died !== undefined ? { died } : {}) };
        } finally {
          await gwm.stop();
        }
      } catch (err) {
        memory.errors.push(`gateway: ${(err as Error).message}`);
      }
      if (!(values['skip-kamailio'] ?? false)) {
        try {
          const kam = await startKamailio(KAMAILIO_CHILDREN);
          try {
            memory.kamailio = await memoryRun(kam, PLAN.memoryRate, PLAN.memoryS, dir);
          } finally {
            await kam.stop();
          }
        } catch (err) {
          memory.errors.push(`kamailio: ${(err as Error).message}`);
        }
      }
      errors.push(...memory.errors.map((e) => `memory ${e}`));
    }
    const heapRate = values['heap-rate'] === undefined ? undefined : Number(values['heap-rate']);
    if (heapRate !== undefined && !(heapRate > 0)) throw new Error(`--heap-rate ${values['heap-rate']}: not a positive number`);
    if (!(values['skip-heap'] ?? false) || heapRate !== undefined) {
      try {
        result['heapSearch'] = await heapSearch(work.dir, capacity, heapSeconds, dir, values['heap-search'] ?? false ? Infinity : 2, heapRate);
      } catch (err) {
        errors.push(`heap search: ${(err as Error).message}`);
      }
    }
  } finally {
    work.remove();
    rmSync(dir, { recursive: true, force: true });
  }
  const runs = [gatewayRun, kamailioRun].filter((r): r is SystemRun => r !== undefined);
  const table = stepTable(capacity, runs);
  const recovery = runs.map((r) => `${r.name} ${r.recoveryS === undefined ? `not within ${PLAN.recoveryS} s` : `${r.recoveryS} s`}`).join(', ');
  const downs = gatewayRun === undefined ? '' : `; gateway backend-down log lines: ${gatewayRun.backendDown.length}${gatewayRun.backendDown[0] !== undefined ? ` (first: ${gatewayRun.backendDown[0].slice(0, 200)})` : ''}`;
  const loadNote = `machine: ${cpus().length} cores, load average ${(result['machine'] as { load1AtStart: number }).load1AtStart.toFixed(1)} at the start, ${(loadavg()[0] ?? 0).toFixed(1)} at the end` +
    ((loadavg()[0] ?? 0) > cpus().length * 0.5 ? ' (busy: other work shares the cores; every figure is lower and noisier than on an idle machine)' : '');
  const lines = [loadNote, ...table, '', `recovery to >= 99% answered within 2 s after the surge: ${recovery}${downs}`];
  if (result['capacityConfirmed'] === false) lines.splice(1, 0, `capacity C = ${capacity} calls/s was NOT confirmed for a whole step (every try at a higher rate failed): the machine was probably busy; the steps are relative to it`);
  if (gatewayRun?.died !== undefined) lines.push(`gateway DIED during the steps: ${gatewayRun.died}`);
  if (memory !== undefined) lines.push(memoryLine(memory));
  const heap = result['heapSearch'] as { highest: number | undefined; runs: HeapRun[] } | undefined;
  if (heap !== undefined) {
    const tried = heap.runs.map((r) => `${r.rate}/s: ${r.answeredPercent.toFixed(1)}% answered, ${r.shedPercent.toFixed(1)}% shed, heap max ${r.heapUsedMaxMb ?? '-'} MB, RSS max ${r.rssMaxMb} MB, ${r.died !== undefined ? `DIED (${r.died})` : 'alive'}`).join('; ');
    lines.push(`highest rate for ${heapSeconds} s with ${HEAP_FLAG} (alive, >= 99% answered within 2 s): ${heap.highest ?? 'none'} calls/s (${tried})`);
  }
  for (const e of errors) lines.push(`error: ${e.split('\n')[0]}`);
  const v: Verdict[] = verdicts(capacity, gatewayRun, kamailioRun, memory, heap === undefined ? undefined : { ...heap, seconds: heapSeconds, mb: HEAP_MB });
  Object.assign(result, { gateway: gatewayRun, kamailio: kamailioRun, memory, verdicts: v, errors, table: lines, seconds: Math.round((Date.now() - started) / 1000) });
  const file = values.json ?? join(repoRoot, 'bench', 'results', `overload-${new Date(started).toISOString().replace(/[:.]/g, '-')}.json`);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(result, null, 2));
  process.stdout.write(`${lines.join('\n')}\n\nraw figures: ${file}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`overload bench: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
