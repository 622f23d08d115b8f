/**
 * workers: 2 as its own registrar (registrar.mode local, bindings in the
 * store the supervisor serves): phones on TCP connections, spread
 * round-robin over the workers, call each other. A call whose callee's
 * connection lives on the other worker is relayed to that worker (to its own
 * port, with a Route naming the flow), which delivers it on the connection;
 * answer, ACK and BYE cross back.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { SipRequest, SipResponse } from '../../../src/sip/message.js';
import { startClusterSbc, type ClusterSbc } from '../../helpers/sbc-cluster.js';
import { rand, request, response, SipPeer, uacRouteSet, uasRouteSet } from '../../helpers/sip-peer.js';

const DOMAIN = 'example.test';

describe('workers: 2, registrar.mode local', () => {
  let sbc: ClusterSbc;
  const phones: Array<{ peer: SipPeer; user: string; contact: string; sentBy: string }> = [];

  before(async () => {
    sbc = await startClusterSbc(2, `registrar: { mode: local, domains: ["${DOMAIN}"] }\n`);
  });
  after(async () => {
    for (const p of phones) p.peer.close();
    await sbc?.stop();
  });

  test('every phone reaches every other, whichever worker holds the callee\'s connection', async () => {
    for (let i = 0; i < 4; i++) {
      const peer = await SipPeer.tcp(sbc.port);
      const user = `p${i}${rand(3)}`;
      const sentBy = `127.0.0.1:${peer.address.port}`;
      const contact = `sip:${user}@${sentBy};transport=tcp`;
      peer.send(request({ method: 'REGISTER', uri: `sip:${DOMAIN}`, sentBy, viaTransport: 'TCP', from: `<sip:${user}@${DOMAIN}>`, to: `<sip:${user}@${DOMAIN}>`, contact: `<${contact}>`, headers: ['Expires: 120'] }));
      const ok = (await peer.nextResponse((s) => s >= 200, 'REGISTER')).msg as SipResponse;
      assert.equal(ok.status, 200, `REGISTER ${user}: ${ok.status} ${ok.reason}`);
      phones.push({ peer, user, contact, sentBy });
    }
    // Every ordered pair: with connections alternating between two workers, half the calls cross.
    for (const caller of phones) {
      for (const callee of phones) {
        if (caller === callee) continue;
        const callId = rand(8);
        const fromTag = rand(4);
        caller.peer.send(request({
          method: 'INVITE', uri: `sip:${callee.user}@${DOMAIN}`, sentBy: caller.sentBy, viaTransport: 'TCP', callId, fromTag,
          from: `<sip:${caller.user}@${DOMAIN}>`, to: `<sip:${callee.user}@${DOMAIN}>`, contact: `<${caller.contact}>`,
        }));
        const inv = await callee.peer.next((r) => r.msg.kind === 'request' && r.msg.method === 'INVITE' && r.msg.callId === callId).catch((err: Error) => {
          throw new Error(`${caller.user} → ${callee.user}: ${err.message}; caller got: ${caller.peer.received.filter((r) => r.msg.callId === callId).map((r) => (r.msg.kind === 'response' ? `${r.msg.status} ${r.msg.reason}` : r.msg.method)).join(', ')}`);
        });
        const invite = inv.msg as SipRequest;
        assert.equal(invite.uri, callee.contact, 'delivered to the registered Contact');
        callee.peer.send(response(invite, 200, 'OK', { toTag: 'tb', headers: [`Contact: <${callee.contact}>`] }));
        const ok = (await caller.peer.next((r) => r.msg.kind === 'response' && r.msg.callId === callId && r.msg.status === 200)).msg as SipResponse;
        const routeSet = uacRouteSet(ok);
        caller.peer.send(request({ method: 'ACK', uri: callee.contact, sentBy: caller.sentBy, viaTransport: 'TCP', callId, fromTag, toTag: 'tb', from: `<sip:${caller.user}@${DOMAIN}>`, to: `<sip:${callee.user}@${DOMAIN}>`, headers: routeSet.map((r) => `Route: ${r}`) }));
        await callee.peer.next((r) => r.msg.kind === 'request' && r.msg.method === 'ACK' && r.msg.callId === callId);
        // The callee hangs up along the route set it learnt.
        callee.peer.send(request({
          method: 'BYE', uri: caller.contact, sentBy: callee.sentBy, viaTransport: 'TCP', callId, fromTag: 'tb', toTag: fromTag, cseq: 1,
          from: `<sip:${callee.user}@${DOMAIN}>`, to: `<sip:${caller.user}@${DOMAIN}>`, headers: uasRouteSet(invite).map((r) => `Route: ${r}`),
        }));
        const bye = await caller.peer.next((r) => r.msg.kind === 'request' && r.msg.method === 'BYE' && r.msg.callId === callId);
        caller.peer.send(response(bye.msg as SipRequest, 200, 'OK'));
        await callee.peer.next((r) => r.msg.kind === 'response' && r.msg.callId === callId && r.msg.status === 200 && r.msg.cseq()?.method === 'BYE');
      }
    }
  });
});
