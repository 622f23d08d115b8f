/** topologyHiding.enabled: the topology hiding of the proxy path, from its configuration section. */
import type { PartContext } from '../server/part.js';
import { PRODUCT } from '../server/part.js';
import type { RecordStore } from '../state/mirrored-records.js';
import { TopologyHiding } from './topology-hiding.js';

export function topologyFromConfig(ctx: PartContext, store: RecordStore, secret: string | Buffer): TopologyHiding {
  const c = ctx.config;
  const t = c.topologyHiding;
  return new TopologyHiding({
    store,
    keyPrefix: c.state.redis.keyPrefix,
    secret,
    maskCallId: t.maskCallId,
    ...(t.hideClientVias !== undefined ? { hideClientVias: t.hideClientVias } : {}),
    ...(t.stripHeaders !== undefined ? { stripHeaders: t.stripHeaders } : {}),
    ...(t.dialogTtlSeconds !== undefined ? { dialogTtlSeconds: t.dialogTtlSeconds } : {}),
    ...(t.earlyTtlSeconds !== undefined ? { earlyTtlSeconds: t.earlyTtlSeconds } : {}),
    productName: PRODUCT,
    logger: ctx.logger.child({ part: 'topology' }),
  });
}
