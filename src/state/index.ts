/**
 * The state store's public face: the interface, the store factory, the key
 * schema and the errors callers may map.
 */
import type { Logger } from '../log/logger.js';
import { StateStoreUnavailableError } from './errors.js';
import { MemoryStore, type MemoryStoreOptions } from './memory-store.js';
import type { RedisConnectionConfig } from './redis-connector.js';
import { RedisStore, type RedisStoreOptions } from './redis-store.js';
import type { StateStore } from './store.js';

export type { StateStore } from './store.js';
export { MemoryStore, MEMORY_STORE_DEFAULTS, type MemoryStoreOptions } from './memory-store.js';
export { RedisStore, REDIS_STORE_DEFAULTS, type RedisStoreOptions } from './redis-store.js';
export type { RedisConnectionConfig } from './redis-connector.js';
export { StateStoreClosedError, StateStoreUnavailableError, StateWrongTypeError } from './errors.js';
export { KEY_FAMILY, stateKey, type KeyFamily } from './keys.js';

/** The `state` section of the configuration, as far as the factory needs it. */
export interface StateStoreConfig {
  store: 'memory' | 'redis';
  /** `state.redis`; required by `store: redis`. */
  redis?: RedisConnectionConfig;
}

export interface StateStoreOptions {
  /** Connection state changes, evictions, contained subscriber failures. @default silent */
  logger?: Logger;
  /** Limits of the memory store. */
  memory?: Omit<MemoryStoreOptions, 'logger'>;
  /** Timeouts of the Redis store. */
  redis?: Omit<RedisStoreOptions, 'logger'>;
}

/**
 * Build the configured store. A Redis store is returned connected: a node
 * that cannot see the state the other nodes share would break the calls
 * they hand it, so it is better not to start at all.
 * @throws StateStoreUnavailableError when Redis does not answer within its start-up timeout, naming where it was expected (never the password), or for an unknown kind
 */
export async function createStateStore(config: StateStoreConfig, options: StateStoreOptions = {}): Promise<StateStore> {
  const logger = options.logger !== undefined ? { logger: options.logger } : {};
  switch (config.store) {
    case 'memory':
      return new MemoryStore({ ...options.memory, ...logger });
    case 'redis':
      if (config.redis === undefined) throw new StateStoreUnavailableError('state.store=redis needs state.redis (at least its url)');
      return RedisStore.connect(config.redis, { ...options.redis, ...logger });
    default:
      throw new StateStoreUnavailableError(`state.store=${String((config as { store: unknown }).store)} is not a known store; use memory or redis`);
  }
}
