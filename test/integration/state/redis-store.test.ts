/**
 * RedisStore against a real redis-server on loopback: the shared conformance
 * suite (the same tests the memory store passes), what only Redis shows (TTLs
 * as Redis keeps them, credentials and database from the url, connections by
 * role), and faults on cue: Redis stopped (SIGSTOP), killed and restarted,
 * unreachable at start.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import type { Logger } from '../../../src/log/logger.js';
import { RedisStore, StateStoreClosedError, StateStoreUnavailableError, type RedisStoreOptions } from '../../../src/state/index.js';
import { startRedis, type RunningRedis } from '../../helpers/redis.js';
import { describeStoreConformance, eventually } from '../../unit/state/store-conformance.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Resolves with the first value `read` gives that `accept` takes; fails with the last one after `timeoutMs`. */
async function settled<T>(read: () => Promise<T>, accept: (value: T) => boolean, timeoutMs = 2000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (accept(value) || Date.now() > deadline) return value;
    await sleep(20);
  }
}

/** Log lines as parsed objects, for checking what the store reported. */
function captureLog(): { logger: Logger; lines: Array<Record<string, unknown>>; text: () => string } {
  const lines: Array<Record<string, unknown>> = [];
  const raw: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      raw.push(String(chunk));
      lines.push(JSON.parse(String(chunk)) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, sink), lines, text: () => raw.join('') };
}

describe('RedisStore on a real redis-server', () => {
  let redis: RunningRedis;
  let admin: Redis;

  before(async () => {
    redis = await startRedis();
    admin = new Redis(redis.url, { lazyConnect: true });
    await admin.connect();
  });
  after(async () => {
    admin?.disconnect();
    await redis?.stop();
  });

  describeStoreConformance('RedisStore', {
    fresh: async (options = {}) => {
      await admin.flushall();
      return RedisStore.connect({ url: redis.url }, options);
    },
    elapse: sleep,
  });

  it('every key it writes carries a TTL in Redis, in milliseconds, under the key it was given', async (t) => {
    await admin.flushall();
    const store = await RedisStore.connect({ url: redis.url });
    t.after(() => store.close());
    await store.set('sbc:engine-call:c1', 'udp:127.0.0.1:22222', 30);
    await store.setIfAbsent('sbc:ban:192.0.2.1', 'rate', 300);
    await store.hset('sbc:topo:k0123456789abcdef01', { 'r.t1': '[]' }, 180);
    await store.incr('sbc:rate:192.0.2.1:0', 1, 2);
    await store.incr('sbc:rate:192.0.2.1:0', 1, 2);
    await store.hset('sbc:dialog:a', { side: 'a' }, 0.5);
    const keys = (await admin.keys('*')).sort();
    assert.deepEqual(keys, ['sbc:ban:192.0.2.1', 'sbc:dialog:a', 'sbc:engine-call:c1', 'sbc:rate:192.0.2.1:0', 'sbc:topo:k0123456789abcdef01'], 'no prefix of its own added');
    const ttl: Record<string, number> = {};
    for (const key of keys) ttl[key] = await admin.pttl(key);
    assert.ok(ttl['sbc:engine-call:c1']! > 29_000 && ttl['sbc:engine-call:c1']! <= 30_000, `engine-call ${ttl['sbc:engine-call:c1']}`);
    assert.ok(ttl['sbc:ban:192.0.2.1']! > 299_000, `ban ${ttl['sbc:ban:192.0.2.1']}`);
    assert.ok(ttl['sbc:topo:k0123456789abcdef01']! > 179_000, `topo ${ttl['sbc:topo:k0123456789abcdef01']}`);
    assert.ok(ttl['sbc:rate:192.0.2.1:0']! > 1000 && ttl['sbc:rate:192.0.2.1:0']! <= 2000, `rate ${ttl['sbc:rate:192.0.2.1:0']}`);
    assert.ok(ttl['sbc:dialog:a']! > 0 && ttl['sbc:dialog:a']! <= 500, `a fractional TTL in ms: ${ttl['sbc:dialog:a']}`);
    assert.equal(await admin.type('sbc:topo:k0123456789abcdef01'), 'hash');
  });

  it('opens the subscriber connection on the first subscribe only, and names its connections', async (t) => {
    const store = await RedisStore.connect({ url: redis.url });
    t.after(() => store.close());
    const names = async (): Promise<string[]> => ((await admin.client('LIST')) as string).split('\n').map((l) => /name=(\S*)/.exec(l)?.[1] ?? '').filter((n) => n.startsWith('webrtc-sbc')).sort();
    assert.deepEqual(await settled(names, (n) => n.length === 1), ['webrtc-sbc']);
    await store.subscribe('c1', () => undefined);
    await store.subscribe('c2', () => undefined);
    assert.deepEqual(await names(), ['webrtc-sbc', 'webrtc-sbc:subscriber']);
    await store.close();
    assert.deepEqual(await settled(names, (n) => n.length === 0), [], 'close() closes both connections');
  });

  it('delivers a message published on one node to a subscriber on another', async (t) => {
    const nodeA = await RedisStore.connect({ url: redis.url });
    const nodeB = await RedisStore.connect({ url: redis.url });
    t.after(() => Promise.all([nodeA.close(), nodeB.close()]));
    const atA: string[] = [];
    const atB: string[] = [];
    await nodeA.subscribe('sbc:flows', (m) => atA.push(m));
    await nodeB.subscribe('sbc:flows', (m) => atB.push(m));
    await nodeB.publish('sbc:flows', 'flow f1 closed on node B');
    await nodeA.publish('sbc:flows', 'flow f2 closed on node A');
    await eventually(() => atA.length === 2 && atB.length === 2, 'both nodes got both messages');
    assert.deepEqual(atA, ['flow f1 closed on node B', 'flow f2 closed on node A']);
    assert.deepEqual(atB, atA);
  });

  it('reads what another node wrote: one shared state', async (t) => {
    await admin.flushall();
    const nodeA = await RedisStore.connect({ url: redis.url });
    const nodeB = await RedisStore.connect({ url: redis.url });
    t.after(() => Promise.all([nodeA.close(), nodeB.close()]));
    await nodeA.hset('sbc:topo:k1', { 'c.t1': '<sip:fs@10.0.0.21>' }, 60);
    assert.deepEqual(await nodeB.hgetall('sbc:topo:k1'), { 'c.t1': '<sip:fs@10.0.0.21>' });
    assert.equal(await nodeA.setIfAbsent('sbc:lock', 'A', 10), true);
    assert.equal(await nodeB.setIfAbsent('sbc:lock', 'B', 10), false, 'only one node wins');
    const counts = await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? nodeA : nodeB).incr('sbc:rate:x:0', 1, 10)));
    assert.deepEqual(counts.sort((a, b) => a - b), Array.from({ length: 50 }, (_, i) => i + 1), 'atomic across nodes');
  });
});

