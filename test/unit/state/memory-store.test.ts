import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryStore, type MemoryStoreOptions } from '../../../src/state/index.js';
import { describeStoreConformance } from './store-conformance.js';

/** A store on a hand-driven clock: tests move time instead of sleeping. */
function storeAt(start = 1_000_000, options: MemoryStoreOptions = {}): { store: MemoryStore; advance: (ms: number) => void } {
  let now = start;
  const store = new MemoryStore({ ...options, now: () => now });
  return { store, advance: (ms) => { now += ms; } };
}

let clock = 1_000_000;
describeStoreConformance('MemoryStore', {
  fresh: async (options = {}) => new MemoryStore({ ...options, now: () => clock }),
  elapse: async (ms) => { clock += ms; },
});

describe('MemoryStore expiry', () => {
  it('a key lives exactly its TTL, and an expired key read is removed', async (t) => {
    const { store, advance } = storeAt();
    t.after(() => store.close());
    await store.set('flow:a', 'node-1', 30);
    advance(29_999);
    assert.equal(await store.get('flow:a'), 'node-1');
    advance(1);
    assert.equal(await store.get('flow:a'), undefined);
    assert.equal(store.size, 0);
  });
});

describe('MemoryStore sweep', () => {
  it('removes expired keys nobody reads, a bounded batch per sweep', async (t) => {
    const { store, advance } = storeAt(0, { sweepBatch: 3 });
    t.after(() => store.close());
    for (let i = 0; i < 5; i++) await store.set(`short:${i}`, 'x', 1);
    await store.set('long', 'x', 60);
    assert.equal(store.sweepExpired(), 0, 'nothing is due yet');
    advance(1000);
    assert.equal(store.sweepExpired(), 3);
    assert.equal(store.size, 3);
    assert.equal(store.sweepExpired(), 2);
    assert.equal(store.size, 1);
    assert.equal(await store.get('long'), 'x');
  });

  it('does not sweep a key whose TTL was refreshed', async (t) => {
    const { store, advance } = storeAt(0);
    t.after(() => store.close());
    await store.set('a', 'x', 1);
    await store.expire('a', 10);
    advance(5000);
    assert.equal(store.sweepExpired(), 0);
    assert.equal(await store.get('a'), 'x');
    advance(5000);
    assert.equal(store.sweepExpired(), 1);
    assert.equal(store.size, 0);
  });
});

describe('MemoryStore bounds', () => {
  it('when full, a new key evicts the key closest to expiry', async (t) => {
    const { store } = storeAt(0, { maxKeys: 3 });
    t.after(() => store.close());
    await store.set('long', 'x', 3600);
    await store.set('soon', 'x', 5);
    await store.set('mid', 'x', 60);
    await store.set('new', 'x', 120);
    assert.equal(store.size, 3);
    assert.equal(await store.get('soon'), undefined);
    assert.equal(await store.get('long'), 'x');
    assert.equal(await store.get('mid'), 'x');
    assert.equal(await store.get('new'), 'x');
    assert.equal(store.evictedCount, 1);
  });

  it('overwriting an existing key when full evicts nothing', async (t) => {
    const { store } = storeAt(0, { maxKeys: 2 });
    t.after(() => store.close());
    await store.set('a', '1', 5);
    await store.set('b', '1', 50);
    await store.set('a', '2', 5);
    await store.hset('b2', { f: 'v' }, 10);
    assert.equal(store.size, 2);
    assert.equal(await store.get('a'), undefined, 'a was closest to expiry');
    assert.equal(await store.get('b'), '1');
    assert.deepEqual(await store.hgetall('b2'), { f: 'v' });
  });

  it('rejects a maxKeys that is not a positive integer', () => {
    assert.throws(() => new MemoryStore({ maxKeys: 0 }), /maxKeys/);
    assert.throws(() => new MemoryStore({ maxKeys: 1.5 }), /maxKeys/);
  });
});

describe('MemoryStore close', () => {
  it('drops everything it held', async () => {
    const { store } = storeAt();
    await store.set('a', '1', 10);
    await store.hset('h', { f: 'v' }, 10);
    await store.close();
    assert.equal(store.size, 0);
  });
});
