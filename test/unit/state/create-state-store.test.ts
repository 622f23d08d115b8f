import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createStateStore, MemoryStore, StateStoreUnavailableError } from '../../../src/state/index.js';

describe('createStateStore', () => {
  it('builds a working memory store for store: memory', async (t) => {
    const store = createStateStore({ store: 'memory' });
    t.after(() => store.close());
    assert.ok(store instanceof MemoryStore);
    await store.set('k', 'v', 10);
    assert.equal(await store.get('k'), 'v');
  });

  it('says redis is not available yet, with a typed error', () => {
    assert.throws(
      () => createStateStore({ store: 'redis' }),
      (err: unknown) => err instanceof StateStoreUnavailableError && err.code === 'SBC_ERR_STATE_UNAVAILABLE' && err.message.includes('state.store=redis is not available yet'),
    );
  });
});
