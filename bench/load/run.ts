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
 *   --gateway-workers N|auto  the calls, register, refresh and wss parts run
 *            the SBC with `workers: N` (a node:cluster supervisor and N
 *            gateway workers; the WSS listener is shared, connections go
 *            round-robin). CPU and memory figures then cover the whole
 *            gateway: CPU summed over the supervisor and every worker (and
 *            shown per process), RSS and PSS summed over them, the JS heap
 *            after GC summed over every process's inspector (Node gives each
 *            worker its own port, --inspect-port=P+k). The wss part also
 *            reports how many flows each worker holds at the end (/api/flows
 *            of the supervisor, which answers for all workers).
 * Each part gets a fresh SBC, so one part's lingering transactions do not
 * load the next. Progress goes to stderr; the results as JSON to stdout or
 * to --json FILE.
 *
 *   routing  the calls ramp with no routing logic, a trivial routing.script
 *            and a routing.http service (bench/load/routing-part.ts).
 * Run: node dist/bench/load/run.js [--quick] [--only calls,routing,register,refresh,media,wss]
 *        [--wss-clients N] [--workers N] [--gateway-workers N|auto] [--profile DIR] [--json FILE]
 *        [--rates R1,R2,...] [--step-seconds S]
 *        [--sbc-udp-rcvbuf BYTES]   what-if: the SBC's UDP sockets get this receive buffer
 *        [--sbc-node-flags "FLAGS"] what-if: flags for the SBC's node (its workers inherit them)
 */
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { freePortInRange } from '../../test/helpers/free-port.js';
import { startRtpengine } from '../../test/helpers/rtpengine.js';
import { childPids, forkWorker, nextMessage, procStatusKb, pssKb, stopChild, withChildren } from './children.js';
import { collectAndMeasure, profileWindow, type MemoryFigures } from './heap-probe.js';
import { best, cpuFields, cpuPercentsOver, formatStep, passed, ramp, runStep, type StepResult, type UdpMode } from './ramp.js';
import { routingBench, type RoutingBenchResult } from './routing-part.js';
import { benchWorkDir, startSbcProcess, type SbcProcess } from './sbc-process.js';
import { combine, ms, type WorkerReport } from './stats.js';
import { parsePromText } from '../overload/prom-text.js';
import type { OpenReport } from './wss-clients.js';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    'wss-clients': { type: 'string' },
    'idle-profile': { type: 'string' },
    workers: { type: 'string' },
    'gateway-workers': { type: 'string' },
    profile: { type: 'string' },
    json: { type: 'string' },
    rates: { type: 'string' },
    'sbc-udp-rcvbuf': { type: 'string' },
    // what-if: flags for the SBC's node, space-separated (e.g. "--max-semi-space-size=64")
    'sbc-node-flags': { type: 'string' },
    'step-seconds': { type: 'string' },
  },
});

const quick = values.quick ?? false;
const parts = new Set((values.only ?? 'calls,routing,register,refresh,media,wss').split(','));
const workers = Number(values.workers ?? 2);
/** The SBC's `workers` key; undefined = its default (one process, no supervisor). */
const gatewayWorkers: number | 'auto' | undefined = parseGatewayWorkers(values['gateway-workers']);
const gatewayWorkerCount = gatewayWorkers === 'auto' ? availableParallelism() : gatewayWorkers ?? 1;
/** The `workers` option for startSbcProcess, when one was asked for. */
const gatewayOption = gatewayWorkers === undefined ? {} : { workers: gatewayWorkers };

