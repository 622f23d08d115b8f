/**
 * CPU per proxied call at a fixed rate: the gateway (`--workers`, default 1; probes off)
 * between a SIPp UAC and a SIPp UAS over UDP, record-routed, each call
 * INVITE/100/180/200/ACK/BYE/200. For each round and each build: a fresh
 * gateway, a warm-up (3 s at 250/s, 3 s at 500/s, 5 s at the rate), then
 * `--seconds` at `--rate`; the figure is the gateway's CPU time (user +
 * system, /proc) over that step divided by the calls answered. A fixed rate,
 * not the highest one, so a busy machine slows the figure less than it
 * slows a throughput figure; builds alternate round by round (A B A B ...)
 * so drift in the machine's load falls on both alike.
 * An entry named `kamailio` is Kamailio 5.6 (`--kamailio-children`, default 4) in the
 * same place, for the same figure side by side (user and system time both).
 * Run: node dist/bench/overload/cpu-per-call.js [--entries A/dist/src/main.js,B/dist/src/main.js,kamailio]
 *        [--rate 1000] [--seconds 20] [--rounds 3] [--workers N] [--cpu-prof DIR] [--kamailio-children N]
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { parseArgs } from 'node:util';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import WebSocket from 'ws';
import { freePortInRange } from '../../test/helpers/free-port.js';
import { repoRoot } from '../../test/helpers/paths.js';
import { benchWorkDir } from '../load/sbc-process.js';
import { callerFigures } from './sipp-files.js';
import { requireSipp, startCaller } from './sipp.js';
import { startGateway, startKamailio, type SystemUnderTest } from './systems.js';
import { procCpuSeconds, withChildren } from '../load/children.js';

const { values } = parseArgs({
  options: {
    entries: { type: 'string', default: join(repoRoot, 'dist', 'src', 'main.js') },
    rate: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '20' },
    rounds: { type: 'string', default: '3' },
    'cpu-prof': { type: 'string' },
    // perf record (on-CPU samples, kernel included) of the measured step into this directory; JS frames through --perf-basic-prof.
    perf: { type: 'string' },
    // Allocation sampling (inspector, objects later collected included) of the measured step, written to this file.
    'alloc-prof': { type: 'string' },
    // Extra flags for the gateway's node, space-separated (e.g. "--max-semi-space-size=32").
    'node-flags': { type: 'string', default: '' },
    // A longer warm-up first: this many seconds at 700 calls/s (V8 optimizes a function after enough runs of it, not after a time).
    'warm-seconds': { type: 'string', default: '0' },
    // The gateway's `workers` key; with more than 1 the step also reports each process's share (supervisor first).
    workers: { type: 'string', default: '1' },
    'kamailio-children': { type: 'string', default: '4' },
  },
});
const log = (line: string): void => { process.stderr.write(`${line}\n`); };
const RATE = Number(values.rate);
const SECONDS = Number(values.seconds);
const ROUNDS = Number(values.rounds);
const ENTRIES = values.entries!.split(',');
const WORKERS = Number(values.workers);
if (!Number.isInteger(WORKERS) || WORKERS < 1) throw new Error(`--workers needs a whole number >= 1, not ${values.workers}`);

interface Step { good: number; started: number; cpuS: number; sysS: number; usPerCall: number; perProcessS: number[] }

/** Kernel-mode CPU seconds so far of a process and its children (/proc/PID/stat field 15). */
async function systemSeconds(pid: number): Promise<number> {
  let total = 0;
  for (const p of await withChildren(pid)) {
    const text = await readFile(`/proc/${p}/stat`, 'utf8').catch(() => '');
    total += Number(text.slice(text.lastIndexOf(')') + 2).split(' ')[12] ?? 0) / 100;
  }
  return total;
}

/** CPU seconds so far of the gateway's process and each of its children (the workers), in that order. */
async function processSeconds(pid: number): Promise<number[]> {
  const out: number[] = [];
  for (const p of await withChildren(pid)) out.push((await procCpuSeconds(p)) ?? 0);
  return out;
}

async function step(sys: SystemUnderTest, rate: number, seconds: number, dir: string): Promise<Step> {
  const cpu0 = await sys.cpuSeconds();
  const each0 = await processSeconds(sys.pid);
  const sys0 = await systemSeconds(sys.pid);
  const run = startCaller({ target: sys.target, host: sys.callerHost, port: await freePortInRange(20000, 32000), rate, calls: Math.round(rate * seconds), dir, name: `cpu-${rate}-${Date.now()}`, boundMs: (seconds + 12) * 1000, udpMode: 'un' });
  const res = await run.done;
  const cpuS = (await sys.cpuSeconds()) - cpu0;
  const sysS = (await systemSeconds(sys.pid)) - sys0;
  const perProcessS = (await processSeconds(sys.pid)).map((v, i) => v - (each0[i] ?? 0));
  const f = callerFigures(res.outcomes, { durationS: seconds, created: res.created });
  return { good: f.good, started: f.started, cpuS, sysS, usPerCall: f.good > 0 ? (cpuS * 1e6) / f.good : NaN, perProcessS };
}

