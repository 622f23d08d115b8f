import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createStateStore, MemoryStore, StateStoreUnavailableError } from '../../../src/state/index.js';

describe('createStateStore', () => {
  it('builds a working memory store for store: memory', async (t) => {
    const store = await createStateStore({ store: 'memory' });
    t.after(() => store.close());
    assert.ok(store instanceof MemoryStore);
    await store.set('k', 'v', 10);
    assert.equal(await store.get('k'), 'v');
  });

  it('for store: redis without a redis section, says what is missing with a typed error', async () => {
    await assert.rejects(
      createStateStore({ store: 'redis' }),
      (err: unknown) => err instanceof StateStoreUnavailableError && err.code === 'SBC_ERR_STATE_UNAVAILABLE' && err.message.includes('state.redis'),
    );
  });

  it('refuses a url that is not redis:// or rediss:// without echoing its password', async () => {
    await assert.rejects(
      createStateStore({ store: 'redis', redis: { url: 'http://user:hunter2@127.0.0.1:6379' } }),
      (err: unknown) => err instanceof StateStoreUnavailableError && err.message.includes('state.redis.url') && !err.message.includes('hunter2'),
    );
  });

  it('refuses a database number with Redis Cluster, which has only database 0', async () => {
    await assert.rejects(
      createStateStore({ store: 'redis', redis: { url: 'redis://127.0.0.1:6379/2', cluster: { nodes: ['127.0.0.1:7000'] } } }),
      (err: unknown) => err instanceof StateStoreUnavailableError && /Cluster has only database 0/.test(err.message),
    );
  });

  it('names an unknown store kind', async () => {
    await assert.rejects(createStateStore({ store: 'etcd' as 'memory' }), (err: unknown) => err instanceof StateStoreUnavailableError && err.message.includes('state.store=etcd'));
  });
});
