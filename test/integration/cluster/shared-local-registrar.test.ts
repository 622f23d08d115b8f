/**
 * registrar.mode local on two workers sharing the supervisor's store: a
 * phone registered through worker 1 is found by worker 2 (one binding set
 * for the gateway), and a call placed through worker 2 rings it; the
 * admin API lists the registration once, on the worker that holds it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { SipRequest, SipResponse } from '../../../src/sip/message.js';
import { baseWorkerConfig, startTestCluster, type TestCluster } from '../../helpers/cluster/test-cluster.js';
import { rand, request, response, SipPeer } from '../../helpers/sip-peer.js';

const DOMAIN = 'workers.example.com';

describe('local registrar on two workers', () => {
  let cluster: TestCluster;
  const peers: SipPeer[] = [];

  before(async () => {
    cluster = await startTestCluster({
      count: 2,
      serveStore: true,
      config: (_id, port) => ({
        ...baseWorkerConfig(port),
        registrar: { mode: 'local', domains: [DOMAIN] },
        // Here each worker has a port of its own, so they reach each other as nodes do (the shared-port case needs no relay for UDP).
        trustedSources: ['127.0.0.1/32'],
        services: {},
      }),
    });
  });
  after(async () => {
    for (const p of peers) p.close();
    await cluster?.stop();
  });

  test('registered through worker 1, called through worker 2: the phone rings and its answer reaches the caller', async () => {
    const [one, two] = cluster.workers as [typeof cluster.workers[0], typeof cluster.workers[0]];
    const phone = await SipPeer.udp('127.0.0.9');
    const alice = await SipPeer.udp('127.0.0.10');
    peers.push(phone, alice);
    const contact = `sip:erin@127.0.0.9:${phone.address.port}`;
    phone.send(request({ method: 'REGISTER', uri: `sip:${DOMAIN}`, sentBy: `127.0.0.9:${phone.address.port}`, from: `<sip:erin@${DOMAIN}>`, to: `<sip:erin@${DOMAIN}>`, contact: `<${contact}>`, headers: ['Expires: 120'] }), one.udp);
    assert.equal(((await phone.nextResponse((s) => s >= 200, 'REGISTER')).msg as SipResponse).status, 200);

    const callId = rand(8);
    alice.send(request({ method: 'INVITE', uri: `sip:erin@${DOMAIN}`, sentBy: `127.0.0.10:${alice.address.port}`, from: `<sip:alice@${DOMAIN}>`, to: `<sip:erin@${DOMAIN}>`, callId, contact: `<sip:alice@127.0.0.10:${alice.address.port}>` }), two.udp);
    const invite = await phone.nextRequest('INVITE');
    assert.equal(invite.msg.callId, callId);
    assert.equal((invite.msg as SipRequest).uri, contact, 'delivered to the registered Contact');
    phone.send(response(invite.msg as SipRequest, 486, 'Busy Here', { toTag: rand(4) }), invite.from);
    const busy = (await alice.next((r) => r.msg.kind === 'response' && r.msg.callId === callId && r.msg.status >= 300)).msg as SipResponse;
    assert.equal(busy.status, 486);

    const listed = (await (await fetch(`${cluster.admin.url()}/api/registrations`)).json()) as { mode: string; count: number; registrations: Array<{ aor: string; worker: number }> };
    assert.equal(listed.mode, 'local');
    assert.deepEqual(listed.registrations.map((r) => [r.aor, r.worker]), [[`sip:erin@${DOMAIN}`, 1]], 'one registration, held by worker 1');
    assert.equal(listed.count, 1);
  });
});
