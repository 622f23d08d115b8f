import type { ProbeConfig } from './schema.js';

/**
 * Whether a final response to a health probe shows the target alive.
 * With `aliveCodes` unset, any final response counts except 408 and 503:
 * a 404 or 405 still proves a SIP server is there, while 503 means it refuses
 * work and 408 means something behind it did not answer. Callers count a
 * timeout or transport error as a failure without calling this.
 */
export function isAliveResponse(probe: Pick<ProbeConfig, 'aliveCodes'>, status: number): boolean {
  if (status < 200) return false;
  if (probe.aliveCodes !== undefined) return probe.aliveCodes.includes(status);
  return status !== 408 && status !== 503;
}
