/**
 * Which media relay runs, from `media.mode` (auto = rtpengine when engines are
 * listed, else embedded), built behind the one {@link MediaHooks} face the
 * pipeline and the B2BUA use.
 */
import type { SbcMetrics } from '../admin/metrics.js';
import { parsePortRange, type Config } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import { gatewayWorkerId } from '../cluster/worker-env.js';
import type { StateStore } from '../state/index.js';
import { EmbeddedMedia } from './embedded/index.js';
import { RtpengineMedia, type MediaHooks } from './media-control.js';
import { EnginePool, resolveFlagSets } from './rtpengine/index.js';

export type ActiveMedia = 'rtpengine' | 'embedded' | 'passthrough';

export interface MediaSelection {
  active: ActiveMedia;
  /** Undefined in passthrough: SDP is relayed unchanged. */
  hooks: (MediaHooks & { flowClosed(flowId: string): void }) | undefined;
  engines: EnginePool | undefined;
  embedded: EmbeddedMedia | undefined;
  /** GET /api/engines. */
  snapshot(): { mode: string; active: ActiveMedia; engines: unknown[] };
  /** Stop the relay (embedded: waits until sockets and peers are closed). */
  close(): Promise<void>;
}

export interface MediaContext {
  store: StateStore;
  metrics: SbcMetrics;
  logger: Logger;
  /** Advertised when media.embedded.address is 0.0.0.0 and advertise is empty. */
  fallbackAdvertise: string;
  /** The embedded relay freed a call's media at media.embedded.maxCallSeconds. */
  onMaxDuration?: (callId: string) => void;
}

export function activeMediaMode(media: Config['media']): ActiveMedia {
  if (media.mode === 'auto') return media.rtpengine.engines.length > 0 ? 'rtpengine' : 'embedded';
  return media.mode;
}

export async function mediaFromConfig(config: Config, ctx: MediaContext): Promise<MediaSelection> {
  const mode = config.media.mode;
  const active = activeMediaMode(config.media);
  if (active === 'rtpengine') {
    const r = config.media.rtpengine;
    const engines = new EnginePool({
      engines: r.engines,
      store: ctx.store,
      keyPrefix: config.state.redis.keyPrefix,
      timeoutMs: r.timeoutMs,
      tries: r.tries,
      pingIntervalSeconds: r.pingIntervalSeconds,
      failuresToDown: r.failuresToDown,
      successesToUp: r.successesToUp,
      metrics: ctx.metrics,
      logger: ctx.logger,
    });
    engines.start();
    const worker = gatewayWorkerId();
    const hooks = new RtpengineMedia({
      pool: engines,
      anchorPlainCalls: r.anchorPlainCalls,
      ...(worker !== undefined ? { workerMark: `w${worker}` } : {}),
      flags: resolveFlagSets({ ...(r.flags !== undefined ? { flags: r.flags } : {}), ...(r.interfaces !== undefined ? { interfaces: r.interfaces } : {}) }),
      logger: ctx.logger,
    });
    return {
      active,
      hooks,
      engines,
      embedded: undefined,
      snapshot: () => ({ mode, active, engines: engines.snapshot() }),
      close: async () => {
        hooks.close();
        engines.close();
      },
    };
  }
  if (active === 'embedded') {
    const e = config.media.embedded;
    const ports = parsePortRange(e.ports);
    // The schema refused anything else.
    if (ports === undefined) throw new Error(`media.embedded.ports: ${e.ports} is not a port range`);
    const embedded = await EmbeddedMedia.create({
      settings: {
        address: e.address,
        advertise: e.advertise,
        ports,
        maxSessions: e.maxSessions,
        inactivitySeconds: e.inactivitySeconds,
        holdInactivitySeconds: e.holdInactivitySeconds,
        maxCallSeconds: e.maxCallSeconds,
      },
      fallbackAdvertise: ctx.fallbackAdvertise,
      logger: ctx.logger,
      metrics: ctx.metrics,
      onMaxDuration: ctx.onMaxDuration,
    });
    return {
      active,
      hooks: embedded,
      engines: undefined,
      embedded,
      snapshot: () => ({ mode, active, engines: [embedded.snapshot()] }),
      close: () => embedded.shutdown(),
    };
  }
  return { active, hooks: undefined, engines: undefined, embedded: undefined, snapshot: () => ({ mode, active, engines: [] }), close: async () => undefined };
}
