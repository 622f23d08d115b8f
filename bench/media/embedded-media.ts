/**
 * The embedded media bench: how many concurrent calls the SBC's own relay
 * carries at 50 packets/s each way per call with < 0.1 % loss, what each call
 * costs (CPU and memory of the SBC process), and the one-way packet latency;
 * then rtpengine (userspace) carrying the same number of calls in the same
 * run, and the generators' floor (plain side to plain side, nothing between).
 *
 *   embedded:  webrtc-side (werift, WS) ──► SBC child (media.mode embedded) ──UDP──► plain-side (SIP UAS + RTP)
 *   rtpengine: plain-side A ──RTP──► rtpengine ──RTP──► plain-side B   (legs set up over ng by this script)
 * Both relays stay up for the whole run and are measured in turn at each call count.
 *   floor:     plain-side A ──RTP──► plain-side B
 *
 * rtpengine carries plain RTP on both legs here: werift's DTLS handshake with
 * rtpengine fails in 25-50 % of runs (PEERS.md), so its legs do no DTLS or
 * SRTP and its figures are a floor for what it would cost with a browser leg.
 * Every generator is a process of its own; latency is measured with the
 * machine's monotonic clock stamped into each payload (bench/media/probe.ts).
 *
 * Run: node dist/bench/media/embedded-media.js [--quick] [--calls 25,50,...]
 *        [--step-seconds S] [--json FILE]
 * Progress and the table go to stderr; results as JSON to stdout or --json FILE.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { NgClient, answerDict, offerDict, replySdp } from '../../src/media/rtpengine/index.js';
import { relayHolding } from '../../test/helpers/embedded-relay.js';
import { startRtpengine, type RunningRtpengine } from '../../test/helpers/rtpengine.js';
import { nextMessage, procCpuSeconds, procStatusKb, stopChild } from '../load/children.js';
import { benchWorkDir, startSbcProcess, type SbcProcess } from '../load/sbc-process.js';
import type { WindowReport } from './probe.js';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    calls: { type: 'string' },
    'step-seconds': { type: 'string' },
    json: { type: 'string' },
    'webrtc-procs': { type: 'string' },
  },
});
const quick = values.quick ?? false;
const STEPS = values.calls !== undefined ? values.calls.split(',').map(Number) : quick ? [10, 25] : [25, 50, 100, 150, 200, 250, 300];
const STEP_S = Number(values['step-seconds'] ?? (quick ? 2 : 5));
const WARM_S = quick ? 0.5 : 1;
/** werift generator processes: one saturates near 100 calls (~0.8 % of a core per call). */
const WEBRTC_PROCS = Number(values['webrtc-procs'] ?? (quick ? 1 : 2));
/** A step's generators must get at least this share of the asked packets out. */
const MIN_SENT_SHARE = 0.9;
/** Median one-way latency above this means packets queue: the step fails. */
const MAX_P50_MS = 20;
/** The loss both ways above which a step fails (0.1 %). */
const MAX_LOSS = 0.001;
/** The relay's ports: below the kernel's ephemeral range, where the generators' sockets live. */
const RELAY_PORTS = '12000-15999';
const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

const here = dirname(fileURLToPath(import.meta.url));
const fromSource = import.meta.url.endsWith('.ts');

