/**
 * Steps a UDP load up through a list of rates, each for a few seconds with
 * the rate split over several generator processes, until a step sees a
 * failure. The highest rate with none is the result.
 */
import { loadavg } from 'node:os';
import { forkWorker, nextMessage, procCpuSeconds, stopChild, udpDrops } from './children.js';
import { combine, ms, type StepFigures, type WorkerReport } from './stats.js';

export type UdpMode = 'call' | 'register' | 'refresh';

export interface StepResult extends StepFigures {
  rate: number;
  /** CPU the SBC used during the step, in % of one core (with workers: the supervisor and every worker together); undefined when measured without it. */
  sbcCpuPercent?: number;
  /** With workers: the same CPU per process, supervisor first, then each worker. */
  sbcCpuPerProcess?: number[];
  /** One-minute load average of the machine at the end of the step: other work skews the figures. */
  load1: number;
  /** Datagrams the kernel dropped at the SBC's UDP socket during the step (its receive buffer was full). */
  sbcUdpDrops?: number;
  /** CPU the generators used while sending, in % of one core, all workers together (UDP generators only). */
  generatorCpuPercent?: number;
}

export interface RampOptions {
  mode: UdpMode;
  target: { host: string; port: number };
  rates: readonly number[];
  durationS: number;
  workers: number;
  timeoutMs: number;
  /** Process whose CPU use is sampled per step (the SBC); with workers, the supervisor and its workers. */
  sbcPid?: number | readonly number[];
  /** The SBC's UDP port, whose kernel drops are counted per step. */
  sbcUdpPort?: number;
  /** Progress lines go here. */
  log: (line: string) => void;
  label: string;
  /** Offer SDP the generator sends: plain RTP, or browser-shaped (engages the media engine). @default plain */
  sdp?: 'plain' | 'webrtc';
}

let runSeq = 0;

/** One step: `workers` generator processes sharing `rate`. */
export async function runStep(o: Omit<RampOptions, 'rates'>, rate: number): Promise<StepResult> {
  const run = `${process.pid.toString(36)}${(runSeq++).toString(36)}`;
  const share = rate / o.workers;
  const children = Array.from({ length: o.workers }, (_, i) =>
    forkWorker('uac', [
      '--target', `${o.target.host}:${o.target.port}`,
      '--mode', o.mode,
      '--rate', String(share),
      '--duration', String(o.durationS),
      '--timeout', String(o.timeoutMs),
      '--worker', String(i),
      '--run', run,
      '--sdp', o.sdp ?? 'plain',
    ]),
  );
  const drops0 = o.sbcUdpPort === undefined ? undefined : await udpDrops(o.sbcUdpPort);
  // SBC CPU over the sending window only (workers start within a few hundred ms): the drain after it would dilute the figure.
  const sbcCpu = o.sbcPid === undefined ? Promise.resolve(undefined) : cpuPercentsOver(o.sbcPid, 300, o.durationS * 1000);
  try {
    const limit = (o.durationS * 3 + 10) * 1000 + o.timeoutMs;
    const reports = await Promise.all(
      children.map((c) => nextMessage(c, (m) => (m as { report?: WorkerReport }).report, limit)),
    );
    const cpu = await sbcCpu;
    const drops1 = o.sbcUdpPort === undefined ? undefined : await udpDrops(o.sbcUdpPort);
    const figures = combine(reports);
    const generatorCpuS = reports.reduce((sum, r) => sum + r.cpuMs / 1000, 0);
    const sendS = Math.max(0.001, ...reports.map((r) => r.sendMs / 1000));
    return {
      rate,
      ...figures,
      load1: Math.round((loadavg()[0] ?? 0) * 100) / 100,
      ...cpuFields(cpu),
      generatorCpuPercent: Math.round((generatorCpuS / sendS) * 100),
      ...(drops0 !== undefined && drops1 !== undefined ? { sbcUdpDrops: drops1 - drops0 } : {}),
    };
  } finally {
    await Promise.all(children.map((c) => stopChild(c)));
  }
}

