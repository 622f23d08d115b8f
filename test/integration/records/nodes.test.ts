/**
 * Call records with two SBC nodes sharing a real Redis (state.store redis):
 * a call answered through node A whose BYE arrives at node B is written once,
 * by B, with what A knew of its start and answer; A, which never sees the
 * end, does not write it again at its drain. A BYE that crosses both nodes
 * is written once too.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startRedis, type RunningRedis } from '../../helpers/redis.js';
import { startSbc, type TestSbc } from '../../helpers/sbc.js';
import { rand, request, SipPeer } from '../../helpers/sip-peer.js';
import { backends, placeCall, readRecords, recordFor, sleep, uas, type Uas } from './records-helpers.js';

describe('call records across two nodes (Redis)', () => {
  let redis: RunningRedis;
  let dir: string;
  let backend: Uas;
  let a: TestSbc;
  let b: TestSbc;
  let client: SipPeer;
  let fileA: string;
  let fileB: string;

  before(async () => {
    redis = await startRedis();
    dir = mkdtempSync(join(tmpdir(), 'sbc-records-nodes-'));
    fileA = join(dir, 'a.jsonl');
    fileB = join(dir, 'b.jsonl');
    backend = await uas();
    const common = {
      backends: backends(backend),
      timers: { t1Ms: 50 },
      topologyHiding: { enabled: false },
      flowTokens: { secret: 'shared-between-the-nodes' },
      state: { store: 'redis', redis: { url: redis.url, keyPrefix: `rec-${rand(3)}:` } },
    };
    a = await startSbc({ ...common, callRecords: { file: fileA } });
    b = await startSbc({ ...common, callRecords: { file: fileB } });
    client = await SipPeer.udp();
  });
  after(async () => {
    client?.close();
    backend?.peer.close();
    await a?.stop();
    await b?.stop();
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const udp = (s: TestSbc) => ({ address: '127.0.0.1', port: s.listener('udp').boundPort });

  test('answered through A, a BYE that crosses B and then A: one record over both files', async () => {
    const call = await placeCall(client, udp(a), backend);
    await sleep(100);
    // Sent to B with the route set naming A: B relays it to A, A to the callee; both nodes see it.
    client.send(request({ method: 'BYE', uri: `sip:uas@127.0.0.1:${backend.peer.address.port}`, sentBy: `127.0.0.1:${client.address.port}`, callId: call.callId, fromTag: 'a1', toTag: call.toTag, cseq: 2, headers: call.callerRoutes.map((rt) => `Route: ${rt}`) }), udp(b));
    await client.next((r) => r.msg.kind === 'response' && r.msg.callId === call.callId && r.msg.cseq()?.method === 'BYE' && r.msg.status === 200);
    const until = Date.now() + 3000;
    const both = (): number => [...readRecords(fileA), ...readRecords(fileB)].filter((x) => x.callId === call.callId).length;
    while (both() === 0 && Date.now() < until) await sleep(25);
    await sleep(300);
    assert.equal(both(), 1, 'written once');
    const r = [...readRecords(fileA), ...readRecords(fileB)].find((x) => x.callId === call.callId)!;
    assert.equal(r.reason, 'bye-caller');
  });

  test('answered through A, BYE through B only: B writes the record; A does not at its drain', async () => {
    const call = await placeCall(client, udp(a), backend);
    // A shares the answered call with the other nodes (asynchronously).
    await sleep(100);
    // The BYE reaches B alone (no Route: straight to the callee's Contact).
    client.send(request({ method: 'BYE', uri: `sip:uas@127.0.0.1:${backend.peer.address.port}`, sentBy: `127.0.0.1:${client.address.port}`, callId: call.callId, fromTag: 'a1', toTag: call.toTag, cseq: 2 }), udp(b));
    await client.next((r) => r.msg.kind === 'response' && r.msg.callId === call.callId && r.msg.cseq()?.method === 'BYE' && r.msg.status === 200);
    const r = await recordFor(fileB, call.callId);
    assert.equal(r.reason, 'bye-caller');
    assert.equal(r.endedBy, 'caller');
    assert.equal(r.status, 200);
    assert.notEqual(r.answer, null, 'the answer time A saw');
    assert.deepEqual(r.source, { address: '127.0.0.1', port: client.address.port, transport: 'udp' }, 'the source A saw');
    assert.equal(r.direction, 'outbound');
    assert.ok(r.duration >= 0.05);
    // A still tracks the call (it never saw the BYE); its drain (node A stopping) must not write it a second time.
    await a.stop();
    await sleep(100);
    assert.equal(readRecords(fileA).filter((x) => x.callId === call.callId).length, 0, 'A wrote nothing');
    assert.equal(readRecords(fileB).filter((x) => x.callId === call.callId).length, 1);
  });
});
