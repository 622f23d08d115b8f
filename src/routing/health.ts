/**
 * Health bookkeeping of one target: probes and relayed requests both feed
 * the same consecutive-success / consecutive-failure counters.
 */
import type { MutableTarget } from './target.js';

/** What a probe saw. The proxy core's probe function produces these. */
export type ProbeOutcome =
  | { kind: 'response'; status: number }
  | { kind: 'timeout' }
  | { kind: 'error'; message: string };

/** Why a relayed request failed, for passive health. */
export type FailureReason = 'timeout' | '503' | 'transport';

export interface HealthThresholds {
  failuresToDown: number;
  successesToUp: number;
}

/**
 * Any SIP response except 503 shows the peer is alive: a 404 or 405 to an
 * OPTIONS still means a SIP stack is answering. 503 is the peer saying it is
 * not taking traffic (RFC 3261 §21.5.4). Timeouts and transport errors mean
 * nothing answered. (A 408/503 the transaction layer makes up locally is
 * reported as a timeout or error by the probe function, never as a response.)
 */
export function isAlive(outcome: ProbeOutcome): boolean {
  return outcome.kind === 'response' && outcome.status !== 503;
}

/** Short text for logs and the admin API. */
export function describeOutcome(outcome: ProbeOutcome): string {
  switch (outcome.kind) {
    case 'response': return `response ${outcome.status}`;
    case 'timeout': return 'timeout';
    case 'error': return `error: ${outcome.message}`;
  }
}

/**
 * Count one success or failure; returns 'up' or 'down' when the target
 * crossed a threshold, else undefined. `what` names the failure for `reason`.
 */
export function recordHealth(
  target: MutableTarget,
  alive: boolean,
  thresholds: HealthThresholds,
  what: string,
): 'up' | 'down' | undefined {
  if (alive) {
    target.consecutiveSuccesses++;
    target.consecutiveFailures = 0;
    if (!target.up && target.consecutiveSuccesses >= Math.max(1, thresholds.successesToUp)) {
      target.up = true;
      target.reason = undefined;
      return 'up';
    }
    return undefined;
  }
  target.consecutiveFailures++;
  target.consecutiveSuccesses = 0;
  if (target.up && target.consecutiveFailures >= Math.max(1, thresholds.failuresToDown)) {
    target.up = false;
    target.reason = `${target.consecutiveFailures} consecutive failures, last: ${what}`;
    return 'down';
  }
  return undefined;
}
