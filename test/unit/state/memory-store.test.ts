import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { MemoryStore, StateStoreClosedError, StateWrongTypeError, type MemoryStoreOptions } from '../../../src/state/index.js';

/** A store on a hand-driven clock: tests move time instead of sleeping. */
function storeAt(start = 1_000_000, options: MemoryStoreOptions = {}): { store: MemoryStore; advance: (ms: number) => void } {
  let now = start;
  const store = new MemoryStore({ ...options, now: () => now });
  return { store, advance: (ms) => { now += ms; } };
}

describe('MemoryStore strings and TTL', () => {
  it('returns a value until its TTL runs out, then nothing', async (t) => {
    const { store, advance } = storeAt();
    t.after(() => store.close());
    await store.set('flow:a', 'node-1', 30);
    assert.equal(await store.get('flow:a'), 'node-1');
    advance(29_999);
    assert.equal(await store.get('flow:a'), 'node-1');
    advance(1);
    assert.equal(await store.get('flow:a'), undefined);
    assert.equal(store.size, 0, 'an expired key read is removed');
  });

  it('rejects a TTL of zero, a negative or a non-finite one with a TypeError naming ttlSeconds', async (t) => {
    const { store } = storeAt();
    t.after(() => store.close());
    for (const ttl of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      await assert.rejects(store.set('k', 'v', ttl), (err: unknown) => err instanceof TypeError && /ttlSeconds/.test(err.message));
      await assert.rejects(store.hset('h', { a: '1' }, ttl), TypeError);
      await assert.rejects(store.incr('c', 1, ttl), TypeError);
      await assert.rejects(store.setIfAbsent('k', 'v', ttl), TypeError);
    }
    await store.set('k', 'v', 10);
    await assert.rejects(store.expire('k', 0), TypeError);
    assert.equal(await store.get('k'), 'v');
  });

  it('setIfAbsent sets only an absent or expired key', async (t) => {
    const { store, advance } = storeAt();
    t.after(() => store.close());
    assert.equal(await store.setIfAbsent('lock', 'a', 5), true);
    assert.equal(await store.setIfAbsent('lock', 'b', 5), false);
    assert.equal(await store.get('lock'), 'a');
    advance(5000);
    assert.equal(await store.setIfAbsent('lock', 'c', 5), true);
    assert.equal(await store.get('lock'), 'c');
  });

  it('expire refreshes a live key and reports a missing one', async (t) => {
    const { store, advance } = storeAt();
    t.after(() => store.close());
    await store.set('flow:b', 'x', 10);
    advance(9000);
    assert.equal(await store.expire('flow:b', 10), true);
    advance(9000);
    assert.equal(await store.get('flow:b'), 'x');
    advance(1000);
    assert.equal(await store.get('flow:b'), undefined);
    assert.equal(await store.expire('flow:b', 10), false);
    assert.equal(await store.expire('never', 10), false);
  });

  it('delete reports whether a live key was removed', async (t) => {
    const { store, advance } = storeAt();
    t.after(() => store.close());
    await store.set('a', '1', 1);
    assert.equal(await store.delete('a'), true);
    assert.equal(await store.delete('a'), false);
    await store.set('b', '1', 1);
    advance(1000);
    assert.equal(await store.delete('b'), false);
  });

  it('a set overwrites the value and the TTL', async (t) => {
    const { store, advance } = storeAt();
    t.after(() => store.close());
    await store.set('a', '1', 1);
    await store.set('a', '2', 100);
    advance(50_000);
    assert.equal(await store.get('a'), '2');
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

describe('MemoryStore hashes', () => {
  it('sets, reads and deletes fields; the last field removed removes the key', async (t) => {
    const { store } = storeAt();
    t.after(() => store.close());
    await store.hset('topo:1', { via: 'SIP/2.0/UDP 10.0.0.1', contact: '<sip:a@10.0.0.1>' }, 60);
    await store.hset('topo:1', { rr: '<sip:p1;lr>' }, 60);
    assert.equal(await store.hget('topo:1', 'via'), 'SIP/2.0/UDP 10.0.0.1');
    assert.equal(await store.hget('topo:1', 'missing'), undefined);
    assert.deepEqual(await store.hgetall('topo:1'), { via: 'SIP/2.0/UDP 10.0.0.1', contact: '<sip:a@10.0.0.1>', rr: '<sip:p1;lr>' });
    assert.equal(await store.hdel('topo:1', 'via', 'missing'), 1);
    assert.equal(await store.hdel('topo:1', 'contact', 'rr'), 2);
    assert.deepEqual(await store.hgetall('topo:1'), {});
    assert.equal(store.size, 0);
    assert.equal(await store.hdel('topo:1', 'x'), 0);
  });

  it('hset resets the TTL of the whole hash', async (t) => {
    const { store, advance } = storeAt();
    t.after(() => store.close());
    await store.hset('h', { a: '1' }, 10);
    advance(9000);
    await store.hset('h', { b: '2' }, 10);
    advance(9000);
    assert.deepEqual(await store.hgetall('h'), { a: '1', b: '2' });
    advance(1000);
    assert.deepEqual(await store.hgetall('h'), {});
    assert.equal(await store.hget('h', 'a'), undefined);
  });

  it('mixing a string key and a hash key is a typed error', async (t) => {
    const { store } = storeAt();
    t.after(() => store.close());
    await store.set('s', 'v', 10);
    await store.hset('h', { a: '1' }, 10);
    await assert.rejects(store.hget('s', 'a'), StateWrongTypeError);
    await assert.rejects(store.hset('s', { a: '1' }, 10), StateWrongTypeError);
    await assert.rejects(store.get('h'), (err: unknown) => err instanceof StateWrongTypeError && err.code === 'SBC_ERR_STATE_WRONG_TYPE');
  });
});

describe('MemoryStore counters', () => {
  it('counts up and down and keeps the TTL set at creation', async (t) => {
    const { store, advance } = storeAt();
    t.after(() => store.close());
    assert.equal(await store.incr('rate:1.2.3.4:0', 1, 2), 1);
    advance(1500);
    assert.equal(await store.incr('rate:1.2.3.4:0', 1, 2), 2);
    assert.equal(await store.incr('rate:1.2.3.4:0', -5, 2), -3);
    assert.equal(await store.get('rate:1.2.3.4:0'), '-3');
    advance(500);
    assert.equal(await store.get('rate:1.2.3.4:0'), undefined, 'incr did not extend the TTL');
    assert.equal(await store.incr('rate:1.2.3.4:0', 1, 2), 1, 'a new window starts from zero');
  });

  it('refuses a non-integer step or a non-counter value', async (t) => {
    const { store } = storeAt();
    t.after(() => store.close());
    await assert.rejects(store.incr('c', 0.5, 10), TypeError);
    await store.set('word', 'abc', 10);
    await assert.rejects(store.incr('word', 1, 10), StateWrongTypeError);
    await store.hset('h', { a: '1' }, 10);
    await assert.rejects(store.incr('h', 1, 10), StateWrongTypeError);
    await store.set('num', '41', 10);
    assert.equal(await store.incr('num', 1, 10), 42);
  });
});

describe('MemoryStore publish/subscribe', () => {
  it('delivers to every subscriber of the channel until it unsubscribes', async (t) => {
    const { store } = storeAt();
    t.after(() => store.close());
    const a: string[] = [];
    const b: string[] = [];
    const unsubscribeA = await store.subscribe('flows', (m) => a.push(m));
    await store.subscribe('flows', (m) => b.push(m));
    await store.subscribe('other', () => assert.fail('wrong channel'));
    await store.publish('flows', 'one');
    await unsubscribeA();
    await unsubscribeA();
    await store.publish('flows', 'two');
    assert.deepEqual(a, ['one']);
    assert.deepEqual(b, ['one', 'two']);
  });

  it('contains a throwing or rejecting subscriber and logs it', async (t) => {
    const lines: string[] = [];
    const sink = new Writable({ write(chunk, _enc, done) { lines.push(String(chunk)); done(); } });
    const { store } = storeAt(0, { logger: pino({ level: 'error' }, sink) });
    t.after(() => store.close());
    const got: string[] = [];
    await store.subscribe('c', () => { throw new Error('boom'); });
    await store.subscribe('c', async () => { throw new Error('async boom'); });
    await store.subscribe('c', (m) => got.push(m));
    await store.publish('c', 'hello');
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(got, ['hello']);
    assert.equal(lines.filter((l) => l.includes('state subscriber failed')).length, 2);
  });
});

describe('MemoryStore close', () => {
  it('is idempotent, drops everything and rejects later calls', async () => {
    const { store } = storeAt();
    const got: string[] = [];
    await store.set('a', '1', 10);
    await store.subscribe('c', (m) => got.push(m));
    await store.close();
    await store.close();
    assert.equal(store.size, 0);
    await assert.rejects(store.get('a'), StateStoreClosedError);
    await assert.rejects(store.set('a', '1', 10), (err: unknown) => err instanceof StateStoreClosedError && err.code === 'SBC_ERR_STATE_CLOSED');
    await assert.rejects(store.publish('c', 'x'), StateStoreClosedError);
    assert.deepEqual(got, []);
  });
});
