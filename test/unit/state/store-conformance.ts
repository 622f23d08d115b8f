/**
 * What every StateStore does, whatever keeps the data: one suite, run against
 * the memory store (test/unit/state/memory-store.test.ts) and against Redis
 * (test/integration/state/redis-store.test.ts). TTLs are short (1 s) with
 * margins of 200 ms or more, so the suite holds on real Redis expiry as well
 * as on a hand-driven clock.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import type { Logger } from '../../../src/log/logger.js';
import { StateStoreClosedError, StateWrongTypeError, type StateStore } from '../../../src/state/index.js';

export interface StoreHarness {
  /** A new store on empty state. The test closes it. */
  fresh(options?: { logger?: Logger }): Promise<StateStore>;
  /** Let `ms` of store time pass: a clock move for memory, a real wait for Redis. */
  elapse(ms: number): Promise<void>;
}

/** Resolves once `condition` holds; published messages may arrive after publish() resolves. */
export async function eventually(condition: () => boolean, what: string, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A key that exists, of any kind (a TTL refresh answers for every kind). */
async function exists(store: StateStore, key: string): Promise<boolean> {
  return store.expire(key, 60);
}

export function describeStoreConformance(name: string, h: StoreHarness): void {
  describe(`${name} conformance: strings and TTL`, () => {
    it('returns a value until its TTL runs out, then nothing', async (t) => {
      const store = await h.fresh();
      t.after(() => store.close());
      await store.set('flow:a', 'node-1', 1);
      assert.equal(await store.get('flow:a'), 'node-1');
      await h.elapse(600);
      assert.equal(await store.get('flow:a'), 'node-1');
      await h.elapse(600);
      assert.equal(await store.get('flow:a'), undefined);
      assert.equal(await store.get('never-set'), undefined);
    });

    it('rejects a TTL of zero, a negative or a non-finite one with a TypeError naming ttlSeconds', async (t) => {
      const store = await h.fresh();
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
      assert.deepEqual(await store.hgetall('h'), {}, 'a refused hset wrote nothing');
      assert.equal(await store.get('c'), undefined, 'a refused incr wrote nothing');
    });

    it('setIfAbsent sets only an absent or expired key', async (t) => {
      const store = await h.fresh();
      t.after(() => store.close());
      assert.equal(await store.setIfAbsent('lock', 'a', 1), true);
      assert.equal(await store.setIfAbsent('lock', 'b', 1), false);
      assert.equal(await store.get('lock'), 'a');
      await h.elapse(1200);
      assert.equal(await store.setIfAbsent('lock', 'c', 1), true);
      assert.equal(await store.get('lock'), 'c');
    });

    it('expire refreshes a live key and reports a missing one', async (t) => {
      const store = await h.fresh();
      t.after(() => store.close());
      await store.set('flow:b', 'x', 1);
      await h.elapse(600);
      assert.equal(await store.expire('flow:b', 1), true);
      await h.elapse(600);
      assert.equal(await store.get('flow:b'), 'x', 'alive past its first TTL');
      await h.elapse(600);
      assert.equal(await store.get('flow:b'), undefined);
      assert.equal(await store.expire('flow:b', 10), false);
      assert.equal(await store.expire('never', 10), false);
    });

    it('delete reports whether a live key was removed', async (t) => {
      const store = await h.fresh();
      t.after(() => store.close());
      await store.set('a', '1', 1);
      assert.equal(await store.delete('a'), true);
      assert.equal(await store.delete('a'), false);
      await store.set('b', '1', 1);
      await h.elapse(1200);
      assert.equal(await store.delete('b'), false);
      await store.hset('h', { f: 'v' }, 10);
      assert.equal(await store.delete('h'), true, 'delete removes a hash too');
    });

    it('a set overwrites the value and the TTL, also of a hash', async (t) => {
      const store = await h.fresh();
      t.after(() => store.close());
      await store.set('a', '1', 1);
      await store.set('a', '2', 10);
      await h.elapse(1200);
      assert.equal(await store.get('a'), '2');
      await store.hset('h', { f: 'v' }, 10);
      await store.set('h', 'now a string', 10);
      assert.equal(await store.get('h'), 'now a string');
    });

    it('keys and values round-trip byte for byte (colons, percent signs, UTF-8, empty value)', async (t) => {
      const store = await h.fresh();
      t.after(() => store.close());
      const key = 'sbc:engine-call:a84b4c76e66710@pc33.example.com%3A:ü';
      await store.set(key, 'Bob <sip:bob@[2001:db8::1]:5060>;tag=ä€', 10);
      assert.equal(await store.get(key), 'Bob <sip:bob@[2001:db8::1]:5060>;tag=ä€');
      await store.set('empty', '', 10);
      assert.equal(await store.get('empty'), '');
    });
  });

  describe(`${name} conformance: hashes`, () => {
    it('sets, reads and deletes fields; the last field removed removes the key', async (t) => {
      const store = await h.fresh();
      t.after(() => store.close());
      await store.hset('topo:1', { via: 'SIP/2.0/UDP 10.0.0.1', contact: '<sip:a@10.0.0.1>' }, 60);
      await store.hset('topo:1', { rr: '<sip:p1;lr>' }, 60);
      assert.equal(await store.hget('topo:1', 'via'), 'SIP/2.0/UDP 10.0.0.1');
      assert.equal(await store.hget('topo:1', 'missing'), undefined);
      assert.equal(await store.hget('no-hash', 'via'), undefined);
      assert.deepEqual(await store.hgetall('topo:1'), { via: 'SIP/2.0/UDP 10.0.0.1', contact: '<sip:a@10.0.0.1>', rr: '<sip:p1;lr>' });
      assert.equal(await store.hdel('topo:1', 'via', 'missing'), 1);
      assert.equal(await store.hdel('topo:1'), 0, 'no fields named: nothing removed');
      assert.equal(await store.hdel('topo:1', 'contact', 'rr'), 2);
      assert.deepEqual(await store.hgetall('topo:1'), {});
      assert.equal(await exists(store, 'topo:1'), false, 'an emptied hash is gone');
      assert.equal(await store.hdel('topo:1', 'x'), 0);
    });

    it('hset resets the TTL of the whole hash', async (t) => {
      const store = await h.fresh();
      t.after(() => store.close());
      await store.hset('h', { a: '1' }, 1);
      await h.elapse(600);
      await store.hset('h', { b: '2' }, 1);
      await h.elapse(600);
      assert.deepEqual(await store.hgetall('h'), { a: '1', b: '2' });
      await h.elapse(600);
      assert.deepEqual(await store.hgetall('h'), {});
      assert.equal(await store.hget('h', 'a'), undefined);
    });

    it('hset without fields creates nothing, and refreshes the TTL of a live hash', async (t) => {
      const store = await h.fresh();
      t.after(() => store.close());
      await store.hset('none', {}, 10);
      assert.equal(await exists(store, 'none'), false);
      await store.hset('h', { a: '1' }, 1);
      await h.elapse(600);
      await store.hset('h', {}, 1);
      await h.elapse(600);
      assert.deepEqual(await store.hgetall('h'), { a: '1' });
    });

    it('mixing a string key and a hash key is a typed error', async (t) => {
      const store = await h.fresh();
      t.after(() => store.close());
      await store.set('s', 'v', 10);
      await store.hset('h', { a: '1' }, 10);
      await assert.rejects(store.hget('s', 'a'), StateWrongTypeError);
      await assert.rejects(store.hgetall('s'), StateWrongTypeError);
      await assert.rejects(store.hset('s', { a: '1' }, 10), StateWrongTypeError);
      await assert.rejects(store.hset('s', {}, 10), StateWrongTypeError);
      await assert.rejects(store.hdel('s', 'a'), StateWrongTypeError);
      await assert.rejects(store.hdel('s'), StateWrongTypeError);
      await assert.rejects(store.get('h'), (err: unknown) => err instanceof StateWrongTypeError && err.code === 'SBC_ERR_STATE_WRONG_TYPE' && err.message.includes('"h"'));
      assert.equal(await store.get('s'), 'v', 'a refused write changed nothing');
      assert.equal(await store.setIfAbsent('h', 'x', 10), false, 'a hash is present for setIfAbsent');
    });
  });

  describe(`${name} conformance: counters`, () => {
    it('counts up and down and keeps the TTL set at creation', async (t) => {
      const store = await h.fresh();
      t.after(() => store.close());
      assert.equal(await store.incr('rate:1.2.3.4:0', 1, 1), 1);
      await h.elapse(600);
      assert.equal(await store.incr('rate:1.2.3.4:0', 1, 1), 2);
      assert.equal(await store.incr('rate:1.2.3.4:0', -5, 1), -3);
      assert.equal(await store.get('rate:1.2.3.4:0'), '-3');
      await h.elapse(600);
      assert.equal(await store.get('rate:1.2.3.4:0'), undefined, 'incr did not extend the TTL');
      assert.equal(await store.incr('rate:1.2.3.4:0', 1, 1), 1, 'a new window starts from zero');
    });

    it('refuses a non-integer step or a non-counter value', async (t) => {
      const store = await h.fresh();
      t.after(() => store.close());
      await assert.rejects(store.incr('c', 0.5, 10), TypeError);
      await assert.rejects(store.incr('c', Number.MAX_SAFE_INTEGER + 1, 10), TypeError);
      await store.set('word', 'abc', 10);
      await assert.rejects(store.incr('word', 1, 10), (err: unknown) => err instanceof StateWrongTypeError && err.message.includes('integer counter'));
      await store.hset('h', { a: '1' }, 10);
      await assert.rejects(store.incr('h', 1, 10), StateWrongTypeError);
      await store.set('num', '41', 10);
      assert.equal(await store.incr('num', 1, 10), 42);
    });

    it('refuses to leave the safe integer range and keeps the value', async (t) => {
      const store = await h.fresh();
      t.after(() => store.close());
      await store.set('big', String(Number.MAX_SAFE_INTEGER - 1), 10);
      assert.equal(await store.incr('big', 1, 10), Number.MAX_SAFE_INTEGER);
      await assert.rejects(store.incr('big', 1, 10), RangeError);
      assert.equal(await store.get('big'), String(Number.MAX_SAFE_INTEGER));
      await store.set('small', String(-Number.MAX_SAFE_INTEGER), 10);
      await assert.rejects(store.incr('small', -1, 10), RangeError);
      assert.equal(await store.get('small'), String(-Number.MAX_SAFE_INTEGER));
    });
  });

  describe(`${name} conformance: publish/subscribe`, () => {
    it('delivers to every subscriber of the channel until it unsubscribes', async (t) => {
      const store = await h.fresh();
      t.after(() => store.close());
      const a: string[] = [];
      const b: string[] = [];
      const other: string[] = [];
      const unsubscribeA = await store.subscribe('flows', (m) => a.push(m));
      await store.subscribe('flows', (m) => b.push(m));
      await store.subscribe('other', (m) => other.push(m));
      await store.publish('flows', 'one');
      await eventually(() => a.length === 1 && b.length === 1, 'both subscribers got "one"');
      await unsubscribeA();
      await unsubscribeA();
      await store.publish('flows', 'two');
      await store.publish('flows', 'three');
      await eventually(() => b.length === 3, 'the remaining subscriber got "two" and "three"');
      assert.deepEqual(a, ['one']);
      assert.deepEqual(b, ['one', 'two', 'three'], 'in publish order');
      assert.deepEqual(other, [], 'nothing on another channel');
    });

    it('a channel whose last subscriber left gets nothing; subscribing again works', async (t) => {
      const store = await h.fresh();
      t.after(() => store.close());
      const first: string[] = [];
      const unsubscribe = await store.subscribe('c', (m) => first.push(m));
      await unsubscribe();
      await store.publish('c', 'lost');
      const second: string[] = [];
      await store.subscribe('c', (m) => second.push(m));
      await store.publish('c', 'kept');
      await eventually(() => second.at(-1) === 'kept', 'the new subscriber got "kept"');
      assert.deepEqual(first, [], 'nothing for a listener that left');
      // On a Cluster "lost" may still be on its way between nodes when the new SUBSCRIBE lands.
      assert.ok(second.every((m) => m === 'lost' || m === 'kept'), second.join(', '));
    });

    it('contains a throwing or rejecting subscriber and logs it', async (t) => {
      const lines: string[] = [];
      const sink = new Writable({ write(chunk, _enc, done) { lines.push(String(chunk)); done(); } });
      const store = await h.fresh({ logger: pino({ level: 'error' }, sink) });
      t.after(() => store.close());
      const got: string[] = [];
      // A channel no other test uses: on a Cluster an earlier test's message may still be crossing between nodes when this one subscribes.
      await store.subscribe('failing', () => { throw new Error('boom'); });
      await store.subscribe('failing', async () => { throw new Error('async boom'); });
      await store.subscribe('failing', (m) => got.push(m));
      await store.publish('failing', 'hello');
      const failures = (): number => lines.filter((l) => l.includes('state subscriber failed')).length;
      await eventually(() => got.length >= 1 && failures() >= 2, 'the healthy subscriber got it and both failures were logged');
      assert.deepEqual(got, ['hello']);
      assert.equal(failures(), 2, lines.join(''));
    });
  });

  describe(`${name} conformance: close`, () => {
    it('is idempotent and rejects later calls with StateStoreClosedError', async () => {
      const store = await h.fresh();
      const got: string[] = [];
      await store.set('a', '1', 10);
      await store.subscribe('closing', (m) => got.push(m));
      await store.close();
      await store.close();
      await assert.rejects(store.get('a'), StateStoreClosedError);
      await assert.rejects(store.set('a', '1', 10), (err: unknown) => err instanceof StateStoreClosedError && err.code === 'SBC_ERR_STATE_CLOSED');
      await assert.rejects(store.hgetall('a'), StateStoreClosedError);
      await assert.rejects(store.incr('n', 1, 10), StateStoreClosedError);
      await assert.rejects(store.publish('c', 'x'), StateStoreClosedError);
      await assert.rejects(store.subscribe('c', () => undefined), StateStoreClosedError);
      assert.deepEqual(got, []);
    });
  });
}
