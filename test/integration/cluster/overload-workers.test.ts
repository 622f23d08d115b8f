/**
 * workers: 2 behind one UDP port, each judging its own load: a worker that
 * stalls (SIGSTOP) with datagrams piling up in its SO_REUSEPORT socket's
 * queue must not make the other worker shed. Both sockets are on the same
 * port, so the kernel's table tells them apart only by inode.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { SipRequest } from '../../../src/sip/message.js';
import { startClusterSbc, type ClusterSbc } from '../../helpers/sbc-cluster.js';
import { rand, request, response, SipPeer } from '../../helpers/sip-peer.js';

describe('workers: 2, one worker stalled with a full socket queue', () => {
  let sbc: ClusterSbc;
  let backend: SipPeer;
  const peers: SipPeer[] = [];
  let stopped = 0;

  before(async () => {
    backend = await SipPeer.udp();
    backend.onMessage = (r, p) => {
      if (r.msg.kind === 'request' && r.msg.method === 'INVITE') p.send(response(r.msg, 486, 'Busy Here', { toTag: 'uas' }), r.from);
    };
    sbc = await startClusterSbc(2, `backends:
  default: { probe: { intervalSeconds: 0 }, targets: [{ uri: "sip:127.0.0.1:${backend.address.port};transport=udp" }] }
`, { overload: 'overload: { loopDelayMs: 2000, udpQueueBytes: 16384 }' });
  });
  after(async () => {
    if (stopped > 0) process.kill(stopped, 'SIGCONT');
    for (const p of peers) p.close();
    backend?.close();
    await sbc?.stop();
  });

  test('the other worker keeps taking calls: no 503 for a queue that is not its own', async () => {
    for (let i = 0; i < 24; i++) peers.push(await SipPeer.udp());
    const shared = { address: '127.0.0.1', port: sbc.port };
    const options = (peer: SipPeer): string => {
      const sentBy = `127.0.0.1:${peer.address.port}`;
      return request({ method: 'OPTIONS', uri: `sip:127.0.0.1:${sbc.port}`, sentBy, callId: rand(8), from: '<sip:probe@example.com>', to: `<sip:127.0.0.1:${sbc.port}>` });
    };
    const victim = sbc.workers.get(1);
    assert.ok(victim !== undefined && victim.pid > 1, 'worker 1 is known');
    process.kill(victim.pid, 'SIGSTOP');
    stopped = victim.pid;
    // Which sources the kernel gives to the stalled worker: their OPTIONS go unanswered.
    const answered = await Promise.all(peers.map(async (p) => {
      p.send(options(p), shared);
      return p.nextResponse(200, 'OPTIONS', 1500).then(() => true, () => false);
    }));
    const toStalled = peers.filter((_, i) => !answered[i]);
    const toLive = peers.filter((_, i) => answered[i]);
    assert.ok(toStalled.length > 0 && toLive.length > 0, `sources on both workers (stalled ${toStalled.length}, live ${toLive.length})`);
    // The stalled worker's queue fills far past udpQueueBytes.
    for (let round = 0; round < 40; round++) for (const p of toStalled) p.send(options(p) + ' '.repeat(900), shared);
    // Several load samples for the live worker, with that queue standing still.
    await new Promise((r) => setTimeout(r, 2500));
    for (const caller of toLive.slice(0, 3)) {
      const sentBy = `127.0.0.1:${caller.address.port}`;
      const callId = rand(8);
      caller.send(request({ method: 'INVITE', uri: 'sip:1000@example.com', sentBy, callId, from: '<sip:alice@example.com>', to: '<sip:1000@example.com>', contact: `<sip:alice@${sentBy}>` }), shared);
      const final = (await caller.next((r) => r.msg.kind === 'response' && r.msg.callId === callId && r.msg.status >= 200)).msg;
      assert.equal(final.kind === 'response' ? final.status : 0, 486, 'the backend answered: the live worker did not shed the call');
      const inv = backend.received.find((r) => r.msg.kind === 'request' && r.msg.method === 'INVITE' && (r.msg as SipRequest).headers.get('from')?.includes('alice') === true);
      assert.ok(inv !== undefined, 'the INVITE reached the backend');
    }
  });
});
