/**
 * The load bench: the SBC as a child process between our generators and our
 * UAS, each in its own process.
 *   calls    INVITE→100→180→200→ACK→BYE→200 at rising rates; the best rate
 *            is then measured directly against the UAS for "added latency".
 *   register new registrations at rising rates (fresh Call-ID and AOR each).
 *   refresh  re-REGISTERs (same Call-ID, CSeq + 1) at rising rates.
 *   wss      N WSS clients each REGISTER once (SBC memory per flow, measured
 *            after a full GC through the inspector and as RSS), then
 *            re-REGISTER over those connections at rising rates. The same
 *            clients then do the same against bench/load/wss-floor (bare
 *            Node TLS + ws, no SIP): the platform's own cost per flow.
 * Each part gets a fresh SBC, so one part's lingering transactions do not
 * load the next. Progress goes to stderr; the results as JSON to stdout or
 * to --json FILE.
 *
 *   routing  the calls ramp with no routing logic, a trivial routing.script
 *            and a routing.http service (bench/load/routing-part.ts).
 * Run: node dist/bench/load/run.js [--quick] [--only calls,routing,register,refresh,media,wss]
 *        [--wss-clients N] [--workers N] [--profile DIR] [--json FILE]
 *        [--rates R1,R2,...] [--step-seconds S]
 *        [--sbc-udp-rcvbuf BYTES]   what-if: the SBC's UDP sockets get this receive buffer
 */
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { freePortInRange } from '../../test/helpers/free-port.js';
import { startRtpengine } from '../../test/helpers/rtpengine.js';
import { forkWorker, nextMessage, procStatusKb, stopChild } from './children.js';
import { collectAndMeasure, type MemoryFigures } from './heap-probe.js';
import { best, cpuPercentOver, formatStep, passed, ramp, runStep, type StepResult, type UdpMode } from './ramp.js';
import { routingBench, type RoutingBenchResult } from './routing-part.js';
import { benchWorkDir, startSbcProcess, type SbcProcess } from './sbc-process.js';
import { combine, ms, type WorkerReport } from './stats.js';
import type { OpenReport } from './wss-clients.js';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    'wss-clients': { type: 'string' },
    workers: { type: 'string' },
    profile: { type: 'string' },
    json: { type: 'string' },
    rates: { type: 'string' },
    'sbc-udp-rcvbuf': { type: 'string' },
    'step-seconds': { type: 'string' },
  },
});

const quick = values.quick ?? false;
const parts = new Set((values.only ?? 'calls,routing,register,refresh,media,wss').split(','));
const workers = Number(values.workers ?? 2);
const udpRecvBuffer = values['sbc-udp-rcvbuf'] === undefined ? undefined : Number(values['sbc-udp-rcvbuf']);
const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

/** Rates and durations; --quick keeps the whole run well under a minute. */
const PLAN: { calls: number[]; media: number[]; register: number[]; refresh: number[]; stepS: number; wssClients: number; wssRates: number[]; wssStepS: number } = quick
  ? { calls: [500, 1500], media: [400, 800], register: [2000, 5000], refresh: [2000, 5000], stepS: 2, wssClients: 1000, wssRates: [1000, 5000], wssStepS: 2 }
  : {
      calls: [250, 500, 1000, 1500, 2000, 2500, 3000],
      media: [200, 400, 600, 800, 1000, 1200, 1500],
      register: [1000, 2000, 3000, 4000, 5000, 6000, 8000, 10000],
      refresh: [1000, 2000, 3000, 4000, 5000, 6000, 8000, 10000],
      stepS: 5,
      wssClients: 10_000,
      wssRates: [1000, 2500, 5000, 7500, 10000],
      wssStepS: 3,
    };
const wssClients = Number(values['wss-clients'] ?? PLAN.wssClients);
// --rates and --step-seconds override the plan, e.g. to profile one fixed rate.
if (values.rates !== undefined) {
  const rates = values.rates.split(',').map(Number);
  PLAN.calls = rates;
  PLAN.media = rates;
  PLAN.register = rates;
  PLAN.refresh = rates;
  PLAN.wssRates = rates;
}
if (values['step-seconds'] !== undefined) {
  PLAN.stepS = Number(values['step-seconds']);
  PLAN.wssStepS = PLAN.stepS;
}

export interface UdpPartResult {
  steps: StepResult[];
  best: StepResult | undefined;
  /** The best rate measured straight against the UAS, no SBC in between. */
  direct?: StepResult;
}

