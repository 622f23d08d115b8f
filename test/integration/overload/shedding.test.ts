/**
 * Admission control over real sockets: once live INVITEs pass the threshold,
 * new INVITEs from outside get a stateless 503 with a short Retry-After and
 * never reach the backend, while a retransmission, a CANCEL and the calls in
 * progress are handled as usual. Metrics show the state and the shed count.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { SipRequest } from '../../../src/sip/message.js';
import { rand, request, response, SipPeer } from '../../helpers/sip-peer.js';
import { startSbc, type TestSbc } from '../../helpers/sbc.js';

describe('admission control', () => {
  let sbc: TestSbc;
  let backend: SipPeer;
  let client: SipPeer;
  let sbcUdp: { address: string; port: number };
  const ringing = new Map<string, SipRequest>();

  before(async () => {
    backend = await SipPeer.udp();
    backend.onMessage = (r, p) => {
      if (r.msg.kind !== 'request') return;
      const req = r.msg;
      if (req.method === 'INVITE') {
        p.send(response(req, 180, 'Ringing', { toTag: 'uas1' }), r.from);
        ringing.set(req.callId ?? '', req);
      } else if (req.method === 'CANCEL') {
        p.send(response(req, 200, 'OK', { toTag: 'uas1' }), r.from);
        const inv = ringing.get(req.callId ?? '');
        if (inv !== undefined) p.send(response(inv, 487, 'Request Terminated', { toTag: 'uas1' }), r.from);
      }
    };
    sbc = await startSbc({
      backends: { default: { probe: { intervalSeconds: 0 }, targets: [{ uri: `sip:127.0.0.1:${backend.address.port};transport=udp` }] } },
      overload: { maxPendingInvites: 2, sampleIntervalMs: 20 },
    });
    sbcUdp = { address: '127.0.0.1', port: sbc.listener('udp').boundPort };
    client = await SipPeer.udp();
  });
  after(async () => {
    client.close();
    backend.close();
    await sbc.stop();
  });

  const invite = (callId: string, branch: string, method = 'INVITE'): string =>
    request({ method, uri: 'sip:bob@example.com', sentBy: `127.0.0.1:${client.address.port}`, branch, callId, fromTag: 'a1', contact: `<sip:alice@127.0.0.1:${client.address.port}>` });
  const metric = async (name: string): Promise<string> => {
    const text = await (await fetch(`${sbc.adminUrl}/metrics`)).text();
    return text.split('\n').filter((l) => l.startsWith(name)).join('\n');
  };

  test('sheds new INVITEs with 503 + Retry-After; retransmissions, CANCEL and calls in progress go on', async () => {
    const calls = ['c1', 'c2', 'c3'].map((c) => ({ callId: c + rand(4), branch: `z9hG4bK${rand()}` }));
    for (const c of calls) {
      client.send(invite(c.callId, c.branch), sbcUdp);
      await client.next((r) => r.msg.kind === 'response' && r.msg.status === 180 && r.msg.callId === c.callId);
    }
    // Three calls ringing, threshold 2: the admitted share falls to its floor within a few samples.
    // With workers each judges its own load (series labelled worker): the one the client's address reaches.
    const worker = sbc.workers > 1 ? '\\{worker="\\d+"\\}' : '';
    const deadline = Date.now() + 5000;
    while (!new RegExp(`sbc_overload_admit_ratio${worker} 0\\.0[0-4]`).test(await metric('sbc_overload_admit_ratio')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.match(await metric('sbc_overload_state'), new RegExp(`sbc_overload_state${worker} 1`));

    const statuses: number[] = [];
    const shedIds: string[] = [];
    for (let i = 0; i < 20; i++) {
      const callId = `new${i}-${rand(4)}`;
      client.send(invite(callId, `z9hG4bK${rand()}`), sbcUdp);
      const r = await client.next((m) => m.msg.kind === 'response' && m.msg.callId === callId && m.msg.status !== 100, 3000);
      assert.equal(r.msg.kind, 'response');
      if (r.msg.kind !== 'response') continue;
      statuses.push(r.msg.status);
      if (r.msg.status === 503) {
        shedIds.push(callId);
        const after = Number(r.msg.headers.get('retry-after'));
        assert.ok(after >= 1 && after <= 4, `Retry-After ${after}`);
        assert.equal(r.msg.headers.get('via'), r.msg.headers.values('via')[0], 'stateless 503 to the client');
      }
    }
    assert.ok(shedIds.length >= 15, `most new INVITEs shed: ${statuses.join(',')}`);
    for (const id of shedIds) assert.equal(backend.count((r) => r.msg.kind === 'request' && r.msg.callId === id), 0, 'a shed INVITE never reaches the backend');

    // A retransmission of a call in progress gets its last response again, not a 503.
    const first = calls[0]!;
    const before180 = client.count((r) => r.msg.kind === 'response' && r.msg.callId === first.callId && r.msg.status === 180);
    client.send(invite(first.callId, first.branch), sbcUdp);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(client.count((r) => r.msg.kind === 'response' && r.msg.callId === first.callId && r.msg.status === 503), 0);
    assert.ok(client.count((r) => r.msg.kind === 'response' && r.msg.callId === first.callId && r.msg.status === 180) > before180, '180 resent');

    // CANCEL is never shed: 200 for it, 487 for the INVITE.
    client.send(request({ method: 'CANCEL', uri: 'sip:bob@example.com', sentBy: `127.0.0.1:${client.address.port}`, branch: first.branch, callId: first.callId, fromTag: 'a1', cseq: 1 }), sbcUdp);
    await client.next((r) => r.msg.kind === 'response' && r.msg.callId === first.callId && r.msg.status === 200 && r.msg.cseq()?.method === 'CANCEL');
    await client.next((r) => r.msg.kind === 'response' && r.msg.callId === first.callId && r.msg.status === 487);

    assert.match(await metric('sbc_overload_shed_total'), /sbc_overload_shed_total\{reason="pending-invites"\} \d+/);
  });
});
