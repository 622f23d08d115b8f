import type { SbcMetrics } from '../../admin/metrics.js';
import type { Config } from '../../config/schema.js';
import type { Logger } from '../../log/logger.js';
import type { StateStore } from '../../state/store.js';
import { EnginePool } from './engine-pool.js';
import { resolveFlagSets, type FlagSets } from './flags.js';

/** The `media.rtpengine` section of the configuration. */
export type RtpengineConfig = Config['media']['rtpengine'];

export interface EnginePoolDeps {
  store: StateStore;
  /** `state.redis.keyPrefix`. */
  keyPrefix: string;
  metrics?: Pick<SbcMetrics, 'engineUp' | 'mediaSessions'>;
  logger?: Logger;
  nodeId?: string;
}

/** Build the pool (not started) from `media.rtpengine`; the composition root calls start() and close(). */
export function createEnginePool(config: RtpengineConfig, deps: EnginePoolDeps): EnginePool {
  return new EnginePool({
    engines: config.engines,
    timeoutMs: config.timeoutMs,
    tries: config.tries,
    pingIntervalSeconds: config.pingIntervalSeconds,
    failuresToDown: config.failuresToDown,
    successesToUp: config.successesToUp,
    ...deps,
  });
}

/** The flag sets to send, from `media.rtpengine.flags` and `.interfaces` merged over the defaults. */
export function flagSetsFromConfig(config: RtpengineConfig): FlagSets {
  return resolveFlagSets({ flags: config.flags, interfaces: config.interfaces });
}
