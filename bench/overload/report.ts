/**
 * The overload bench's figures as one table (the gateway and Kamailio side
 * by side per step), the memory line, and the issue's targets with a verdict
 * each. Pure: it only formats what run.ts measured.
 */
import type { StepResult } from './steps.js';
import type { MemoryReading, SystemName } from './systems.js';

/** A 503's cause. */
export interface UnavailableSplit {
  shed: number;
  noTarget: number;
  other: number;
}

/** Phrases of the 503 Kamailio's edge config sends when dispatcher has no destination. */
const KAMAILIO_NO_TARGET = /no destination/i;

/**
 * Split a step's 503s by cause. Kamailio: by its reason phrase. The gateway
 * sends the same phrase for every 503, so its own counters over the same
 * interval decide the shares: sbc_overload_shed_total and
 * sbc_rejected_requests_total{reason="overload"} are shed (except shed
 * reason "stale": dropped without an answer),
 * {reason="no-target"} is no-target (counters count retransmissions too,
 * hence shares rather than counts).
 */
export function split503(system: SystemName, step: StepResult): UnavailableSplit {
  const total = step.caller.failedByStatus['503'] ?? 0;
  if (total === 0) return { shed: 0, noTarget: 0, other: 0 };
  if (system === 'kamailio') {
    let noTarget = 0;
    for (const [phrase, n] of Object.entries(step.caller.unavailableByPhrase)) if (KAMAILIO_NO_TARGET.test(phrase)) noTarget += n;
    return { shed: 0, noTarget, other: total - noTarget };
  }
  const g = step.gateway;
  // "stale" sheds are dropped unanswered: no 503 of theirs reaches the caller.
  const shedCount = Object.entries(g?.shed ?? {}).reduce((a, [reason, n]) => (reason === 'stale' ? a : a + n), 0) + (g?.rejected?.['overload'] ?? 0);
  const noTargetCount = g?.rejected?.['no-target'] ?? 0;
  const sum = shedCount + noTargetCount;
  if (sum === 0) return { shed: 0, noTarget: 0, other: total };
  const shed = Math.round((total * shedCount) / sum);
  return { shed, noTarget: total - shed, other: 0 };
}

/** Final error responses other than 503 and 408. */
export function otherFailures(step: StepResult): number {
  let n = 0;
  for (const [code, count] of Object.entries(step.caller.failedByStatus)) if (code !== '503' && code !== '408') n += count;
  return n;
}

/** Calls that got no final response: SIPp waited 10 s in vain, or the call had no outcome at all. */
export function withoutFinal(step: StepResult): number {
  return step.caller.noFinal + step.caller.unaccounted;
}

/** Calls that did not complete within 2 s, whatever the cause. */
export function notGood(step: StepResult): number {
  return step.caller.started - step.caller.good;
}

const num = (v: number | undefined, digits = 0): string => (v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(digits));

/** Highest sbc_overload_state, with the lowest admit ratio when there is one; n/a when the gateway has no admission control. */
function overloadCell(g: StepResult['gateway']): string {
  if (g?.overloadStateMax === undefined) return 'n/a';
  return g.admitRatioMin === undefined || g.admitRatioMin >= 1 ? num(g.overloadStateMax) : `${num(g.overloadStateMax)} (admit ${g.admitRatioMin.toFixed(2)})`;
}

export interface SystemRun {
  name: SystemName;
  steps: StepResult[];
  /** Seconds until success was back at ≥ 99 % after the surge (undefined = not within the last step). */
  recoveryS: number | undefined;
  /** How the process ended during the run, if it did (e.g. out of memory). */
  died?: string;
  /** Backend-down log lines (gateway). */
  backendDown: string[];
  /** Its last log lines after the steps (errors show here). */
  logTail?: string[];
}

