import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { createMetrics } from '../../../src/admin/metrics.js';
import { EnginePool } from '../../../src/media/rtpengine/engine-pool.js';
import { NgError, NoEngineError } from '../../../src/media/rtpengine/errors.js';
import { resolveFlagSets } from '../../../src/media/rtpengine/flags.js';
import { NgClient } from '../../../src/media/rtpengine/ng-client.js';
import { replyCalls } from '../../../src/media/rtpengine/commands.js';
import { KEY_FAMILY, stateKey } from '../../../src/state/keys.js';
import { MemoryStore } from '../../../src/state/memory-store.js';
import { startRtpengine, type RunningRtpengine } from '../../helpers/rtpengine.js';
import { chromeOffer, mediaLine, plainRtpSdp } from './sdp-samples.js';

const flags = resolveFlagSets();
const newCallId = (): string => `${randomBytes(8).toString('hex')}@127.0.0.1`;

/** Poll until `check` holds; the deadline only turns a hang into a failure. */
async function waitUntil(what: string, check: () => boolean | Promise<boolean>, deadlineMs = 15_000): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!(await check())) {
    if (Date.now() > end) assert.fail(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A new Call-ID that the pool would give to `url`. */
async function callIdFor(pool: EnginePool, url: string): Promise<string> {
  for (let i = 0; i < 200; i++) {
    const callId = newCallId();
    if ((await pool.engineFor(callId)) === url) return callId;
  }
  throw new Error(`no Call-ID maps to ${url}`);
}

describe('EnginePool with two real rtpengines', () => {
  let a: RunningRtpengine;
  let b: RunningRtpengine;
  let store: MemoryStore;
  /** Independent eyes on each engine: what it really holds. */
  const observers = new Map<string, NgClient>();
  const pools: EnginePool[] = [];

  const callsOn = async (url: string): Promise<string[]> => replyCalls(await observers.get(url)!.request('list', { limit: 1000 }));

  before(async () => {
    [a, b] = await Promise.all([startRtpengine(), startRtpengine()]);
    store = new MemoryStore();
    for (const e of [a, b]) observers.set(e.udpUrl, new NgClient(e.udpUrl));
  });

  after(async () => {
    for (const pool of pools) pool.close();
    for (const client of observers.values()) client.close();
    await store?.close();
    // stop() sends SIGCONT before SIGTERM, so a paused engine stops too.
    await Promise.all([a?.stop(), b?.stop()]);
  });

  function newPool(options: Partial<ConstructorParameters<typeof EnginePool>[0]> = {}): EnginePool {
    const pool = new EnginePool({ engines: [{ url: a.udpUrl }, { url: b.udpUrl }], store, timeoutMs: 300, tries: 2, pingIntervalSeconds: 0.3, ...options });
    pools.push(pool);
    return pool;
  }

  it('keeps each call on the engine that took its offer: answer, query and delete go there, also from another node', async () => {
    const pool = newPool();
    const otherNode = newPool({ nodeId: 'node-b' });
    for (const url of [a.udpUrl, b.udpUrl]) {
      const callId = await callIdFor(pool, url);
      const offer = await pool.offer({ callId, fromTag: 'browser', sdp: chromeOffer(), flags: flags.offer('webrtcToRtp') });
      assert.equal(offer.engine, url);
      assert.match(mediaLine(offer.sdp), /RTP\/AVP/);
      assert.ok((await callsOn(url)).includes(callId), `${url} does not hold the call`);
      const other = url === a.udpUrl ? b.udpUrl : a.udpUrl;
      assert.equal((await callsOn(other)).includes(callId), false, `${other} holds the call too`);

      // The answer comes through the other node: it finds the engine in the shared store.
      const answer = await otherNode.answer({ callId, fromTag: 'browser', toTag: 'backend', sdp: plainRtpSdp(), flags: flags.answer('rtpToWebrtc') });
      assert.equal(answer.engine, url);
      assert.match(mediaLine(answer.sdp), /UDP\/TLS\/RTP\/SAVPF/);
      const query = await pool.query({ callId });
      assert.equal(query['result'], 'ok');
      assert.equal(pool.snapshot().find((e) => e.url === url)?.sessions, 1);

      await pool.delete({ callId, fromTag: 'browser' });
      assert.equal((await callsOn(url)).includes(callId), false, `${url} still holds the call after delete`);
      assert.equal(await store.get(stateKey('sbc:', KEY_FAMILY.engineCall, callId)), undefined, 'stickiness kept after delete');
      await assert.rejects(pool.answer({ callId, fromTag: 'browser', toTag: 'backend', sdp: plainRtpSdp() }), NoEngineError);
    }
    assert.deepEqual(
      pool.snapshot().map((e) => [e.url, e.health, e.sessions]),
      [[a.udpUrl, 'up', 0], [b.udpUrl, 'up', 0]],
    );
  });

  it('passes an engine error through without failing over, and counts it', async () => {
    const pool = newPool();
    const callId = await callIdFor(pool, a.udpUrl);
    await assert.rejects(pool.offer({ callId, fromTag: 'x', sdp: 'this is not an SDP' }), NgError);
    assert.equal((await callsOn(b.udpUrl)).includes(callId), false);
    const snap = pool.snapshot().find((e) => e.url === a.udpUrl)!;
    assert.equal(snap.errors, 1);
    assert.equal(snap.health, 'up');
  });

  it('moves new calls off a stopped engine, marks it down by pings, and brings it back when it answers again', async () => {
    const registry = new Registry();
    const metrics = createMetrics(registry);
    const pool = newPool({ metrics, failuresToDown: 2, successesToUp: 1 });
    pool.start();
    const engineUp = async (url: string): Promise<string | undefined> =>
      (await registry.getSingleMetricAsString('sbc_media_engine_up')).split('\n').find((l) => l.includes(`engine="${url}"`))?.split(' ').pop();

    const callId = await callIdFor(pool, a.udpUrl);
    await a.pause();
    try {
      // The offer for a call that hashes to A times out there and lands on B.
      const offer = await pool.offer({ callId, fromTag: 'browser', sdp: chromeOffer(), flags: flags.offer('webrtcToRtp') });
      assert.equal(offer.engine, b.udpUrl);
      assert.ok((await callsOn(b.udpUrl)).includes(callId), 'B does not hold the moved call');
      // Stickiness follows the engine that took it.
      const answer = await pool.answer({ callId, fromTag: 'browser', toTag: 'backend', sdp: plainRtpSdp(), flags: flags.answer('rtpToWebrtc') });
      assert.equal(answer.engine, b.udpUrl);

      await waitUntil('A is marked down', () => pool.snapshot().find((e) => e.url === a.udpUrl)?.health === 'down');
      assert.equal(await engineUp(a.udpUrl), '0');
      assert.equal(await engineUp(b.udpUrl), '1');
      // While A is down, a new call that prefers A goes straight to B.
      const another = newCallId();
      assert.equal(await pool.engineFor(another), b.udpUrl);
      const snapA = pool.snapshot().find((e) => e.url === a.udpUrl)!;
      assert.ok(snapA.timeouts >= 2, `A timeouts ${snapA.timeouts}`);
    } finally {
      a.resume();
    }
    await waitUntil('A is back up', () => pool.snapshot().find((e) => e.url === a.udpUrl)?.health === 'up');
    assert.equal(await engineUp(a.udpUrl), '1');
    assert.equal(await pool.engineFor(await callIdFor(pool, a.udpUrl)), a.udpUrl);
    // The moved call stays on B after A came back.
    assert.equal(await pool.engineFor(callId), b.udpUrl);
    await pool.delete({ callId, fromTag: 'browser' });
    assert.deepEqual(await callsOn(b.udpUrl), []);
    const sessions = await registry.getSingleMetricAsString('sbc_media_sessions');
    assert.ok(sessions.includes(`sbc_media_sessions{engine="${b.udpUrl}"} 0`), sessions);
  });

  it('says which engines it tried when none answers an offer', async () => {
    const pool = newPool({ tries: 1, timeoutMs: 200 });
    await a.pause();
    await b.pause();
    try {
      await assert.rejects(pool.offer({ callId: newCallId(), fromTag: 'x', sdp: chromeOffer() }), (e: unknown) => e instanceof NoEngineError && e.message.includes(a.udpUrl) && e.message.includes(b.udpUrl) && e.status === 503);
    } finally {
      a.resume();
      b.resume();
    }
  });

  it('close() is idempotent and stops the pings', async () => {
    const pool = newPool();
    pool.start();
    pool.close();
    pool.close();
    await assert.rejects(pool.list(a.udpUrl), /closed/);
  });
});
