import type { ProbeSpec } from './spec.js';

/** Hold-down for a target marked down by failed requests when probing is off. */
export const PASSIVE_RECOVERY_SECONDS = 30;

/** Retry-After for a group we know nothing about. */
const FALLBACK_SECONDS = 30;

/**
 * Retry-After (RFC 3261 §20.33) to put on the 503 when no target of a group
 * is up: the soonest a down target can come back, i.e. `successesToUp` probe
 * intervals (at least 1 s), or the passive hold-down when probing is off.
 */
export function retryAfterSeconds(probe: ProbeSpec | undefined): number {
  if (probe === undefined) return FALLBACK_SECONDS;
  if (probe.intervalSeconds <= 0) return PASSIVE_RECOVERY_SECONDS;
  return Math.max(1, Math.ceil(probe.intervalSeconds * Math.max(1, probe.successesToUp)));
}
