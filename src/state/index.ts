/**
 * The state store's public face: the interface, the store factory, the key
 * schema and the errors callers may map.
 */
import { StateStoreUnavailableError } from './errors.js';
import { MemoryStore, type MemoryStoreOptions } from './memory-store.js';
import type { StateStore } from './store.js';

export type { StateStore } from './store.js';
export { MemoryStore, MEMORY_STORE_DEFAULTS, type MemoryStoreOptions } from './memory-store.js';
export { StateStoreClosedError, StateStoreUnavailableError, StateWrongTypeError } from './errors.js';
export { KEY_FAMILY, stateKey, type KeyFamily } from './keys.js';

/** The `state` section of the configuration, as far as the factory needs it. */
export interface StateStoreConfig {
  store: 'memory' | 'redis';
}

/**
 * Build the configured store.
 * @throws StateStoreUnavailableError for `store: redis` (not available yet) or an unknown kind.
 */
export function createStateStore(config: StateStoreConfig, options: MemoryStoreOptions = {}): StateStore {
  switch (config.store) {
    case 'memory':
      return new MemoryStore(options);
    case 'redis':
      throw new StateStoreUnavailableError('state.store=redis is not available yet; set state.store=memory');
    default:
      throw new StateStoreUnavailableError(`state.store=${String((config as { store: unknown }).store)} is not a known store; use memory or redis`);
  }
}
