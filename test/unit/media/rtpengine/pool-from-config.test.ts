import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { configSchema } from '../../../../src/config/index.js';
import { createEnginePool, flagSetsFromConfig } from '../../../../src/media/rtpengine/pool-from-config.js';
import { MemoryStore } from '../../../../src/state/memory-store.js';

describe('media.rtpengine config → pool and flag sets', () => {
  const config = configSchema.parse({
    media: {
      rtpengine: {
        engines: [{ url: 'udp:127.0.0.1:22222', weight: 2 }, { url: 'ws://127.0.0.1:8080' }],
        interfaces: { webrtc: 'pub', rtp: 'priv' },
        flags: { rtpToWebrtc: { 'rtcp-mux': ['offer'], ICE: null } },
      },
    },
  }).media.rtpengine;

  it('builds a pool with the configured engines and weights, all up before the first ping', async () => {
    const store = new MemoryStore();
    const pool = createEnginePool(config, { store, keyPrefix: 'sbc:' });
    try {
      assert.deepEqual(pool.urls, ['udp:127.0.0.1:22222', 'ws://127.0.0.1:8080']);
      assert.deepEqual(pool.snapshot().map((e) => [e.url, e.weight, e.health, e.sessions]), [
        ['udp:127.0.0.1:22222', 2, 'up', 0],
        ['ws://127.0.0.1:8080', 1, 'up', 0],
      ]);
    } finally {
      pool.close();
      await store.close();
    }
  });

  it('merges the configured overrides and interface labels into the flag sets', () => {
    const sets = flagSetsFromConfig(config);
    const offer = sets.offer('rtpToWebrtc');
    assert.deepEqual(offer['rtcp-mux'], ['offer']);
    assert.equal('ICE' in offer, false);
    assert.deepEqual(offer['direction'], ['priv', 'pub']);
    assert.equal(sets.answer('webrtcToRtp')['ICE'], 'remove');
  });

  it('refuses an engine listed twice', async () => {
    const store = new MemoryStore();
    const twice = { ...config, engines: [{ url: 'udp:127.0.0.1:1', weight: 1 }, { url: 'udp:127.0.0.1:1', weight: 1 }] };
    assert.throws(() => createEnginePool(twice, { store, keyPrefix: 'sbc:' }), /listed twice/);
    await store.close();
  });
});
