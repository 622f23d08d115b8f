/**
 * Reading what one SIPp caller run leaves behind: the per-call outcome lines
 * that bench/fixtures/sipp-uac-rr.xml writes with -trace_logs, and the
 * -trace_stat CSV. Pure functions, so they can be tested without SIPp.
 */
import { quantile } from '../load/stats.js';

/** What happened to one call's INVITE (or, for `byefail`, to its BYE). */
export type Outcome = 'ok' | 'fail' | 'nofinal' | 'byefail';

export interface CallOutcome {
  outcome: Outcome;
  /** SIPp clock (ms) when the INVITE left. */
  t0: number;
  /** SIPp clock (ms) when the outcome was known. */
  t1: number;
  /** Final status of the INVITE; 0 when there was none. */
  status: number;
  /** Reason phrase of the final response ('' when there was none). */
  phrase: string;
  /** Value of its Warning header ('' when absent). */
  warning: string;
}

const OUTCOMES = new Set<string>(['ok', 'fail', 'nofinal', 'byefail']);

/**
 * Parse the outcome log. Lines look like
 *   OUT ok 372 376 SIP/2.0 200 OK
 *   OUT fail 52 60 SIP/2.0 503 Service Unavailable | 399 host "overloaded"
 *   OUT nofinal 104 10108 - -
 * Anything else (SIPp's own messages, a line cut off by a kill) is skipped.
 */
export function parseOutcomeLog(text: string): CallOutcome[] {
  const out: CallOutcome[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line.startsWith('OUT ')) continue;
    const parts = line.split(' ');
    const outcome = parts[1] ?? '';
    const t0 = Number(parts[2]);
    const t1 = Number(parts[3]);
    if (!OUTCOMES.has(outcome) || !Number.isFinite(t0) || !Number.isFinite(t1) || parts[2] === '' || parts[3] === '') continue;
    const rest = parts.slice(4).join(' ');
    let status = 0;
    let phrase = '';
    let warning = '';
    const m = /^SIP\/2\.0 (\d{3}) ?([^|]*)(?:\|(.*))?$/.exec(rest);
    if (m !== null) {
      status = Number(m[1]);
      phrase = (m[2] ?? '').trim();
      warning = (m[3] ?? '').trim();
    }
    if (outcome === 'fail' && status === 0) continue;
    out.push({ outcome: outcome as Outcome, t0, t1, status, phrase, warning });
  }
  return out;
}

/**
 * Rows of a SIPp -trace_stat CSV (`;`-separated, a header line first) as
 * objects keyed by column name. A trailing empty column is dropped.
 */
export function parseStatCsv(text: string): Array<Record<string, string>> {
  const lines = text.split('\n').map((l) => l.replace(/\r$/, '')).filter((l) => l.trim() !== '');
  const header = lines[0]?.split(';');
  if (header === undefined) return [];
  const rows: Array<Record<string, string>> = [];
  for (const line of lines.slice(1)) {
    const cells = line.split(';');
    const row: Record<string, string> = {};
    header.forEach((name, i) => {
      if (name !== '') row[name] = cells[i] ?? '';
    });
    rows.push(row);
  }
  return rows;
}

/** Calls SIPp created in the run: the last row's OutgoingCall(C) (TotalCallCreated as fallback); 0 without rows. */
export function callsCreated(rows: ReadonlyArray<Record<string, string>>): number {
  const last = rows[rows.length - 1];
  if (last === undefined) return 0;
  const n = Number(last['OutgoingCall(C)'] ?? last['TotalCallCreated']);
  return Number.isFinite(n) ? n : 0;
}

/** The figures of one step as the caller saw them. */
export interface CallerFigures {
  /** Calls created (from the stat CSV; at least the number of outcomes). */
  started: number;
  /** INVITEs that left per second, measured over the spread of their send times. */
  sentRate: number;
  /** Answered with 200. */
  answered: number;
  /** Answered within `goodWithinMs`. */
  good: number;
  /** good per second of the step. */
  goodput: number;
  /** Final error responses by status code. */
  failedByStatus: Record<string, number>;
  /** 503s by reason phrase (and Warning, when present), to tell shed from no-target where the phrase says. */
  unavailableByPhrase: Record<string, number>;
  /** No final response within SIPp's wait (10 s after the last response). */
  noFinal: number;
  /** Created, but no outcome line: SIPp aborted the call (e.g. a response the scenario does not expect) or it was still open when the run was stopped. */
  unaccounted: number;
  /** Answered calls whose BYE got no 200. */
  byeFailed: number;
  /** INVITE → 200, ms. */
  setupP50Ms: number;
  setupP99Ms: number;
  /** INVITE → final error response, ms. */
  rejectP99Ms: number;
  /**
   * Per second of the step (by INVITE send time): share of the calls started
   * in it that were answered within goodWithinMs. A last second holding less
   * than half a second's calls is left out.
   */
  successBySecond: number[];
}

