/**
 * workers: 2 with a real Kamailio as registrar behind them: WSS clients
 * (connections round-robin over the workers) register through the gateway;
 * Kamailio stores a Path that names the inside port and id of the worker
 * holding each connection; a call from a phone on Kamailio reaches every
 * client, whichever worker holds it, and is answered, acknowledged and hung
 * up both ways. When the worker holding a client is killed, the client
 * connects and registers again and is reachable; the other worker's are too.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { SipRequest, SipResponse } from '../../../src/sip/message.js';
import { startKamailio, type RunningKamailio } from '../../helpers/kamailio.js';
import { startClusterSbc, type ClusterSbc } from '../../helpers/sbc-cluster.js';
import { UdpUa, WsClient } from '../kamailio/harness.js';

describe('workers: 2, WSS clients registered with Path at Kamailio', () => {
  let kam: RunningKamailio;
  let sbc: ClusterSbc;
  const open: Array<{ close(): void }> = [];

  before(async () => {
    kam = await startKamailio();
    try {
      sbc = await startClusterSbc(2, `backends:
  default: { probe: { intervalSeconds: 0 }, targets: [{ uri: "${kam.uri}" }] }
registrar: { backend: default, pathMode: true }
`, { wss: true });
    } catch (err) {
      await kam.stop();
      throw err;
    }
  });
  after(async () => {
    for (const c of open) c.close();
    await sbc?.stop();
    await kam?.stop();
  });

  test('every client is reachable, whichever worker holds its connection', async () => {
    const clients: Array<{ client: WsClient; aor: string; pathPort: number; worker: number }> = [];
    for (let i = 0; i < 6; i++) {
      const client = await WsClient.connect(`wss://127.0.0.1:${sbc.wssPort}`);
      open.push(client);
      const aor = `w${i}x${client.user}`;
      const ok = await client.registered(aor);
      assert.equal(ok.status, 200, `REGISTER ${aor}: ${ok.status} ${ok.reason}`);
      const [binding] = await kam.contacts(aor);
      assert.ok(binding !== undefined, `Kamailio has a binding for ${aor}`);
      assert.equal(binding.path.length, 1, `one Path: ${binding.path.join(', ')}`);
      const m = /^<sip:[A-Za-z0-9_-]+@127\.0\.0\.1:(\d+);transport=udp;lr;w=(\d);ob>$/.exec(binding.path[0]!);
      assert.ok(m !== null, `the Path names a worker's inside port and id: ${binding.path[0]}`);
      const pathPort = Number(m[1]);
      const worker = Number(m[2]);
      assert.equal(sbc.workerByInsidePort(pathPort)?.id, worker, 'the port is that worker\'s own');
      clients.push({ client, aor, pathPort, worker });
    }
    assert.deepEqual([...new Set(clients.map((c) => c.worker))].sort(), [1, 2], 'the connections are spread over both workers');

    for (const [i, { client, aor }] of clients.entries()) {
      const ua = await UdpUa.create(kam);
      open.push(ua);
      const call = ua.invite(aor);
      const inv = await client.nextRequest('INVITE', call.callId);
      assert.equal((inv.msg as SipRequest).requestUri()?.user, client.user);
      const ok = (await ua.nextResponse(call.callId, 200, 'INVITE')).msg as SipResponse;
      ua.ack(ok, call);
      await client.nextRequest('ACK', call.callId);
      if (i % 2 === 0) {
        client.byeAsCallee(inv.msg as SipRequest);
        await ua.nextRequest('BYE', call.callId);
        await client.nextResponse(call.callId, 200, 'BYE');
      } else {
        ua.byeAsCaller(ok, call);
        await client.nextRequest('BYE', call.callId);
        await ua.nextResponse(call.callId, 200, 'BYE');
      }
    }

    // The worker holding the first client is killed: its connection drops; the client connects again
    // (to whichever worker), registers again, and is reachable; the clients of the other worker still are.
    const victim = clients[0]!;
    const mark = sbc.lines.length;
    sbc.killWorker(victim.worker);
    await sbc.waitFor((l) => l.msg === 'worker ready' && l.worker === victim.worker, 20_000, mark);
    const deadline = Date.now() + 5000;
    while (!victim.client.peer.closedByRemote && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.ok(victim.client.peer.closedByRemote, 'its connection was closed with the worker');
    const again = await WsClient.connect(`wss://127.0.0.1:${sbc.wssPort}`);
    open.push(again);
    const ok = await again.registered(victim.aor);
    assert.equal(ok.status, 200, `REGISTER again: ${ok.status} ${ok.reason}`);
    const survivor = clients.find((c) => c.worker !== victim.worker)!;
    for (const callee of [again, survivor.client]) {
      const aor = callee === again ? victim.aor : survivor.aor;
      const ua = await UdpUa.create(kam);
      open.push(ua);
      const call = ua.invite(aor);
      await callee.nextRequest('INVITE', call.callId);
      const answered = (await ua.nextResponse(call.callId, 200, 'INVITE')).msg as SipResponse;
      ua.ack(answered, call);
      await callee.nextRequest('ACK', call.callId);
      ua.byeAsCaller(answered, call);
      await callee.nextRequest('BYE', call.callId);
      await ua.nextResponse(call.callId, 200, 'BYE');
    }
  });
});