function forkSide(name: 'plain-side' | 'webrtc-side'): ChildProcess {
  return fork(join(here, `${name}${fromSource ? '.ts' : '.js'}`), [], {
    execArgv: fromSource ? ['--import', 'tsx'] : [],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
}

function ask<T>(child: ChildProcess, message: unknown, key: string, timeoutMs = 30_000): Promise<T> {
  child.send(message as object);
  return nextMessage(child, (m) => {
    const r = m as Record<string, unknown>;
    if (typeof r['error'] === 'string') throw new Error(r['error']);
    return r[key] as T | undefined;
  }, timeoutMs);
}

type SideReport = WindowReport & { endpoints: number };

/** One side of the calls, in one or more processes; commands go to all, reports add up. */
class Side {
  readonly procs: ChildProcess[];
  constructor(procs: ChildProcess[]) {
    this.procs = procs;
  }

  all<T>(message: (i: number) => unknown, key: string, timeoutMs?: number): Promise<T[]> {
    return Promise.all(this.procs.map((p, i) => ask<T>(p, message(i), key, timeoutMs)));
  }

  /** Counts added up; latency percentiles and max of the worst process (a conservative merge). */
  async report(): Promise<SideReport> {
    const rs = await this.all<SideReport>(() => ({ cmd: 'report' }), 'report');
    const sum = (f: (r: SideReport) => number): number => rs.reduce((a, r) => a + f(r), 0);
    const worst = (f: (r: SideReport) => number): number => Math.max(...rs.map((r) => (Number.isFinite(f(r)) ? f(r) : 0)));
    return {
      epoch: rs[0]?.epoch ?? 0, sent: sum((r) => r.sent), received: sum((r) => r.received), foreign: sum((r) => r.foreign),
      latencyCount: sum((r) => r.latencyCount), p50Us: worst((r) => r.p50Us), p99Us: worst((r) => r.p99Us), maxUs: worst((r) => r.maxUs),
      cpuMs: sum((r) => r.cpuMs), endpoints: sum((r) => r.endpoints),
    };
  }

  /** CPU of each process over the window, from the reports. */
  async cpuMsEach(): Promise<number[]> {
    return (await this.all<SideReport>(() => ({ cmd: 'report' }), 'report')).map((r) => r.cpuMs);
  }

  close(): Promise<void> {
    for (const p of this.procs) if (p.connected) p.send({ cmd: 'close' });
    return Promise.all(this.procs.map((p) => stopChild(p))).then(() => undefined);
  }
}

/** One direction of one step. */
export interface Direction {
  sent: number;
  received: number;
  lossPercent: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface MediaStep {
  calls: number;
  /** Calls that were up for the window (fewer than asked = setup failures). */
  established: number;
  setupFailures: number;
  setupErrors: string[];
  /** WebRTC (or A) side → plain (or B) side, and back. */
  forward: Direction;
  back: Direction;
  /** CPU of the relay process (the SBC, or rtpengine) over the window, % of one core. */
  relayCpuPercent: number;
  /** (relay CPU − its idle CPU) / calls, % of one core. */
  cpuPercentPerCall: number;
  /** Relay RSS with the calls up, minus its idle RSS, per call, kB. */
  rssPerCallKb: number;
  /** CPU of each generator process over the window, % of one core. */
  generatorCpuPercent: number[];
  passed: boolean;
  /** Why the step failed: setup failures, loss, generators that could not send at rate, queueing. */
  stopReason?: string;
  load1: number;
}

export interface RelayRamp {
  steps: MediaStep[];
  best: MediaStep | undefined;
  idleRssKb: number;
  /** CPU of the relay process with no call, % of one core (subtracted before dividing by the calls). */
  idleCpuPercent: number;
  error?: string;
}

export interface EmbeddedMediaResults {
  quick: boolean;
  stepSeconds: number;
  embedded: RelayRamp;
  rtpengine: RelayRamp;
  /** Generators' floor: plain to plain with nothing between, at the embedded relay's best call count (or the first). */
  floor?: MediaStep;
  notes: string[];
}

function direction(from: SideReport, to: SideReport): Direction {
  const lost = Math.max(0, from.sent - to.received);
  return {
    sent: from.sent,
    received: to.received,
    lossPercent: from.sent === 0 ? 100 : (100 * lost) / from.sent,
    p50Ms: to.p50Us / 1000,
    p99Ms: to.p99Us / 1000,
    maxMs: to.maxUs / 1000,
  };
}

let epoch = 0;

/**
 * One measured window over two sides already set up: a warm-up window (not
 * counted), then the measured one; receivers are armed before any sender of
 * the window starts, and read after every sender stopped.
 */
async function measure(a: Side, b: Side, relayPid: number | undefined): Promise<Measured> {
  const window = async (seconds: number): Promise<{ cpu: number }> => {
    epoch = (epoch % 250) + 1;
    await Promise.all([a.all(() => ({ cmd: 'arm', epoch }), 'armed'), b.all(() => ({ cmd: 'arm', epoch }), 'armed')]);
    const cpu0 = relayPid === undefined ? 0 : (await procCpuSeconds(relayPid)) ?? 0;
    const t0 = Date.now();
    await Promise.all([a.all(() => ({ cmd: 'start' }), 'started'), b.all(() => ({ cmd: 'start' }), 'started')]);
    await sleep(seconds * 1000);
    await Promise.all([a.all(() => ({ cmd: 'stop' }), 'stopped'), b.all(() => ({ cmd: 'stop' }), 'stopped')]);
    const cpu1 = relayPid === undefined ? 0 : (await procCpuSeconds(relayPid)) ?? 0;
    const elapsed = (Date.now() - t0) / 1000;
    // What is in flight lands.
    await sleep(500);
    return { cpu: (100 * (cpu1 - cpu0)) / elapsed };
  };
  await window(WARM_S);
  const { cpu } = await window(STEP_S);
  const [ra, rb, ca, cb] = await Promise.all([a.report(), b.report(), a.cpuMsEach(), b.cpuMsEach()]);
  return { a: ra, b: rb, relayCpuPercent: cpu, generatorCpuMs: [...ca, ...cb] };
}

interface Measured {
  a: SideReport;
  b: SideReport;
  relayCpuPercent: number;
  /** CPU ms of each generator process over the window. */
  generatorCpuMs: number[];
}

function stepOf(calls: number, established: number, setup: { failed: number; errors: string[] }, m: Measured, rssKb: number, idle: { rssKb: number; cpuPercent: number }): MediaStep {
  const forward = direction(m.a, m.b);
  const back = direction(m.b, m.a);
  const seconds = STEP_S;
  const asked = established * 50 * seconds;
  let stopReason: string | undefined;
  if (established < calls) stopReason = `${calls - established} of ${calls} calls not set up`;
  else if (forward.lossPercent >= MAX_LOSS * 100 || back.lossPercent >= MAX_LOSS * 100) stopReason = `loss ${forward.lossPercent.toFixed(3)} / ${back.lossPercent.toFixed(3)} %`;
  else if (forward.sent < MIN_SENT_SHARE * asked || back.sent < MIN_SENT_SHARE * asked) stopReason = `generators got only ${forward.sent} / ${back.sent} of ${asked} packets out`;
  else if (!(forward.p50Ms <= MAX_P50_MS) || !(back.p50Ms <= MAX_P50_MS)) stopReason = `queueing: latency p50 ${forward.p50Ms.toFixed(1)} / ${back.p50Ms.toFixed(1)} ms`;
  const passed = stopReason === undefined;
  return {
    calls,
    established,
    setupFailures: setup.failed,
    setupErrors: setup.errors,
    forward,
    back,
    relayCpuPercent: round(m.relayCpuPercent, 1),
    cpuPercentPerCall: round(Math.max(0, m.relayCpuPercent - idle.cpuPercent) / Math.max(1, established), 3),
    rssPerCallKb: round((rssKb - idle.rssKb) / Math.max(1, established), 1),
    generatorCpuPercent: m.generatorCpuMs.map((ms) => round(ms / (seconds * 10), 1)),
    passed,
    ...(stopReason !== undefined ? { stopReason } : {}),
    load1: round(loadavg()[0] ?? 0, 2),
  };
}

function formatStep(label: string, s: MediaStep): string {
  const d = (x: Direction): string => `loss ${x.lossPercent.toFixed(3)} % (${x.received}/${x.sent}), latency p50 ${x.p50Ms.toFixed(2)} p99 ${x.p99Ms.toFixed(2)} ms`;
  return `${label} ${s.calls} calls: ${s.established} up${s.setupFailures > 0 ? ` (${s.setupFailures} failed: ${s.setupErrors.join('; ')})` : ''}; ` +
    `→ ${d(s.forward)}; ← ${d(s.back)}; relay CPU ${s.relayCpuPercent} % (${s.cpuPercentPerCall} %/call), RSS +${s.rssPerCallKb} kB/call; ` +
    `generators CPU ${s.generatorCpuPercent.join(' / ')} %; load ${s.load1}${s.stopReason === undefined ? '' : `  ← ${s.stopReason}`}`;
}

async function waitRelayEmpty(adminUrl: string, timeoutMs: number): Promise<number | undefined> {
  const deadline = Date.now() + timeoutMs;
  let sessions: number | undefined;
  while (Date.now() < deadline) {
    sessions = (await relayHolding(adminUrl).catch(() => ({ sessions: undefined }))).sessions;
    if (sessions === 0) return 0;
    await sleep(250);
  }
  return sessions;
}

/**
 * One relay under test, set up once and warmed up, then measured step by step
 * (alternating with the other relay, so both see the same machine).
 */
interface RelayBed {
  name: string;
  ramp: RelayRamp;
  stopped: boolean;
  step(calls: number): Promise<MediaStep>;
  close(): Promise<void>;
}

type Setup = { established: number; failed: number; errors: string[] };

async function embeddedBed(work: string): Promise<RelayBed> {
  const plain = new Side([forkSide('plain-side')]);
  const webrtc = new Side(Array.from({ length: Math.max(1, WEBRTC_PROCS) }, () => forkSide('webrtc-side')));
  let sbc: SbcProcess | undefined;
  const ramp: RelayRamp = { steps: [], best: undefined, idleRssKb: 0, idleCpuPercent: 0 };
  const close = async (): Promise<void> => {
    await Promise.all([webrtc.close(), plain.close()]);
    await sbc?.stop();
  };
  /** `n` calls spread over the werift processes, their outcomes added up. */
  const place = async (url: string, n: number, concurrency: number): Promise<Setup> => {
    const per = webrtc.procs.map((_, i) => Math.floor(n / webrtc.procs.length) + (i < n % webrtc.procs.length ? 1 : 0));
    const rs = await webrtc.all<Setup>((i) => ({ cmd: 'calls', url, target: 'sip:plain@127.0.0.1', n: per[i], concurrency }), 'calls', 60_000 + n * 2000);
    return { established: rs.reduce((a, r) => a + r.established, 0), failed: rs.reduce((a, r) => a + r.failed, 0), errors: [...new Set(rs.flatMap((r) => r.errors))].slice(0, 5) };
  };
  const hangup = async (n: number): Promise<{ ok: number; failed: number }> => {
    const rs = await webrtc.all<{ ok: number; failed: number }>(() => ({ cmd: 'hangup' }), 'hungUp', 60_000 + n * 500);
    return { ok: rs.reduce((a, r) => a + r.ok, 0), failed: rs.reduce((a, r) => a + r.failed, 0) };
  };
  try {
    const { sipPort } = await nextMessage(plain.procs[0]!, (m) => (m as { ready?: { sipPort: number } }).ready, 10_000);
    await Promise.all(webrtc.procs.map((p) => nextMessage(p, (m) => (m as { ready?: boolean }).ready, 10_000)));
    sbc = await startSbcProcess({
      uasPort: sipPort, workDir: work, ws: true,
      media: { mode: 'embedded', embedded: { address: '127.0.0.1', ports: RELAY_PORTS, maxSessions: 2000 } },
    });
    const running = sbc;
    const url = `ws://127.0.0.1:${running.wsPort}`;
    log(`embedded: SBC pid ${running.pid} ${url}, plain side pid ${plain.procs[0]!.pid} (SIP ${sipPort}), werift sides pid ${webrtc.procs.map((p) => p.pid).join(', ')}`);
    // Warm-up: code paths, the DTLS certificate, werift's first allocations.
    const warm = await place(url, 5 * webrtc.procs.length, 5);
    if (warm.established === 0) throw new Error(`no warm-up call came up: ${warm.errors.join('; ')}`);
    await measure(webrtc, plain, running.pid);
    await hangup(warm.established);
    await waitRelayEmpty(running.adminUrl, 10_000);
    await sleep(1000);
    ramp.idleRssKb = (await procStatusKb(running.pid, 'VmRSS')) ?? 0;
    ramp.idleCpuPercent = await idleCpu(running.pid);
    log(`embedded: idle SBC RSS ${(ramp.idleRssKb / 1024).toFixed(1)} MB, CPU ${ramp.idleCpuPercent} %`);
    return {
      name: 'embedded', ramp, stopped: false, close,
      step: async (calls) => {
        const setup = await place(url, calls, 8);
        const m = await measure(webrtc, plain, running.pid);
        const rss = (await procStatusKb(running.pid, 'VmRSS')) ?? 0;
        const step = stepOf(calls, setup.established, setup, m, rss, { rssKb: ramp.idleRssKb, cpuPercent: ramp.idleCpuPercent });
        const ended = await hangup(calls);
        const left = await waitRelayEmpty(running.adminUrl, 15_000);
        if (ended.failed > 0 || left !== 0) log(`embedded: after ${calls} calls: ${ended.failed} BYEs failed, relay still lists ${left ?? '?'} sessions`);
        return step;
      },
    };
  } catch (err) {
    const tail = sbc !== undefined ? `\n${sbc.tail().slice(-10).join('\n')}` : '';
    await close();
    throw new Error(`${(err as Error).message}${tail}`);
  }
}

function plainSdp(port: number): string {
  return ['v=0', 'o=bench 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', `m=audio ${port} RTP/AVP 0 101`,
    'a=rtpmap:0 PCMU/8000', 'a=rtpmap:101 telephone-event/8000', 'a=ptime:20', 'a=sendrecv', ''].join('\r\n');
}

function sdpPort(sdp: string): number {
  return Number(/\r?\nm=audio (\d+) /.exec(sdp)?.[1] ?? 0);
}

/** Plain RTP both legs through rtpengine, legs set up over ng here. */
async function rtpengineBed(): Promise<RelayBed> {
  const maxCalls = Math.max(...STEPS);
  const ramp: RelayRamp = { steps: [], best: undefined, idleRssKb: 0, idleCpuPercent: 0 };
  let engine: RunningRtpengine | undefined;
  let ng: NgClient | undefined;
  const a = new Side([forkSide('plain-side')]);
  const b = new Side([forkSide('plain-side')]);
  const close = async (): Promise<void> => {
    await Promise.all([a.close(), b.close()]);
    ng?.close();
    await engine?.stop();
  };
  const flags = { 'transport-protocol': 'RTP/AVP', ICE: 'remove', replace: ['origin', 'session-connection'], flags: ['trust-address'] };
  /** Set up `calls` engine sessions between A and B, measure, delete them. */
  const run = async (running: RunningRtpengine, client: NgClient, calls: number): Promise<{ setup: Setup; m: Measured; rss: number }> => {
    const [portsA, portsB] = await Promise.all([ask<number[]>(a.procs[0]!, { cmd: 'open', n: calls }, 'opened'), ask<number[]>(b.procs[0]!, { cmd: 'open', n: calls }, 'opened')]);
    const toA: number[] = [];
    const toB: number[] = [];
    const ids: string[] = [];
    let failed = 0;
    const errors = new Set<string>();
    for (let i = 0; i < calls; i++) {
      const callId = `bench-${Date.now()}-${i}-${Math.random().toString(36).slice(2, 8)}`;
      try {
        const offer = replySdp(await client.request('offer', offerDict({ callId, fromTag: 'a', sdp: plainSdp(portsA[i]!), flags })), 'rtpengine', 'offer');
        const answer = replySdp(await client.request('answer', answerDict({ callId, fromTag: 'a', toTag: 'b', sdp: plainSdp(portsB[i]!), flags })), 'rtpengine', 'answer');
        toB.push(sdpPort(offer));
        toA.push(sdpPort(answer));
        ids.push(callId);
      } catch (err) {
        failed++;
        toB.push(0);
        toA.push(0);
        if (errors.size < 5) errors.add((err as Error).message);
      }
    }
    await Promise.all([ask(a.procs[0]!, { cmd: 'targets', ports: toA }, 'targeted'), ask(b.procs[0]!, { cmd: 'targets', ports: toB }, 'targeted')]);
    const m = await measure(a, b, running.pid);
    const rss = (await procStatusKb(running.pid, 'VmRSS')) ?? 0;
    for (const callId of ids) await client.request('delete', { 'call-id': callId, 'from-tag': 'a', 'delete delay': 0 }).catch(() => undefined);
    await Promise.all([a.all(() => ({ cmd: 'closeAll' }), 'closedAll'), b.all(() => ({ cmd: 'closeAll' }), 'closedAll')]);
    return { setup: { established: ids.length, failed, errors: [...errors] }, m, rss };
  };
  try {
    // Warnings only: at info level the engine spends its time on a log line per call event.
    const running = await startRtpengine({ ports: Math.max(400, maxCalls * 4 + 100), logLevel: 4 });
    engine = running;
    const client = new NgClient(running.udpUrl, { timeoutMs: 2000, tries: 2 });
    ng = client;
    await Promise.all([a, b].map((c) => nextMessage(c.procs[0]!, (m) => (m as { ready?: unknown }).ready, 10_000)));
    log(`rtpengine: pid ${running.pid} ${running.udpUrl}, plain sides pid ${a.procs[0]!.pid} and ${b.procs[0]!.pid}`);
    // Warm-up round (not counted); idle figures after it.
    await run(running, client, STEPS[0]!);
    await sleep(1000);
    ramp.idleRssKb = (await procStatusKb(running.pid, 'VmRSS')) ?? 0;
    ramp.idleCpuPercent = await idleCpu(running.pid);
    return {
      name: 'rtpengine', ramp, stopped: false, close,
      step: async (calls) => {
        const { setup, m, rss } = await run(running, client, calls);
        return stepOf(calls, setup.established, setup, m, rss, { rssKb: ramp.idleRssKb, cpuPercent: ramp.idleCpuPercent });
      },
    };
  } catch (err) {
    const tail = engine !== undefined ? `\n${engine.logs().slice(-2000)}` : '';
    await close();
    throw new Error(`${(err as Error).message}${tail}`);
  }
}

/**
 * Both relays' ramps, interleaved: at each call count the embedded relay,
 * then rtpengine, so a machine that gets busier mid-run affects both alike.
 * A relay whose step fails is not asked for more calls.
 */
async function rampBoth(work: string): Promise<{ embedded: RelayRamp; rtpengine: RelayRamp }> {
  const empty = (error: string): RelayRamp => ({ steps: [], best: undefined, idleRssKb: 0, idleCpuPercent: 0, error });
  const beds: RelayBed[] = [];
  const out: { embedded: RelayRamp; rtpengine: RelayRamp } = { embedded: empty('not run'), rtpengine: empty('not run') };
  for (const [name, make] of [['embedded', () => embeddedBed(work)], ['rtpengine', () => rtpengineBed()]] as const) {
    try {
      const bed = await make();
      beds.push(bed);
      out[name] = bed.ramp;
    } catch (err) {
      out[name] = empty((err as Error).message);
      log(`${name} could not be set up: ${(err as Error).message}`);
    }
  }
  try {
    for (const calls of STEPS) {
      for (const bed of beds) {
        if (bed.stopped) continue;
        try {
          const step = await bed.step(calls);
          bed.ramp.steps.push(step);
          log(formatStep(bed.name, step));
          if (!step.passed) bed.stopped = true;
        } catch (err) {
          bed.ramp.error = (err as Error).message;
          bed.stopped = true;
          log(`${bed.name} failed at ${calls} calls: ${bed.ramp.error}`);
        }
        await sleep(1000);
      }
      if (beds.every((b) => b.stopped)) break;
    }
  } finally {
    for (const bed of beds) await bed.close();
  }
  for (const ramp of [out.embedded, out.rtpengine]) ramp.best = bestOf(ramp.steps);
  return out;
}

/** Plain to plain, nothing between: what the generators add by themselves. */
async function floorStep(calls: number): Promise<MediaStep | undefined> {
  const a = new Side([forkSide('plain-side')]);
  const b = new Side([forkSide('plain-side')]);
  const pa = a.procs[0]!;
  const pb = b.procs[0]!;
  try {
    await Promise.all([pa, pb].map((c) => nextMessage(c, (m) => (m as { ready?: unknown }).ready, 10_000)));
    const [portsA, portsB] = await Promise.all([ask<number[]>(pa, { cmd: 'open', n: calls }, 'opened'), ask<number[]>(pb, { cmd: 'open', n: calls }, 'opened')]);
    await Promise.all([ask(pa, { cmd: 'targets', ports: portsB }, 'targeted'), ask(pb, { cmd: 'targets', ports: portsA }, 'targeted')]);
    const m = await measure(a, b, undefined);
    const step = stepOf(calls, calls, { failed: 0, errors: [] }, m, 0, { rssKb: 0, cpuPercent: 0 });
    log(formatStep('floor (plain ⇄ plain, no relay)', step));
    return step;
  } catch (err) {
    log(`floor failed: ${(err as Error).message}`);
    return undefined;
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
}

/** CPU of `pid` over 2 s with nothing to do, % of one core. */
async function idleCpu(pid: number): Promise<number> {
  const c0 = (await procCpuSeconds(pid)) ?? 0;
  const t0 = Date.now();
  await sleep(2000);
  const c1 = (await procCpuSeconds(pid)) ?? 0;
  return round((100 * (c1 - c0)) / ((Date.now() - t0) / 1000), 1);
}

function bestOf(steps: readonly MediaStep[]): MediaStep | undefined {
  return steps.filter((s) => s.passed).at(-1);
}

function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The side-by-side table (also printed by scripts/run-bench.mjs in its own summary). */
export function table(r: EmbeddedMediaResults): string[] {
  const rows: string[][] = [['relay', 'calls', 'up', 'loss →/← %', 'latency p50/p99 → ms', 'latency p50/p99 ← ms', 'relay CPU %', 'CPU %/call', 'RSS kB/call', 'generators CPU %']];
  const add = (name: string, s: MediaStep): void => {
    rows.push([name, String(s.calls), String(s.established), `${s.forward.lossPercent.toFixed(3)} / ${s.back.lossPercent.toFixed(3)}`,
      `${s.forward.p50Ms.toFixed(2)} / ${s.forward.p99Ms.toFixed(2)}`, `${s.back.p50Ms.toFixed(2)} / ${s.back.p99Ms.toFixed(2)}`,
      String(s.relayCpuPercent), String(s.cpuPercentPerCall), String(s.rssPerCallKb), s.generatorCpuPercent.join(' / ') + (s.passed ? '' : '  FAIL')]);
  };
  for (const s of r.embedded.steps) add('embedded (werift ⇄ plain)', s);
  for (const s of r.rtpengine.steps) add('rtpengine (plain ⇄ plain)', s);
  if (r.floor !== undefined) add('floor (no relay)', r.floor);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  return rows.map((row) => row.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd());
}

async function main(): Promise<EmbeddedMediaResults> {
  log(`embedded media bench: ${cpus().length} cores, node ${process.version}, calls ${STEPS.join(',')}, ${STEP_S} s per step, 50 packets/s each way per call, pass = < ${MAX_LOSS * 100} % loss both ways`);
  const work = benchWorkDir();
  try {
    const { embedded, rtpengine } = await rampBoth(work.dir);
    const floor = await floorStep(embedded.best?.calls ?? STEPS[0]!);
    const notes = [
      'rtpengine carries plain RTP on both legs (no DTLS/SRTP): werift⇄rtpengine DTLS fails in 25-50 % of runs (PEERS.md); the embedded relay does DTLS-SRTP on one leg.',
      'latency is one-way, sender stamp to receiver read, generators included; "floor" is the same generators with nothing between.',
      'every generator shares the 2 cores with the relay: a generator near 100 % CPU bounds the ramp, not the relay.',
    ];
    return { quick, stepSeconds: STEP_S, embedded, rtpengine, ...(floor !== undefined ? { floor } : {}), notes };
  } finally {
    work.remove();
  }
}

main().then(
  (results) => {
    log('\n== embedded media relay vs rtpengine (same run) ==');
    for (const line of table(results)) log(line);
    for (const n of results.notes) log(`note: ${n}`);
    const text = JSON.stringify(results, null, 2);
    if (values.json !== undefined) writeFileSync(values.json, text);
    else process.stdout.write(`${text}\n`);
  },
  (err: unknown) => {
    log(`embedded media bench: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
    process.exit(1);
  },
);