type MemoryReading = MemoryFigures & { vmRssKb: number };

/** One WSS server under the clients: N flows registered, memory per flow, re-REGISTER ceiling. */
export interface WssMeasurement {
  open: OpenReport;
  before: MemoryReading;
  after: MemoryReading;
  /** Growth per registered flow, bytes: RSS (as the OS sees it) and live JS heap after a full GC. */
  rssPerFlowBytes: number;
  heapPerFlowBytes: number;
  /** Re-REGISTER steps; their sbcCpuPercent is the CPU of the server measured (the SBC, or the floor). */
  refresh: StepResult[];
  bestRefresh: StepResult | undefined;
}

export interface WssPartResult extends WssMeasurement {
  clients: number;
  /** The same measurement against bare Node TLS + ws with no SIP (bench/load/wss-floor): what the platform costs by itself. */
  floor?: WssMeasurement;
  /** Why the floor could not be measured, when it could not. */
  floorError?: string;
}

export interface MediaPartResult {
  steps: StepResult[];
  best: StepResult | undefined;
  /** The same calls at the best rate with the media engine left out (passthrough). */
  withoutMedia?: StepResult;
}

export interface LoadResults {
  quick: boolean;
  /** Set when the SBC ran with a what-if change (not as shipped). */
  whatIf?: string;
  workers: number;
  calls?: UdpPartResult;
  /** Calls with no routing logic, a trivial routing.script and a routing.http service, same run. */
  routing?: RoutingBenchResult;
  /** Browser-shaped calls through a real rtpengine (offer + answer + delete per call). */
  media?: MediaPartResult;
  register?: UdpPartResult;
  refresh?: UdpPartResult;
  wss?: WssPartResult;
  errors: string[];
}

async function startUas(): Promise<{ port: number; stop: () => Promise<void> }> {
  const child = forkWorker('uas', []);
  const port = await nextMessage(child, (m) => (m as { port?: number }).port, 10_000);
  return { port, stop: () => stopChild(child) };
}

async function udpPart(label: string, mode: UdpMode, rates: readonly number[], work: string, measureDirect: boolean): Promise<UdpPartResult> {
  const uas = await startUas();
  let sbc: SbcProcess | undefined;
  try {
    sbc = await startSbcProcess({ uasPort: uas.port, workDir: work, ...(udpRecvBuffer !== undefined ? { udpRecvBufferBytes: udpRecvBuffer } : {}), ...(values.profile !== undefined ? { cpuProfileDir: values.profile } : {}) });
    log(`${label}: SBC pid ${sbc.pid} udp 127.0.0.1:${sbc.udpPort}, UAS 127.0.0.1:${uas.port}, ${workers} generator processes`);
    // Warm-up, not counted: a cold SBC (JIT, first allocations) drops datagrams in its first second at any rate.
    const warm = await runStep({ mode: mode === 'refresh' ? 'register' : mode, label, target: { host: '127.0.0.1', port: sbc.udpPort }, durationS: quick ? 1 : 2, workers, timeoutMs: 5000, log }, Math.min(rates[0] ?? 250, 500));
    log(formatStep(`${label} warm-up (not counted)`, warm));
    await new Promise((r) => setTimeout(r, 1000));
    const steps = await ramp({
      mode,
      label,
      target: { host: '127.0.0.1', port: sbc.udpPort },
      rates,
      durationS: PLAN.stepS,
      workers,
      timeoutMs: 5000,
      sbcPid: sbc.pid,
      sbcUdpPort: sbc.udpPort,
      log,
    });
    const top = best(steps);
    const result: UdpPartResult = { steps, best: top };
    if (measureDirect && top !== undefined) {
      const direct = await runStep({ mode, label: `${label} direct`, target: { host: '127.0.0.1', port: uas.port }, durationS: PLAN.stepS, workers, timeoutMs: 5000, log }, top.rate);
      log(formatStep(`${label} direct (no SBC)`, direct));
      result.direct = direct;
    }
    return result;
  } finally {
    await sbc?.stop();
    await uas.stop();
  }
}