describe('RedisStore credentials and database from the url', () => {
  let redis: RunningRedis;
  const PASSWORD = 'pw-Zq7-do-not-log';

  before(async () => {
    redis = await startRedis({ password: PASSWORD });
  });
  after(async () => {
    await redis?.stop();
  });

  it('authenticates with the password of the url and uses its database', async (t) => {
    const log = captureLog();
    const store = await RedisStore.connect({ url: `redis://:${PASSWORD}@127.0.0.1:${redis.port}/3` }, { logger: log.logger });
    t.after(() => store.close());
    await store.set('sbc:where', 'db3', 10);
    const admin = new Redis({ port: redis.port, host: '127.0.0.1', password: PASSWORD, db: 3, lazyConnect: true });
    await admin.connect();
    t.after(() => admin.disconnect());
    assert.equal(await admin.get('sbc:where'), 'db3');
    await admin.select(0);
    assert.equal(await admin.get('sbc:where'), null);
    assert.equal(store.location, `redis://127.0.0.1:${redis.port}/3`);
    assert.ok(log.lines.some((l) => l.msg === 'state store connected'));
    assert.ok(!log.text().includes(PASSWORD), 'the password never reaches the log');
  });

  it('a wrong password fails start-up with a message that names the url but not the password', async () => {
    const log = captureLog();
    await assert.rejects(
      RedisStore.connect({ url: `redis://sbc:wrong-${PASSWORD}@127.0.0.1:${redis.port}` }, { logger: log.logger, startupTimeoutMs: 1000 }),
      (err: unknown) => {
        assert.ok(err instanceof StateStoreUnavailableError, String(err));
        assert.match(err.message, new RegExp(`redis://sbc@127\\.0\\.0\\.1:${redis.port}`));
        assert.match(err.message, /WRONGPASS|NOAUTH|invalid/i);
        assert.ok(!err.message.includes(PASSWORD), err.message);
        return true;
      },
    );
    assert.ok(!log.text().includes(PASSWORD), 'the password never reaches the log');
  });
});