/** CPU each of `pids` uses between `fromMs` and `toMs` from now, in % of one core, in the order given; undefined when the first is gone. */
export async function cpuPercentsOver(pids: number | readonly number[], fromMs: number, toMs: number): Promise<number[] | undefined> {
  const list = typeof pids === 'number' ? [pids] : pids;
  await new Promise((r) => setTimeout(r, fromMs));
  const a = await Promise.all(list.map((pid) => procCpuSeconds(pid)));
  const t = performance.now();
  await new Promise((r) => setTimeout(r, Math.max(100, toMs - fromMs)));
  const b = await Promise.all(list.map((pid) => procCpuSeconds(pid)));
  if (a[0] === undefined || b[0] === undefined) return undefined;
  const seconds = (performance.now() - t) / 1000;
  return list.map((_, i) => Math.round((((b[i] ?? 0) - (a[i] ?? 0)) / seconds) * 100));
}

/** CPU `pids` use together between `fromMs` and `toMs` from now, in % of one core. */
export async function cpuPercentOver(pids: number | readonly number[], fromMs: number, toMs: number): Promise<number | undefined> {
  const each = await cpuPercentsOver(pids, fromMs, toMs);
  return each?.reduce((sum, p) => sum + p, 0);
}

/** The step fields for per-process CPU figures: the total, and each process when there are several. */
export function cpuFields(each: number[] | undefined): Pick<StepResult, 'sbcCpuPercent' | 'sbcCpuPerProcess'> {
  if (each === undefined) return {};
  const sbcCpuPercent = each.reduce((sum, p) => sum + p, 0);
  return each.length > 1 ? { sbcCpuPercent, sbcCpuPerProcess: each } : { sbcCpuPercent };
}

/** Steps through `rates` until one fails or falls short of its rate; returns every step run. */
export async function ramp(o: RampOptions): Promise<StepResult[]> {
  const steps: StepResult[] = [];
  for (const rate of o.rates) {
    const step = await runStep(o, rate);
    steps.push(step);
    o.log(formatStep(o.label, step));
    if (!passed(step)) break;
    // Let the last step's stragglers and the SBC's timers settle before the next one.
    await new Promise((r) => setTimeout(r, 1000));
  }
  return steps;
}

/**
 * Median latency above which a step does not count: the SBC is queueing
 * (behind its input), so a longer step at that rate would start failing.
 */
export const QUEUEING_P50_MS = 200;

/** A step counts when nothing failed, the requests really left at (nearly) the asked rate, and the SBC kept up. */
export function passed(s: StepResult): boolean {
  return s.failed === 0 && s.ok > 0 && s.sentRate >= 0.9 * s.rate && s.p50Ms <= QUEUEING_P50_MS;
}

/** The highest step that passed, or undefined. */
export function best(steps: readonly StepResult[]): StepResult | undefined {
  let top: StepResult | undefined;
  for (const s of steps) if (passed(s) && (top === undefined || s.rate > top.rate)) top = s;
  return top;
}

export function formatStep(label: string, s: StepResult): string {
  const failures = Object.entries(s.failures).map(([k, v]) => `${k}=${v}`).join(' ');
  const perProcess = s.sbcCpuPerProcess === undefined ? '' : ` (supervisor ${s.sbcCpuPerProcess[0]}% + workers ${s.sbcCpuPerProcess.slice(1).map((p) => `${p}%`).join(' / ')})`;
  const cpu = s.sbcCpuPercent === undefined ? '' : ` sbc-cpu=${s.sbcCpuPercent}%${perProcess}`;
  const drops = s.sbcUdpDrops === undefined || s.sbcUdpDrops === 0 ? '' : ` sbc-udp-drops=${s.sbcUdpDrops}`;
  const short = s.sentRate < 0.9 * s.rate ? ' SHORT (requests left below the asked rate)' : s.p50Ms > QUEUEING_P50_MS ? ` QUEUEING (p50 above ${QUEUEING_P50_MS} ms)` : '';
  return (
    `${label} rate=${s.rate}/s sent=${Math.round(s.sentRate)}/s ok=${s.ok} failed=${s.failed}` +
    ` p50=${ms(s.p50Ms)}ms p99=${ms(s.p99Ms)}ms${cpu} ${s.generatorCpuPercent === undefined ? '' : ` gen-cpu=${s.generatorCpuPercent}%`}${failures === '' ? '' : ` (${failures})`} load=${s.load1}${drops}${short}`
  );
}
