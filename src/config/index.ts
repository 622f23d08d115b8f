/** Configuration: schema with defaults and docs, loading with overrides, printing. */
export {
  configSchema,
  defaultConfig,
  DEFAULT_PORTS,
  TRANSPORTS,
  BALANCING_ALGORITHMS,
  MEDIA_MODES,
  LOG_LEVELS,
  type Config,
  type ConfigInput,
  type ListenerConfig,
  type BackendGroupConfig,
  type ProbeConfig,
  type ListenTransport,
} from './schema.js';
export { loadConfig, DEFAULT_CONFIG_FILE, NO_FILE_SOURCE, type LoadConfigOptions, type LoadedConfig } from './load.js';
export { formatConfigError, formatKeyPath, FILE_KEY, type ConfigError } from './config-error.js';
export { printConfig, printConfig as renderConfig, redactConfig, REDACTED } from './print.js';
export { isAliveResponse } from './probe-alive.js';
export { parseHostPort, isCidr, isHostOrIp, isUnspecifiedAddress, type HostPort } from './net-formats.js';