/** The step table: two rows per step (gateway, then Kamailio), the same columns. */
export function stepTable(capacity: number, runs: readonly SystemRun[]): string[] {
  const header = ['step', 'offered/s', 'system', 'sent/s', 'goodput/s', '503 shed', '503 no-target', '503 other', '408', 'other', 'no final', 'p99 setup ms', 'p99 reject ms', 'loop p99 ms', 'overload state', 'backend down', 'udp drops', 'cpu %', 'load'];
  const rows: string[][] = [];
  const stepCount = Math.max(0, ...runs.map((r) => r.steps.length));
  for (let i = 0; i < stepCount; i++) {
    for (const [j, run] of runs.entries()) {
      const s = run.steps[i];
      if (s === undefined) continue;
      const u = split503(run.name, s);
      const c = s.caller;
      const good = `${num(c.goodput)} (${c.started > 0 ? Math.round((100 * c.good) / c.started) : 0}%)`;
      const g = s.gateway;
      const down = run.name === 'gateway' ? (s.backendDownLines > 0 || (g?.backendUpMin ?? 1) < 1 ? 'YES' : 'no') : '-';
      rows.push([
        j === 0 ? s.label : '',
        j === 0 ? String(s.rate) : '',
        run.name,
        num(c.sentRate),
        good,
        String(u.shed),
        String(u.noTarget),
        String(u.other),
        String(c.failedByStatus['408'] ?? 0),
        String(otherFailures(s)),
        String(withoutFinal(s)) + (s.callerKilled ? '*' : ''),
        num(c.setupP99Ms),
        num(c.rejectP99Ms),
        run.name === 'gateway' ? num(g?.loopLagP99Ms) + (g !== undefined && g.scrapesMissed > 0 ? ` (${g.scrapesMissed}/${g.scrapes} no answer)` : '') : '-',
        run.name === 'gateway' ? overloadCell(g) : '-',
        down,
        String(s.udpDrops),
        String(s.cpuPercent),
        s.load1.toFixed(1),
      ]);
    }
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]): string => r.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return [
    `capacity C = ${capacity} calls/s (the gateway's clean rate); goodput = answered with 200 within 2 s; no final = no final response within 10 s (* = caller killed at its bound); loop p99 = largest of the one-second p99s of the gateway's event-loop delay (no answer = /metrics scrapes that got none within 2 s); cpu % = the system's, of one core`,
    line(header),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map(line),
  ];
}

export interface MemoryResult {
  rate: number;
  seconds: number;
  gateway?: MemoryReading & { answeredPercent: number; died?: string };
  kamailio?: MemoryReading & { answeredPercent: number };
  errors: string[];
}

const mb = (kb: number | undefined): string => (kb === undefined ? '-' : `${(kb / 1024).toFixed(0)} MB`);

export function memoryLine(m: MemoryResult): string {
  const g = m.gateway;
  const k = m.kamailio;
  const gw = g === undefined ? 'not measured' : `RSS ${mb(g.rssKb)}, PSS ${mb(g.pssKb)}, heap used ${g.heapUsedBytes === undefined ? '-' : mb(g.heapUsedBytes / 1024)} (${g.answeredPercent.toFixed(1)}% of calls answered${g.died !== undefined ? `, DIED: ${g.died}` : ''})`;
  const kam = k === undefined ? 'not measured' : `PSS ${mb(k.pssKb)} over all processes (RSS sum ${mb(k.rssKb)}; ${k.answeredPercent.toFixed(1)}% answered)`;
  const ratio = g !== undefined && k !== undefined && k.pssKb > 0 ? ` → gateway PSS = ${(g.pssKb / k.pssKb).toFixed(1)}× Kamailio's` : '';
  return `memory at ${m.rate} calls/s after ${m.seconds} s: gateway ${gw}; Kamailio ${kam}${ratio}`;
}

export interface Verdict {
  name: string;
  figure: string;
  target: string;
  met: boolean | undefined;
}

/** The --heap-search result: runs with a 256 MB old space. */
export interface HeapResult {
  seconds: number;
  /** --max-old-space-size of the runs, MB. @default 256 */
  mb?: number;
  highest: number | undefined;
  runs: Array<{ rate: number; died?: string }>;
}