function parseGatewayWorkers(text: string | undefined): number | 'auto' | undefined {
  if (text === undefined) return undefined;
  if (text === 'auto') return 'auto';
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--gateway-workers must be a whole number >= 1 or auto, not ${text}`);
  return n;
}
const udpRecvBuffer = values['sbc-udp-rcvbuf'] === undefined ? undefined : Number(values['sbc-udp-rcvbuf']);
const sbcNodeFlags = values['sbc-node-flags'] === undefined ? {} : { nodeFlags: values['sbc-node-flags'].split(' ').filter((f) => f !== '') };
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

/** Memory of the server measured: one process, or the supervisor and its workers summed. */
interface MemoryReading {
  /** RSS summed over its processes, kB (shared pages counted in each). */
  vmRssKb: number;
  /** PSS summed over its processes, kB (shared pages counted once). */
  pssKb: number;
  /** How many processes were measured. */
  processes: number;
  /** Live JS heap after a full GC, summed over its processes; undefined when it could not be measured. */
  heapUsedBytes?: number;
  /** Why the heap was not measured, when it was not. */
  heapError?: string;
  /** The inspector's figures per process (supervisor first), when measured. */
  perProcess?: MemoryFigures[];
}

/** One WSS server under the clients: N flows registered, memory per flow, re-REGISTER ceiling. */
export interface WssMeasurement {
  open: OpenReport;
  before: MemoryReading;
  after: MemoryReading;
  /** Growth per registered flow, bytes: RSS and PSS (as the OS sees them, summed over the gateway's processes) and live JS heap after a full GC (undefined when not measured). */
  rssPerFlowBytes: number;
  pssPerFlowBytes: number;
  heapPerFlowBytes?: number;
  /** Re-REGISTER steps; their sbcCpuPercent is the CPU of the server measured (the SBC with all its workers, or the floor). */
  refresh: StepResult[];
  bestRefresh: StepResult | undefined;
}

export interface WssPartResult extends WssMeasurement {
  clients: number;
  /** WSS flows each gateway worker held at the end (after the re-REGISTER steps), by worker id; "1" without workers. */
  flowsByWorker?: Record<string, { flows: number; registered: number }>;
  /** Set when a worker's list reached the admin API's cap (10,000 flows per worker): its count is a floor. */
  flowsCapped?: boolean;
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
  /** The SBC's `workers` key in the calls, register, refresh and wss parts (1 = no supervisor). */
  gatewayWorkers: number | 'auto';
  /** How many gateway workers that is on this machine. */
  gatewayWorkerCount: number;
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
    sbc = await startSbcProcess({ uasPort: uas.port, workDir: work, ...gatewayOption, ...(udpRecvBuffer !== undefined ? { udpRecvBufferBytes: udpRecvBuffer } : {}), ...(values.profile !== undefined ? { cpuProfileDir: values.profile } : {}) });
    const pids = await withChildren(sbc.pid);
    log(`${label}: SBC pid ${sbc.pid}${gatewayLine(pids)} udp 127.0.0.1:${sbc.udpPort}, UAS 127.0.0.1:${uas.port}, ${workers} generator processes`);
    // SO_REUSEPORT keeps each source address on one worker: one socket per generator process.
    if (pids.length > 1 && workers < 2 * gatewayWorkerCount) log(`${label}: note: ${workers} generator sockets over ${gatewayWorkerCount} workers (the kernel hashes each source to one worker); --workers ${2 * gatewayWorkerCount} or more spreads them better`);
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
      sbcPid: pids,
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

/** ", 2 workers (pids …)" when the SBC runs workers, else nothing. */
function gatewayLine(pids: readonly number[]): string {
  return pids.length > 1 ? ` (supervisor) with ${pids.length - 1} workers, pids ${pids.slice(1).join(' ')}` : '';
}

/** The inspector port Node gave a cluster worker (`--inspect-port=N` on its command line), or undefined. */
async function workerInspectPort(pid: number): Promise<number | undefined> {
  const args = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0');
  const flag = args.find((a) => a.startsWith('--inspect-port='));
  return flag === undefined ? undefined : Number(flag.slice('--inspect-port='.length).split(':').pop());
}

/**
 * The SBC's memory: RSS and PSS summed over the supervisor and its workers;
 * the JS heap after a full GC through each one's inspector, summed (the
 * supervisor holds the shared store, the workers the flows).
 */
async function sbcMemory(sbc: SbcProcess, inspectPort: number): Promise<MemoryReading> {
  const workerPids = await childPids(sbc.pid);
  const pids = [sbc.pid, ...workerPids];
  const reading: MemoryReading = { vmRssKb: 0, pssKb: 0, processes: pids.length };
  try {
    const ports = [inspectPort];
    for (const pid of workerPids) {
      const port = await workerInspectPort(pid);
      if (port === undefined) throw new Error(`worker ${pid} has no --inspect-port`);
      ports.push(port);
    }
    reading.perProcess = await Promise.all(ports.map((port) => collectAndMeasure(port)));
    reading.heapUsedBytes = reading.perProcess.reduce((sum, m) => sum + m.heapUsedBytes, 0);
  } catch (err) {
    reading.heapError = (err as Error).message;
  }
  // After the GCs, so RSS sees what they gave back.
  for (const pid of pids) reading.vmRssKb += (await procStatusKb(pid, 'VmRSS')) ?? 0;
  reading.pssKb = await pssKb(pids);
  return reading;
}

/** WSS flows per worker from the admin API (the supervisor's answers for every worker). */
async function flowsByWorker(adminUrl: string): Promise<{ byWorker: Record<string, { flows: number; registered: number }>; capped: boolean }> {
  const res = await fetch(`${adminUrl}/api/flows`, { signal: AbortSignal.timeout(30_000) });
  if (res.status !== 200) throw new Error(`GET /api/flows: ${res.status}`);
  const body = (await res.json()) as { flows?: Array<{ transport?: string; worker?: number; registered?: unknown[] }> };
  const byWorker: Record<string, { flows: number; registered: number }> = {};
  const listed: Record<string, number> = {};
  for (const f of body.flows ?? []) {
    const w = String(f.worker ?? 1);
    listed[w] = (listed[w] ?? 0) + 1;
    if (f.transport !== 'wss') continue;
    const entry = (byWorker[w] ??= { flows: 0, registered: 0 });
    entry.flows++;
    if ((f.registered?.length ?? 0) > 0) entry.registered++;
  }
  return { byWorker, capped: Object.values(listed).some((n) => n >= 10_000) };
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

async function wssRefreshStep(procs: ChildProcess[], serverPids: readonly number[], rate: number): Promise<StepResult> {
  const sbcCpu = cpuPercentsOver(serverPids, 300, PLAN.wssStepS * 1000);
  const reports = await Promise.all(
    procs.map((p) => {
      p.send({ cmd: 'refresh', rate: rate / procs.length, duration: PLAN.wssStepS });
      return nextMessage(p, (m) => (m as { report?: WorkerReport }).report, (PLAN.wssStepS * 3 + 30) * 1000);
    }),
  );
  return {
    rate,
    ...combine(reports),
    load1: Math.round((loadavg()[0] ?? 0) * 100) / 100,
    ...cpuFields(await sbcCpu),
  };
}

/** The server the WSS clients talk to, and how its lines are labelled. */
interface WssServer {
  /** Prefix of its log lines. */
  label: string;
  /** What its memory line calls it, e.g. "SBC memory". */
  memoryName: string;
  refreshLabel: string;
  /** Its processes: one, or the supervisor and its workers. */
  pids: readonly number[];
  url: string;
  memory(): Promise<MemoryReading>;
  /** A CPU profile of the gateway over `ms` while its clients stay idle (--idle-profile FILE), when it can be taken. */
  profileIdle?(ms: number): Promise<string>;
  /** SIP messages the server counted so far, by direction and transport ("in udp" → n), when it counts them. */
  messages?(): Promise<Record<string, number>>;
}

/** sbc_sip_messages_total from the SBC's /metrics, summed by direction and transport. */
async function sbcMessages(adminUrl: string): Promise<Record<string, number>> {
  const res = await fetch(`${adminUrl}/metrics`, { signal: AbortSignal.timeout(10_000) });
  const out: Record<string, number> = {};
  for (const sample of parsePromText(await res.text())) {
    if (sample.name !== 'sbc_sip_messages_total') continue;
    const key = `${sample.labels.direction ?? '?'} ${sample.labels.transport ?? '?'}`;
    out[key] = (out[key] ?? 0) + sample.value;
  }
  return out;
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
  if (values['idle-profile'] !== undefined && server.profileIdle !== undefined) {
    // What the open connections cost by themselves: 20 s with every client registered and quiet.
    writeFileSync(values['idle-profile'], await server.profileIdle(20_000));
    log(`${server.label}: CPU profile of 20 idle seconds with ${open.registered} flows: ${values['idle-profile']}`);
  }
  const flows = Math.max(1, open.registered);
  const rssPerFlowBytes = Math.round(((after.vmRssKb - before.vmRssKb) * 1024) / flows);
  const pssPerFlowBytes = Math.round(((after.pssKb - before.pssKb) * 1024) / flows);
  const heapPerFlowBytes = after.heapUsedBytes === undefined || before.heapUsedBytes === undefined ? undefined : Math.round((after.heapUsedBytes - before.heapUsedBytes) / flows);
  const mb = (kb: number): string => `${kb >= 0 ? '+' : ''}${(kb / 1024).toFixed(1)} MB`;
  const heapText =
    heapPerFlowBytes === undefined || after.heapUsedBytes === undefined || before.heapUsedBytes === undefined
      ? `JS heap after GC not measured (${after.heapError ?? before.heapError ?? '?'})`
      : `JS heap after GC ${mb((after.heapUsedBytes - before.heapUsedBytes) / 1024)} (${(heapPerFlowBytes / 1024).toFixed(1)} kB/flow)`;
  const over = after.processes > 1 ? `, summed over ${after.processes} processes (supervisor + workers)` : '';
  log(
    `${server.label}: ${server.memoryName} for ${open.registered} flows${over}: RSS ${mb(after.vmRssKb - before.vmRssKb)}` +
      ` (${(rssPerFlowBytes / 1024).toFixed(1)} kB/flow), PSS ${mb(after.pssKb - before.pssKb)} (${(pssPerFlowBytes / 1024).toFixed(1)} kB/flow), ${heapText}`,
  );
  const refresh: StepResult[] = [];
  for (const rate of PLAN.wssRates) {
    const counted = await server.messages?.();
    const step = await wssRefreshStep(procs, server.pids, rate);
    refresh.push(step);
    log(formatStep(server.refreshLabel, step));
    if (counted !== undefined) {
      // What the step cost in messages: a REGISTER relayed once is 2 in and 2 out; more means retransmissions.
      const now = await server.messages!();
      log(`${server.refreshLabel}: SIP messages during the step: ${Object.keys(now).sort().map((k) => `${k} ${now[k]! - (counted[k] ?? 0)}`).join(', ')}`);
    }
    if (!passed(step)) break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  return { open, before, after, rssPerFlowBytes, pssPerFlowBytes, ...(heapPerFlowBytes !== undefined ? { heapPerFlowBytes } : {}), refresh, bestRefresh: best(refresh) };
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
      return { vmRssKb: (await procStatusKb(pid, 'VmRSS')) ?? 0, pssKb: await pssKb([pid]), processes: 1, heapUsedBytes: m.heapUsedBytes, perProcess: [m] };
    };
    return await measureWss(procs, { label: FLOOR_LABEL, memoryName: 'memory', refreshLabel: `${FLOOR_LABEL}: refresh`, pids: [pid], url, memory });
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
    sbc = await startSbcProcess({ uasPort: uas.port, workDir: work, ...gatewayOption, ...(udpRecvBuffer !== undefined ? { udpRecvBufferBytes: udpRecvBuffer } : {}), wss: true, maxConnectionsPerIp: wssClients + 1000, inspectPort, ...sbcNodeFlags, ...(values.profile !== undefined ? { cpuProfileDir: values.profile } : {}) });
    const url = `wss://127.0.0.1:${sbc.wssPort}`;
    const pids = await withChildren(sbc.pid);
    log(`wss: SBC pid ${sbc.pid}${gatewayLine(pids)} ${url}, ${wssClients} clients in ${procs.length} processes`);
    const running = sbc;
    const measured = await measureWss(procs, { label: 'wss', memoryName: 'SBC memory', refreshLabel: 'wss refresh', pids, url, memory: () => sbcMemory(running, inspectPort), messages: () => sbcMessages(running.adminUrl), ...(gatewayWorkerCount === 1 ? { profileIdle: (ms: number) => profileWindow(inspectPort, ms) } : {}) });
    const result: WssPartResult = { clients: wssClients, ...measured };
    try {
      const { byWorker, capped } = await flowsByWorker(sbc.adminUrl);
      result.flowsByWorker = byWorker;
      if (capped) result.flowsCapped = true;
      const text = Object.entries(byWorker).map(([w, n]) => `worker ${w} ${n.flows} (${n.registered} registered)`).join(', ');
      log(`wss: WSS flows per worker at the end (the 100 warm-up clients included): ${text === '' ? 'none' : text}${capped ? ' (a list reached the 10,000 cap: counts are floors)' : ''}`);
    } catch (err) {
      log(`wss: flows per worker not read: ${(err as Error).message}`);
    }
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
  const results: LoadResults = { quick, workers, gatewayWorkers: gatewayWorkers ?? 1, gatewayWorkerCount, errors: [], ...(udpRecvBuffer !== undefined ? { whatIf: `SBC UDP receive buffer ${udpRecvBuffer} bytes (preload)` } : {}) };
  if (results.whatIf !== undefined) log(`WHAT-IF RUN: ${results.whatIf}; figures are not the SBC as shipped`);
  if (gatewayWorkerCount > 1) log(`gateway: workers ${gatewayWorkers} = ${gatewayWorkerCount} workers behind a supervisor (calls, register, refresh, wss parts)`);
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