/** Browser-shaped calls with rtpengine in the path, then the same load without it for the added latency. */
async function mediaPart(rates: readonly number[], work: string): Promise<MediaPartResult> {
  // Warnings only: at info level the engine spends its time writing a log line per call event.
  const engine = await startRtpengine({ ports: 4000, logLevel: 4 });
  const uas = await startUas();
  let sbc: SbcProcess | undefined;
  try {
    sbc = await startSbcProcess({ uasPort: uas.port, workDir: work, rtpengineUrl: engine.udpUrl, ...(values.profile !== undefined ? { cpuProfileDir: values.profile } : {}) });
    log(`media: SBC pid ${sbc.pid} udp 127.0.0.1:${sbc.udpPort}, rtpengine pid ${engine.pid} ${engine.udpUrl}, UAS 127.0.0.1:${uas.port}`);
    const base = { mode: 'call' as const, label: 'media', target: { host: '127.0.0.1', port: sbc.udpPort }, workers, timeoutMs: 5000, log, sdp: 'webrtc' as const };
    const warm = await runStep({ ...base, durationS: quick ? 1 : 2 }, Math.min(rates[0] ?? 200, 200));
    log(formatStep('media warm-up (not counted)', warm));
    await new Promise((r) => setTimeout(r, 1000));
    const steps = await ramp({ ...base, rates, durationS: PLAN.stepS, sbcPid: sbc.pid, sbcUdpPort: sbc.udpPort });
    const top = best(steps);
    const result: MediaPartResult = { steps, best: top };
    await sbc.stop();
    sbc = undefined;
    if (top !== undefined) {
      sbc = await startSbcProcess({ uasPort: uas.port, workDir: work });
      await runStep({ ...base, target: { host: '127.0.0.1', port: sbc.udpPort }, durationS: 1 }, 200);
      const plain = await runStep({ ...base, label: 'media off', target: { host: '127.0.0.1', port: sbc.udpPort }, durationS: PLAN.stepS, sbcPid: sbc.pid }, top.rate);
      log(formatStep('same calls without the media engine', plain));
      result.withoutMedia = plain;
    }
    return result;
  } finally {
    await sbc?.stop();
    await uas.stop();
    await engine.stop();
  }
}

async function sbcMemory(sbc: SbcProcess, inspectPort: number): Promise<MemoryReading> {
  const m = await collectAndMeasure(inspectPort);
  return { ...m, vmRssKb: (await procStatusKb(sbc.pid, 'VmRSS')) ?? 0 };
}

/** Open `count` clients spread over the client processes; their reports added up. */
async function openClients(procs: ChildProcess[], url: string, count: number, tag: string): Promise<OpenReport> {
  const per = Math.ceil(count / procs.length);
  const reports = await Promise.all(
    procs.map((p, i) => {
      const n = Math.max(0, Math.min(per, count - i * per));
      p.send({ cmd: 'open', url, count: n, concurrency: 50, tag: `${tag}${i}x` });
      return nextMessage(p, (m) => (m as { opened?: OpenReport }).opened, 600_000);
    }),
  );
  const failures: Record<string, number> = {};
  for (const r of reports) for (const [k, v] of Object.entries(r.failures)) failures[k] = (failures[k] ?? 0) + v;
  return {
    opened: reports.reduce((a, r) => a + r.opened, 0),
    registered: reports.reduce((a, r) => a + r.registered, 0),
    failed: reports.reduce((a, r) => a + r.failed, 0),
    failures,
    samples: Object.assign({}, ...reports.map((r) => r.samples)) as Record<string, string>,
    elapsedMs: Math.max(...reports.map((r) => r.elapsedMs)),
    // Per-process percentiles; the worst process is reported.
    p50Ms: Math.max(...reports.map((r) => r.p50Ms)),
    p99Ms: Math.max(...reports.map((r) => r.p99Ms)),
  };
}

async function wssRefreshStep(procs: ChildProcess[], serverPid: number, rate: number): Promise<StepResult> {
  const sbcCpu = cpuPercentOver(serverPid, 300, PLAN.wssStepS * 1000);
  const reports = await Promise.all(
    procs.map((p) => {
      p.send({ cmd: 'refresh', rate: rate / procs.length, duration: PLAN.wssStepS });
      return nextMessage(p, (m) => (m as { report?: WorkerReport }).report, (PLAN.wssStepS * 3 + 30) * 1000);
    }),
  );
  const sbcCpuPercent = await sbcCpu;
  return {
    rate,
    ...combine(reports),
    load1: Math.round((loadavg()[0] ?? 0) * 100) / 100,
    ...(sbcCpuPercent !== undefined ? { sbcCpuPercent } : {}),
  };
}

