/** The admin listener, metrics and the CLI's admin commands. */
export { AdminServer, ADMIN_LIMITS, type AdminReply, type AdminRequest, type AdminRouteHandler, type AdminServerOptions, type HealthReport, type RawReply } from './server.js';
export {
  createMetrics,
  KNOWN_SIP_METHODS,
  LATENCY_BUCKETS_SECONDS,
  METRIC_LIMITS,
  methodLabel,
  statusClassLabel,
  type CounterHandle,
  type Direction,
  type GaugeHandle,
  type HistogramHandle,
  type SbcMetrics,
  type TransactionType,
} from './metrics.js';
export { ADMIN_COMMANDS, isAdminCommand, runAdminCommand, type AdminCommandName, type AdminCommandOptions } from './commands.js';
export { adminBaseUrl, requestAdmin, ADMIN_CLIENT_TIMEOUT_MS, type AdminAnswer } from './client.js';
export { listenUrl, parseListenAddress, type ListenAddress } from './listen-address.js';