/** A minimal inspector client: `call(method, params)` over the target's WebSocket. */
async function inspector(port: number): Promise<{ call: (method: string, params?: Record<string, unknown>) => Promise<unknown>; close: () => void }> {
  const list = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as Array<{ webSocketDebuggerUrl?: string }>;
  const ws = new WebSocket(list[0]!.webSocketDebuggerUrl!, { perMessageDeflate: false, maxPayload: 1 << 30 });
  await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); });
  let id = 0;
  const waiting = new Map<number, (m: { result?: unknown; error?: { message: string } }) => void>();
  ws.on('message', (data: WebSocket.RawData) => {
    const m = JSON.parse(data.toString()) as { id?: number; result?: unknown; error?: { message: string } };
    if (m.id !== undefined) waiting.get(m.id)?.(m);
  });
  return {
    call: (method, params = {}) => new Promise((resolve, reject) => {
      const mine = ++id;
      waiting.set(mine, (m) => { waiting.delete(mine); if (m.error !== undefined) reject(new Error(m.error.message)); else resolve(m.result); });
      ws.send(JSON.stringify({ id: mine, method, params }));
    }),
    close: () => ws.close(),
  };
}

requireSipp();
const work = benchWorkDir();
const dir = mkdtempSync(join(tmpdir(), 'cpu-bench-'));
const results = new Map<string, Step[]>(ENTRIES.map((e) => [e, []]));
try {
  for (let round = 1; round <= ROUNDS; round++) {
    for (const entry of ENTRIES) {
      const profDir = values['cpu-prof'] === undefined ? undefined : join(values['cpu-prof'], `${ENTRIES.indexOf(entry)}-${round}`);
      if (profDir !== undefined) mkdirSync(profDir, { recursive: true });
      const perfDir = values.perf;
      const allocFile = values['alloc-prof'];
      // Kamailio has no inspector: --alloc-prof covers the gateway entries only.
      const inspectPort = allocFile === undefined || entry === 'kamailio' ? undefined : await freePortInRange(20000, 32000);
      const sys = entry === 'kamailio' ? await startKamailio(Number(values['kamailio-children'])) : await startGateway({ workDir: work.dir, entry, workers: WORKERS, ...(profDir !== undefined ? { cpuProfileDir: profDir } : {}), nodeFlags: [...values['node-flags']!.split(' ').filter((f) => f !== ''), ...(perfDir !== undefined ? ['--perf-basic-prof-only-functions'] : []), ...(inspectPort !== undefined ? [`--inspect=127.0.0.1:${inspectPort}`] : [])] });
      try {
        await step(sys, 250, 3, dir);
        await step(sys, 500, 3, dir);
        if (Number(values['warm-seconds']) > 0) await step(sys, 700, Number(values['warm-seconds']), dir);
        await step(sys, RATE, 5, dir);
        let perf: ReturnType<typeof spawn> | undefined;
        if (perfDir !== undefined) {
          mkdirSync(perfDir, { recursive: true });
          perf = spawn('perf', ['record', '-e', 'cpu-clock', '-F', '997', '-g', '-p', String(sys.pid), '-o', join(perfDir, `perf-${ENTRIES.indexOf(entry)}-${round}.data`)], { stdio: 'ignore' });
        }
        const insp = inspectPort === undefined ? undefined : await inspector(inspectPort);
        await insp?.call('HeapProfiler.startSampling', { samplingInterval: 16384, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
        // A step with unanswered calls measured retransmissions and shedding too (a busy machine): run it again, up to twice.
        let s = await step(sys, RATE, SECONDS, dir);
        for (let retry = 0; retry < 2 && s.good < 0.99 * s.started; retry++) {
          log(`round ${round} ${entry}: only ${s.good}/${s.started} answered (${s.usPerCall.toFixed(0)} µs per call), again`);
          s = await step(sys, RATE, SECONDS, dir);
        }
        if (perf !== undefined) {
          const exited = new Promise((r) => perf!.once('exit', r));
          perf.kill('SIGINT');
          await exited;
        }
        if (insp !== undefined) {
          const r = (await insp.call('HeapProfiler.stopSampling')) as { profile: unknown };
          writeFileSync(`${allocFile}-${ENTRIES.indexOf(entry)}-${round}.heapprofile`, JSON.stringify(r.profile));
          insp.close();
        }
        if (s.good >= 0.99 * s.started) results.get(entry)!.push(s);
        log(`round ${round} ${entry} ${values['node-flags']}: ${s.good}/${s.started} answered, cpu ${s.cpuS.toFixed(2)} s (${s.sysS.toFixed(2)} s system), ${s.usPerCall.toFixed(0)} µs per call${WORKERS > 1 ? `; per process (supervisor, workers): ${s.perProcessS.map((v) => v.toFixed(2)).join(' / ')} s` : ''}`);
      } finally {
        await sys.stop();
      }
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
  work.remove();
}
for (const [entry, steps] of results) {
  const us = steps.map((s) => s.usPerCall).sort((a, b) => a - b);
  const median = us.length % 2 === 1 ? us[(us.length - 1) / 2]! : (us[us.length / 2 - 1]! + us[us.length / 2]!) / 2;
  process.stdout.write(`${entry}: best ${us[0]?.toFixed(0)} µs/call, median ${median.toFixed(0)} µs/call (${us.map((u) => u.toFixed(0)).join(', ')}) at ${RATE}/s for ${SECONDS} s\n`);
}