describe('RedisStore faults', () => {
  const FAST: RedisStoreOptions = { commandTimeoutMs: 300, connectTimeoutMs: 300, reconnectMaxDelayMs: 100, closeTimeoutMs: 300 };
  let redis: RunningRedis;

  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis?.stop();
  });

  it('unreachable at start: connect() gives up after startupTimeoutMs with a message naming the url and the fix', async () => {
    const started = Date.now();
    await assert.rejects(RedisStore.connect({ url: 'redis://:secret@127.0.0.1:1/0' }, { ...FAST, startupTimeoutMs: 500 }), (err: unknown) => {
      assert.ok(err instanceof StateStoreUnavailableError, String(err));
      assert.equal(err.code, 'SBC_ERR_STATE_UNAVAILABLE');
      assert.match(err.message, /redis:\/\/127\.0\.0\.1:1\/0/);
      assert.match(err.message, /ECONNREFUSED/);
      assert.match(err.message, /state\.store=memory/);
      assert.ok(!err.message.includes('secret'));
      return true;
    });
    assert.ok(Date.now() - started < 3000, `gave up after ${Date.now() - started} ms`);
  });

  it('Redis stopped (SIGSTOP): operations reject with StateStoreUnavailableError instead of hanging; resumed: they work again', async (t) => {
    const log = captureLog();
    const store = await RedisStore.connect({ url: redis.url }, { ...FAST, logger: log.logger });
    t.after(async () => {
      redis.resume();
      await store.close();
    });
    await store.set('k', 'before', 60);
    await redis.pause();
    const started = Date.now();
    const results = await Promise.allSettled([store.get('k'), store.set('k', 'during', 60), store.hgetall('h'), store.incr('n', 1, 60), store.publish('c', 'x')]);
    const elapsed = Date.now() - started;
    for (const r of results) {
      assert.equal(r.status, 'rejected');
      const err = (r as PromiseRejectedResult).reason as unknown;
      assert.ok(err instanceof StateStoreUnavailableError, String(err));
      assert.match(err.message, new RegExp(`Redis at redis://127\\.0\\.0\\.1:${redis.port}`));
      assert.match(err.message, /no reply within 300 ms/);
    }
    assert.ok(elapsed < 3000, `operations settled after ${elapsed} ms`);
    await Promise.allSettled(Array.from({ length: 20 }, () => store.get('k')));
    redis.resume();
    assert.equal(await store.get('k'), 'during', 'the write Redis received before it stopped answering was applied once it resumed');
    await store.set('k', 'after', 60);
    assert.equal(await store.get('k'), 'after');
    const notAnswering = log.lines.filter((l) => l.msg === 'state store not answering: commands time out');
    assert.equal(notAnswering.length, 1, 'one line for the stall, not one per command');
    assert.equal(log.lines.filter((l) => l.msg === 'state store answering again').length, 1);
  });

  it('Redis killed: operations reject at once; restarted: the store reconnects by itself and a subscription is back', async (t) => {
    const log = captureLog();
    const store = await RedisStore.connect({ url: redis.url }, { ...FAST, logger: log.logger });
    const publisher = await RedisStore.connect({ url: redis.url }, FAST);
    t.after(() => Promise.all([store.close(), publisher.close()]));
    const got: string[] = [];
    await store.subscribe('sbc:events', (m) => got.push(m));
    await publisher.publish('sbc:events', 'before');
    await eventually(() => got.length === 1, 'delivered before the crash');

    const killedAt = log.lines.length;
    await redis.kill();
    const started = Date.now();
    const failures = await Promise.allSettled(Array.from({ length: 50 }, (_, i) => store.set(`k${i}`, 'v', 60)));
    assert.ok(failures.every((f) => f.status === 'rejected' && f.reason instanceof StateStoreUnavailableError), 'every operation failed with StateStoreUnavailableError');
    const reasons = new Set(failures.map((f) => ((f as PromiseRejectedResult).reason as Error).message.replace(/^.*failed: /, '')));
    assert.ok([...reasons].every((r) => r === 'not connected (reconnecting)' || r === 'the connection dropped before the reply'), [...reasons].join(' | '));
    assert.ok(Date.now() - started < 1000, `50 operations settled after ${Date.now() - started} ms`);
    await assert.rejects(store.subscribe('sbc:other', () => undefined), StateStoreUnavailableError);
    await sleep(500); // several reconnect attempts against the dead port

    await redis.restart();
    await eventually(() => log.lines.filter((l) => l.msg === 'state store reconnected').length === 2, 'both connections back', 5000);
    await store.set('k', 'after restart', 60);
    assert.equal(await store.get('k'), 'after restart');
    await retry(() => publisher.publish('sbc:events', 'after'));
    await eventually(() => got.length === 2, 'the subscription survived the restart');
    assert.deepEqual(got, ['before', 'after']);

    for (const role of ['commands', 'subscriber']) {
      const outage = log.lines.slice(killedAt).filter((l) => l.role === role && (l.level as number) >= 40);
      assert.ok(outage.length >= 1 && outage.length <= 3, `${role}: the outage is logged once per change (lost, each distinct error), not per retry or command:\n${outage.map((l) => JSON.stringify(l)).join('\n')}`);
      assert.ok(outage.every((l) => l.redis === `redis://127.0.0.1:${redis.port}`), 'each line names the Redis');
    }
  });

  it('close() does not wait on a Redis that does not answer', async () => {
    const store = await RedisStore.connect({ url: redis.url }, FAST);
    await store.subscribe('c', () => undefined);
    await redis.pause();
    try {
      const pending = assert.rejects(store.get('k'), StateStoreClosedError, 'an operation in flight at close() rejects with StateStoreClosedError');
      const started = Date.now();
      await store.close();
      assert.ok(Date.now() - started < 2000, `closed after ${Date.now() - started} ms`);
      await pending;
    } finally {
      redis.resume();
    }
  });
});

/** Retry `op` until it succeeds (a connection may take a retry interval to come back). */
async function retry<T>(op: () => Promise<T>, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await op();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(50);
    }
  }
}
