/**
 * Whether the built-in services run, from `services`, the registrar mode and
 * the active media relay. They need the local registrar (they live on its
 * domains) and the embedded relay (it answers their media); with rtpengine
 * or passthrough media they are off, and start-up says why — a call to a
 * service number is then looked up as a user like any other (404).
 */
import type { SbcMetrics } from '../admin/metrics.js';
import { LegTransport } from '../b2bua/leg-transport.js';
import type { Config } from '../config/schema.js';
import type { UaCallWatcher } from '../core/call-events.js';
import type { Logger } from '../log/logger.js';
import type { ActiveMedia } from '../media/media-from-config.js';
import type { EmbeddedMedia } from '../media/embedded/embedded-media.js';
import type { TransactionLayer } from '../transaction/index.js';
import type { TransportLayer } from '../transport/index.js';
import { LocalServices } from './local-services.js';
import { ServiceNumbers } from './service-numbers.js';

export interface ServicesContext {
  registrar: 'local' | 'path';
  media: ActiveMedia;
  embedded: EmbeddedMedia | undefined;
  transport: TransportLayer;
  transactions: TransactionLayer;
  isLocalDomain(host: string): boolean;
  logger: Logger;
  metrics?: SbcMetrics;
  productName?: string;
  callEnded?(callId: string): void;
  /** The call records, when they are kept. */
  records?: UaCallWatcher;
}

export function servicesFromConfig(config: Config, ctx: ServicesContext): LocalServices | undefined {
  const numbers = new ServiceNumbers(config.services);
  if (numbers.size === 0) return undefined;
  if (ctx.registrar !== 'local') return undefined;
  if (ctx.media !== 'embedded' || ctx.embedded === undefined) {
    ctx.logger.warn({ services: numbers.list(), media: ctx.media }, `built-in services off: they need the embedded media relay (media is ${ctx.media}); calls to their numbers are looked up as users`);
    return undefined;
  }
  const services = new LocalServices({
    numbers,
    media: ctx.embedded,
    legs: new LegTransport(ctx.transport, ctx.transactions, ctx.logger, ctx.metrics),
    isLocalDomain: ctx.isLocalDomain,
    inactivitySeconds: config.media.embedded.inactivitySeconds,
    logger: ctx.logger,
    metrics: ctx.metrics,
    ...(ctx.productName !== undefined ? { productName: ctx.productName } : {}),
    ...(ctx.callEnded !== undefined ? { callEnded: ctx.callEnded } : {}),
    ...(ctx.records !== undefined ? { records: ctx.records } : {}),
  });
  ctx.transport.flows.onClose((flow) => services.flowClosed(flow.id));
  return services;
}
