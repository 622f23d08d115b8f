/**
 * RedisStore on the two other ways to deploy Redis, with real servers on
 * loopback: a three-master Redis Cluster (the conformance suite, keys spread
 * over every master, two SBC nodes sharing it) and a master with a replica
 * behind a Sentinel (the master dies; the store follows the failover to the
 * promoted replica and keeps the replicated state).
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { RedisStore, StateWrongTypeError } from '../../../src/state/index.js';
import { startRedis, startRedisCluster, startRedisSentinel, type RunningRedis, type RunningRedisCluster, type RunningRedisSentinel } from '../../helpers/redis.js';
import { describeStoreConformance, eventually } from '../../unit/state/store-conformance.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('RedisStore on Redis Cluster (three masters)', () => {
  let cluster: RunningRedisCluster;
  let admins: Redis[];

  before(async () => {
    cluster = await startRedisCluster(3);
    admins = cluster.nodes.map((n) => new Redis({ host: '127.0.0.1', port: n.port, lazyConnect: true }));
    await Promise.all(admins.map((a) => a.connect()));
  });
  after(async () => {
    for (const a of admins ?? []) a.disconnect();
    await cluster?.stop();
  });

  const config = (): { url: string; cluster: { nodes: string[] } } => ({ url: 'redis://127.0.0.1', cluster: { nodes: cluster.seeds } });

  describeStoreConformance('RedisStore (Cluster)', {
    fresh: async (options = {}) => {
      await Promise.all(admins.map((a) => a.flushall()));
      return RedisStore.connect(config(), options);
    },
    elapse: sleep,
  });

  it('two SBC nodes share state whose keys spread over every master, each with a TTL', async (t) => {
    await Promise.all(admins.map((a) => a.flushall()));
    const nodeA = await RedisStore.connect(config());
    const nodeB = await RedisStore.connect(config());
    t.after(() => Promise.all([nodeA.close(), nodeB.close()]));
    assert.match(nodeA.location, /^cluster 127\.0\.0\.1:\d+, 127\.0\.0\.1:\d+, 127\.0\.0\.1:\d+$/);
    for (let i = 0; i < 30; i++) {
      await nodeA.hset(`sbc:topo:k${i}`, { [`c.t${i}`]: `<sip:fs@10.0.0.${i}>` }, 60);
      await nodeA.incr(`sbc:rate:192.0.2.${i}:0`, 2, 60);
    }
    for (let i = 0; i < 30; i++) {
      assert.deepEqual(await nodeB.hgetall(`sbc:topo:k${i}`), { [`c.t${i}`]: `<sip:fs@10.0.0.${i}>` });
      assert.equal(await nodeB.incr(`sbc:rate:192.0.2.${i}:0`, 1, 60), 3);
    }
    const perMaster = await Promise.all(admins.map((a) => a.dbsize()));
    assert.ok(perMaster.every((n) => n > 0), `keys on every master: ${perMaster.join(', ')}`);
    for (const admin of admins) {
      for (const key of await admin.keys('*')) assert.ok((await admin.pttl(key)) > 0, `${key} has a TTL`);
    }
    await nodeA.set('sbc:s', 'v', 60);
    await assert.rejects(nodeB.hget('sbc:s', 'f'), StateWrongTypeError);

    const got: string[] = [];
    await nodeA.subscribe('sbc:flows', (m) => got.push(m));
    await nodeB.publish('sbc:flows', 'from node B');
    await eventually(() => got.length === 1, 'a message published on node B reached node A');
    assert.deepEqual(got, ['from node B']);
  });
});

describe('RedisStore through Redis Sentinel', () => {
  let master: RunningRedis;
  let replica: RunningRedis;
  let sentinel: RunningRedisSentinel;

  before(async () => {
    // Redis waits 5 s for more replicas before a diskless full sync by default.
    master = await startRedis({ args: ['--repl-diskless-sync-delay', '0'] });
    replica = await startRedis({ args: ['--replicaof', '127.0.0.1', String(master.port)] });
    sentinel = await startRedisSentinel(master);
  });
  after(async () => {
    await sentinel?.stop();
    await replica?.stop();
    await master?.stop();
  });

  it('finds the master through the sentinel, and follows a failover to the promoted replica', async (t) => {
    const lines: Array<Record<string, unknown>> = [];
    const sink = new Writable({ write(chunk, _enc, done) { lines.push(JSON.parse(String(chunk)) as Record<string, unknown>); done(); } });
    const store = await RedisStore.connect(
      { url: 'redis://127.0.0.1/0', sentinels: { name: sentinel.name, nodes: [sentinel.address] } },
      { logger: pino({ level: 'info' }, sink), commandTimeoutMs: 300, connectTimeoutMs: 300, reconnectMaxDelayMs: 200 },
    );
    t.after(() => store.close());
    assert.equal(store.location, `master "${sentinel.name}" via sentinels ${sentinel.address}`);
    await store.hset('sbc:dialog:leg-a', { side: 'a', state: 'confirmed' }, 600);
    const replicaReader = new Redis({ host: '127.0.0.1', port: replica.port, lazyConnect: true });
    await replicaReader.connect();
    t.after(() => replicaReader.disconnect());
    for (let i = 0; i < 100 && (await replicaReader.exists('sbc:dialog:leg-a')) === 0; i++) await sleep(20);
    assert.equal(await replicaReader.exists('sbc:dialog:leg-a'), 1, 'replicated before the master dies');

    await master.kill();
    const deadline = Date.now() + 20_000;
    let written = false;
    while (!written) {
      written = await store.set('sbc:after-failover', 'yes', 60).then(() => true, () => false);
      if (!written && Date.now() > deadline) assert.fail(`no write succeeded within 20 s of the master's death; sentinel says master is on ${await sentinel.masterPort()}`);
      if (!written) await sleep(100);
    }
    assert.equal(await sentinel.masterPort(), replica.port, 'the replica was promoted');
    assert.equal(await replicaReader.get('sbc:after-failover'), 'yes', 'the store writes to the promoted replica');
    assert.deepEqual(await store.hgetall('sbc:dialog:leg-a'), { side: 'a', state: 'confirmed' }, 'state written before the failover is still there');
    assert.ok(lines.some((l) => l.msg === 'state store reconnected'), 'the reconnection is logged');
  });
});