/** The server the WSS clients talk to, and how its lines are labelled. */
interface WssServer {
  /** Prefix of its log lines. */
  label: string;
  /** What its memory line calls it, e.g. "SBC memory". */
  memoryName: string;
  refreshLabel: string;
  pid: number;
  url: string;
  memory(): Promise<MemoryReading>;
}

/**
 * Wait after the last REGISTER before the "after" reading: the SBC's client
 * transactions toward the UDP registrar stay in Timer K for T4 = 5 s
 * (RFC 3261 §17.1.2.2); they are not per-flow state.
 */
const SETTLE_MS = 6000;
const FLOOR_LABEL = 'wss floor (bare Node TLS + ws echo, no SIP)';

/** Warm-up, baseline, N clients each REGISTER once, memory per flow, then re-REGISTER steps at rising rates. */
async function measureWss(procs: ChildProcess[], server: WssServer): Promise<WssMeasurement> {
  // Warm-up: run TLS, WebSocket and REGISTER once so the baseline already holds their code and caches.
  const warm = await openClients(procs, server.url, 100, 'warm');
  if (warm.registered === 0) throw new Error(`warm-up clients did not register: ${JSON.stringify(warm.failures)}`);
  await new Promise((r) => setTimeout(r, 1000));
  const before = await server.memory();
  const open = await openClients(procs, server.url, wssClients, 'c');
  log(
    `${server.label}: ${open.registered}/${wssClients} registered in ${(open.elapsedMs / 1000).toFixed(1)} s` +
      ` (connect+REGISTER p50 ${ms(open.p50Ms)} ms, p99 ${ms(open.p99Ms)} ms), failures ${JSON.stringify(open.failures)}`,
  );
  for (const [reason, text] of Object.entries(open.samples)) log(`${server.label}: first ${reason}:\n${text}`);
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  const after = await server.memory();
  const flows = Math.max(1, open.registered);
  const rssPerFlowBytes = Math.round(((after.vmRssKb - before.vmRssKb) * 1024) / flows);
  const heapPerFlowBytes = Math.round((after.heapUsedBytes - before.heapUsedBytes) / flows);
  log(
    `${server.label}: ${server.memoryName} for ${open.registered} flows: RSS +${((after.vmRssKb - before.vmRssKb) / 1024).toFixed(1)} MB` +
      ` (${(rssPerFlowBytes / 1024).toFixed(1)} kB/flow), JS heap after GC +${((after.heapUsedBytes - before.heapUsedBytes) / 1048576).toFixed(1)} MB` +
      ` (${(heapPerFlowBytes / 1024).toFixed(1)} kB/flow)`,
  );
  const refresh: StepResult[] = [];
  for (const rate of PLAN.wssRates) {
    const step = await wssRefreshStep(procs, server.pid, rate);
    refresh.push(step);
    log(formatStep(server.refreshLabel, step));
    if (!passed(step)) break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  return { open, before, after, rssPerFlowBytes, heapPerFlowBytes, refresh, bestRefresh: best(refresh) };
}

/** Every client process cuts and forgets its connections, and stays up for the next server. */
async function dropClients(procs: ChildProcess[]): Promise<void> {
  await Promise.all(
    procs.map((p) => {
      p.send({ cmd: 'drop' });
      return nextMessage(p, (m) => (m as { dropped?: number }).dropped, 30_000);
    }),
  );
}

/** The same clients against bench/load/wss-floor, with the SBC's certificate. */
async function floorPart(procs: ChildProcess[], work: string): Promise<WssMeasurement> {
  const child = forkWorker('wss-floor', ['--cert', join(work, 'server.crt'), '--key', join(work, 'server.key')], { nodeFlags: ['--expose-gc'] });
  try {
    const port = await nextMessage(child, (m) => (m as { port?: number }).port, 10_000);
    const pid = child.pid ?? 0;
    const url = `wss://127.0.0.1:${port}`;
    log(`${FLOOR_LABEL}: pid ${pid} ${url}, the same ${wssClients} clients in ${procs.length} processes`);
    const memory = async (): Promise<MemoryReading> => {
      child.send({ cmd: 'memory' });
      const m = await nextMessage(child, (r) => (r as { memory?: MemoryFigures }).memory, 30_000);
      return { ...m, vmRssKb: (await procStatusKb(pid, 'VmRSS')) ?? 0 };
    };
    return await measureWss(procs, { label: FLOOR_LABEL, memoryName: 'memory', refreshLabel: `${FLOOR_LABEL}: refresh`, pid, url, memory });
  } finally {
    await stopChild(child);
  }
}

async function wssPart(work: string): Promise<WssPartResult> {
  const uas = await startUas();
  const inspectPort = await freePortInRange(20000, 32000);
  // One client process per 5,000 connections: TLS on the client side costs CPU too.
  const procs = Array.from({ length: Math.max(1, Math.ceil(wssClients / 5000)) }, () => forkWorker('wss-clients', []));
  let sbc: SbcProcess | undefined;
  try {
    sbc = await startSbcProcess({ uasPort: uas.port, workDir: work, ...(udpRecvBuffer !== undefined ? { udpRecvBufferBytes: udpRecvBuffer } : {}), wss: true, maxConnectionsPerIp: wssClients + 1000, inspectPort, ...(values.profile !== undefined ? { cpuProfileDir: values.profile } : {}) });
    const url = `wss://127.0.0.1:${sbc.wssPort}`;
    log(`wss: SBC pid ${sbc.pid} ${url}, ${wssClients} clients in ${procs.length} processes`);
    const running = sbc;
    const measured = await measureWss(procs, { label: 'wss', memoryName: 'SBC memory', refreshLabel: 'wss refresh', pid: sbc.pid, url, memory: () => sbcMemory(running, inspectPort) });
    const result: WssPartResult = { clients: wssClients, ...measured };
    // The floor runs alone: the SBC and the UAS are gone, the clients are ready for new connections.
    await dropClients(procs);
    await sbc.stop();
    sbc = undefined;
    await uas.stop();
    try {
      result.floor = await floorPart(procs, work);
    } catch (err) {
      result.floorError = (err as Error).message;
      log(`${FLOOR_LABEL} failed: ${result.floorError}`);
    }
    return result;
  } finally {
    for (const p of procs) if (p.connected) p.send({ cmd: 'close' });
    await Promise.all(procs.map((p) => stopChild(p)));
    await sbc?.stop();
    await uas.stop();
  }
}

async function main(): Promise<LoadResults> {
  const results: LoadResults = { quick, workers, errors: [], ...(udpRecvBuffer !== undefined ? { whatIf: `SBC UDP receive buffer ${udpRecvBuffer} bytes (preload)` } : {}) };
  if (results.whatIf !== undefined) log(`WHAT-IF RUN: ${results.whatIf}; figures are not the SBC as shipped`);
  const work = benchWorkDir();
  try {
    const part = async <K extends 'calls' | 'register' | 'refresh'>(key: K, mode: UdpMode, rates: readonly number[], direct: boolean): Promise<void> => {
      if (!parts.has(key)) return;
      try {
        results[key] = await udpPart(key, mode, rates, work.dir, direct);
      } catch (err) {
        results.errors.push(`${key}: ${(err as Error).message}`);
        log(`${key} failed: ${(err as Error).message}`);
      }
    };
    await part('calls', 'call', PLAN.calls, true);
    if (parts.has('routing')) {
      const uas = await startUas();
      try {
        // From the middle of the calls plan up: the low steps say nothing about a few percent.
        const rates = quick ? PLAN.calls : PLAN.calls.filter((r) => r >= 1000);
        results.routing = await routingBench({ rates, stepS: PLAN.stepS, workers, workDir: work.dir, uasPort: uas.port, quick, log });
      } catch (err) {
        results.errors.push(`routing: ${(err as Error).message}`);
        log(`routing failed: ${(err as Error).message}`);
      } finally {
        await uas.stop();
      }
    }
    if (parts.has('media')) {
      try {
        results.media = await mediaPart(PLAN.media, work.dir);
      } catch (err) {
        results.errors.push(`media: ${(err as Error).message}`);
        log(`media failed: ${(err as Error).message}`);
      }
    }
    await part('register', 'register', PLAN.register, true);
    await part('refresh', 'refresh', PLAN.refresh, false);
    if (parts.has('wss')) {
      try {
        results.wss = await wssPart(work.dir);
        if (results.wss.floorError !== undefined) results.errors.push(`wss floor: ${results.wss.floorError}`);
      } catch (err) {
        results.errors.push(`wss: ${(err as Error).message}`);
        log(`wss failed: ${(err as Error).message}`);
      }
    }
  } finally {
    work.remove();
  }
  return results;
}

main().then(
  (results) => {
    const text = JSON.stringify(results, null, 2);
    if (values.json !== undefined) writeFileSync(values.json, text);
    else process.stdout.write(`${text}\n`);
  },
  (err: unknown) => {
    process.stderr.write(`load bench: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(1);
  },
);
