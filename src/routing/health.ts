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
 * Whether a probe outcome shows the target alive. Without `aliveCodes`, any
 * final response except 503 and 408 counts: a 404 or 405 to an OPTIONS still
 * means a SIP stack is answering, while 503 is the peer refusing traffic
 * (RFC 3261 §21.5.4) and 408 means something behind it did not answer. The
 * same rule as config's `probe.aliveCodes` documentation. Timeouts and
 * transport errors mean nothing answered; a 408/503 the transaction layer
 * makes up locally must be reported as a timeout or error, not a response.
 */
export function isAlive(outcome: ProbeOutcome, aliveCodes?: readonly number[]): boolean {
  if (outcome.kind !== 'response' || outcome.status < 200) return false;
  if (aliveCodes !== undefined) return aliveCodes.includes(outcome.status);
  return outcome.status !== 503 && outcome.status !== 408;
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