export interface StepShape {
  /** How long the step sent, seconds (goodput is per second of this). */
  durationS: number;
  /** Calls SIPp created, from the stat CSV (0 = unknown: the outcome count is used). */
  created: number;
  /** An answer later than this does not count as goodput. @default 2000 */
  goodWithinMs?: number;
}

/** Add up one step's outcome lines. */
export function callerFigures(outcomes: readonly CallOutcome[], shape: StepShape): CallerFigures {
  const within = shape.goodWithinMs ?? 2000;
  const setup: number[] = [];
  const reject: number[] = [];
  const failedByStatus: Record<string, number> = {};
  const unavailableByPhrase: Record<string, number> = {};
  let noFinal = 0;
  let byeFailed = 0;
  let good = 0;
  let minT0 = Number.POSITIVE_INFINITY;
  let maxT0 = Number.NEGATIVE_INFINITY;
  const invites = outcomes.filter((o) => o.outcome !== 'byefail');
  for (const o of invites) {
    minT0 = Math.min(minT0, o.t0);
    maxT0 = Math.max(maxT0, o.t0);
  }
  const buckets = new Map<number, { started: number; good: number }>();
  for (const o of outcomes) {
    if (o.outcome === 'byefail') {
      byeFailed++;
      continue;
    }
    const second = Math.floor((o.t0 - minT0) / 1000);
    const bucket = buckets.get(second) ?? { started: 0, good: 0 };
    buckets.set(second, bucket);
    bucket.started++;
    const elapsed = o.t1 - o.t0;
    if (o.outcome === 'ok') {
      setup.push(elapsed);
      if (elapsed <= within) {
        good++;
        bucket.good++;
      }
    } else if (o.outcome === 'fail') {
      reject.push(elapsed);
      failedByStatus[String(o.status)] = (failedByStatus[String(o.status)] ?? 0) + 1;
      if (o.status === 503) {
        const key = o.warning === '' ? o.phrase : `${o.phrase} | ${o.warning}`;
        unavailableByPhrase[key] = (unavailableByPhrase[key] ?? 0) + 1;
      }
    } else {
      noFinal++;
    }
  }
  setup.sort((a, b) => a - b);
  reject.sort((a, b) => a - b);
  const started = Math.max(shape.created, invites.length);
  const spreadS = invites.length > 1 ? (maxT0 - minT0) / 1000 : 0;
  // n calls spread over s seconds at a steady rate r: s = (n - 1) / r.
  const sentRate = spreadS > 0 ? (invites.length - 1) / spreadS : 0;
  const seconds = buckets.size === 0 ? 0 : Math.max(...buckets.keys()) + 1;
  const successBySecond: number[] = [];
  for (let s = 0; s < seconds; s++) {
    const b = buckets.get(s);
    // The step ends inside its last second: a bucket with less than half a second's calls says little.
    if (s === seconds - 1 && seconds > 1 && (b?.started ?? 0) < 0.5 * (invites.length / seconds)) break;
    successBySecond.push(b === undefined || b.started === 0 ? 0 : b.good / b.started);
  }
  return {
    started,
    sentRate,
    answered: setup.length,
    good,
    goodput: shape.durationS > 0 ? good / shape.durationS : 0,
    failedByStatus,
    unavailableByPhrase,
    noFinal,
    unaccounted: started - invites.length,
    byeFailed,
    setupP50Ms: quantile(setup, 0.5),
    setupP99Ms: quantile(setup, 0.99),
    rejectP99Ms: quantile(reject, 0.99),
    successBySecond,
  };
}

/**
 * Seconds from the start of a step until success is back at `ratio` for
 * good: the index of the first one-second bucket from which every later
 * bucket is at least `ratio`. 0 = it never dropped. Undefined = it did not
 * get there within the step.
 */
export function recoverySeconds(buckets: readonly number[], ratio = 0.99): number | undefined {
  if (buckets.length === 0) return undefined;
  let from: number | undefined;
  for (let i = buckets.length - 1; i >= 0; i--) {
    if ((buckets[i] ?? 0) >= ratio) from = i;
    else break;
  }
  return from;
}