/** The issue's targets, judged on the gateway's figures (Kamailio's where the target compares). */
export function verdicts(capacity: number, gateway: SystemRun | undefined, kamailio: SystemRun | undefined, memory: MemoryResult | undefined, heap?: HeapResult): Verdict[] {
  const out: Verdict[] = [];
  if (gateway !== undefined && gateway.steps.length > 0) {
    const at = (label: string): StepResult | undefined => gateway.steps.find((s) => s.label === label);
    const lowSteps = gateway.steps.filter((s) => s.label === '0.5x' || s.label === '1x');
    const lowFailed = lowSteps.reduce((a, s) => a + (s.caller.started - s.caller.answered), 0);
    out.push({ name: 'overload: failures at <= 1x C', figure: String(lowFailed), target: '0', met: lowFailed === 0 });
    for (const [label, share] of [['1.5x', 0.95], ['2x', 0.9], ['3x', 0.85]] as const) {
      const s = at(label);
      if (s === undefined) continue;
      const pct = (100 * s.caller.goodput) / capacity;
      out.push({ name: `overload: goodput at ${label} C`, figure: `${s.caller.goodput.toFixed(0)}/s = ${pct.toFixed(0)}% of C`, target: `>= ${share * 100}% of C`, met: pct >= share * 100 });
    }
    const noFinal = gateway.steps.reduce((a, s) => a + withoutFinal(s), 0);
    out.push({ name: 'overload: calls without a final response', figure: String(noFinal), target: '0', met: noFinal === 0 });
    const down = gateway.backendDown.length > 0 || gateway.steps.some((s) => (s.gateway?.backendUpMin ?? 1) < 1);
    out.push({ name: 'overload: backend marked down', figure: down ? 'yes' : 'no', target: 'no', met: !down });
    out.push({ name: 'overload: recovery to >= 99% after the surge', figure: gateway.recoveryS === undefined ? 'not within the last step' : `${gateway.recoveryS} s`, target: '<= 2 s', met: gateway.recoveryS !== undefined && gateway.recoveryS <= 2 });
    const after = at('after 0.5x');
    if (after !== undefined && after.caller.started > 0) {
      const pct = (100 * after.caller.good) / after.caller.started;
      out.push({ name: 'overload: calls after the surge answered within 2 s', figure: `${after.caller.good}/${after.caller.started} = ${pct.toFixed(1)}%`, target: '>= 99%', met: pct >= 99 });
    }
    out.push({ name: 'overload: gateway alive after the 3x surge', figure: gateway.died ?? 'alive', target: 'alive (no out-of-memory)', met: gateway.died === undefined });
    const surge = at('3x');
    const kSurge = kamailio?.steps.find((s) => s.label === '3x');
    if (surge !== undefined && kSurge !== undefined) {
      out.push({ name: 'overload: surge goodput vs Kamailio', figure: `${surge.caller.goodput.toFixed(0)}/s vs ${kSurge.caller.goodput.toFixed(0)}/s`, target: ">= Kamailio's", met: surge.caller.goodput >= kSurge.caller.goodput });
    }
  }
  const g = memory?.gateway;
  const k = memory?.kamailio;
  if (g !== undefined && k !== undefined && k.pssKb > 0) {
    const ratio = g.pssKb / k.pssKb;
    out.push({ name: `memory at ${memory?.rate} calls/s after ${memory?.seconds} s vs Kamailio (PSS)`, figure: `${mb(g.pssKb)} vs ${mb(k.pssKb)} = ${ratio.toFixed(1)}x`, target: '<= 2x', met: ratio <= 2 });
  }
  if (heap !== undefined) {
    const died = heap.runs.filter((r) => r.died !== undefined);
    out.push({ name: `heap ${heap.mb ?? 256} MB: highest rate for ${heap.seconds} s`, figure: `${heap.highest ?? 'none'} calls/s${died.length > 0 ? `; died at ${died.map((r) => `${r.rate}/s`).join(', ')}` : ''}`, target: 'a rate; never dies', met: heap.highest !== undefined && died.length === 0 });
  }
  return out;
}
