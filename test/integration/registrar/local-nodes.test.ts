/**
 * Two gateways on one Redis (state.store redis, registrar.mode local) on two
 * loopback addresses, trusting each other and sharing flowTokens.secret:
 * a user registered on one node is reached from the other. Bob registers
 * from a TCP phone on node A and a UDP phone on node B; Alice calls him on
 * node A: both phones ring (node A relays the branch for B's phone to node B
 * with a Route naming the phone's flow), B's phone answers, A's is
 * cancelled, and ACK and BYE cross both nodes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { SipRequest, SipResponse } from '../../../src/sip/message.js';
import { startRedis, type RunningRedis } from '../../helpers/redis.js';
import { startSbc, type TestSbc } from '../../helpers/sbc.js';
import { rand, request, response, SipPeer, uacRouteSet, uasRouteSet, type Received } from '../../helpers/sip-peer.js';

const DOMAIN = 'example.test';

describe('local registrar on two nodes sharing Redis', () => {
  let redis: RunningRedis;
  let a: TestSbc;
  let b: TestSbc;
  const peers: SipPeer[] = [];

  const node = (address: string): Promise<TestSbc> => startSbc({
    listen: [
      { transport: 'udp', address, port: 0 },
      { transport: 'tcp', address, port: 0 },
    ],
    registrar: { mode: 'local', domains: [DOMAIN] },
    state: { store: 'redis', redis: { url: redis.url, keyPrefix: 'nodes:' } },
    flowTokens: { secret: 'shared-secret-of-both-nodes-0123456789' },
    trustedSources: ['127.0.0.2/32', '127.0.0.3/32'],
    timers: { t1Ms: 50 },
  });

  before(async () => {
    redis = await startRedis();
    a = await node('127.0.0.2');
    b = await node('127.0.0.3');
  });
  after(async () => {
    for (const p of peers) p.close();
    await a?.stop();
    await b?.stop();
    await redis?.stop();
  });

  const register = async (peer: SipPeer, sbc: TestSbc, transport: 'UDP' | 'TCP', contact: string): Promise<SipResponse> => {
    const to = transport === 'UDP' ? { address: sbc.listener('udp').address, port: sbc.listener('udp').boundPort } : undefined;
    peer.send(request({ method: 'REGISTER', uri: `sip:${DOMAIN}`, sentBy: `127.0.0.1:${peer.address.port}`, viaTransport: transport, from: `<sip:bob@${DOMAIN}>`, to: `<sip:bob@${DOMAIN}>`, contact: `<${contact}>`, headers: ['Expires: 120'] }), to);
    return (await peer.nextResponse((s) => s >= 200, 'REGISTER')).msg as SipResponse;
  };
  const isInvite = (r: Received): boolean => r.msg.kind === 'request' && r.msg.method === 'INVITE';

  test('bob on both nodes rings from a call on node A; the phone on node B answers; ACK and BYE cross the nodes', async () => {
    const onA = await SipPeer.tcp(a.listener('tcp').boundPort, '127.0.0.2');
    const onB = await SipPeer.udp('127.0.0.1');
    const alice = await SipPeer.udp('127.0.0.1');
    peers.push(onA, onB, alice);
    const contactA = `sip:bob@127.0.0.1:${onA.address.port};transport=tcp`;
    const contactB = `sip:bob@127.0.0.1:${onB.address.port}`;
    assert.equal((await register(onA, a, 'TCP', contactA)).status, 200);
    const both = await register(onB, b, 'UDP', contactB);
    assert.equal(both.status, 200);
    assert.equal(both.contacts() !== '*' && both.contacts()?.length, 2, 'node B sees the binding made on node A: one registration in Redis');

    const sbcA = { address: '127.0.0.2', port: a.listener('udp').boundPort };
    const callId = `x-${rand(6)}`;
    alice.send(request({
      method: 'INVITE', uri: `sip:bob@${DOMAIN}`, sentBy: `127.0.0.1:${alice.address.port}`, from: `<sip:alice@${DOMAIN}>`, to: `<sip:bob@${DOMAIN}>`, callId,
      contact: `<sip:alice@127.0.0.1:${alice.address.port}>`, body: 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n',
    }), sbcA);
    const [iA, iB] = await Promise.all([onA.next(isInvite), onB.next(isInvite)]);
    assert.equal((iB.msg as SipRequest).uri, contactB, 'node B delivered the branch to its phone, Request-URI = its Contact');
    assert.equal(iB.from.address, '127.0.0.3', 'from node B, where the phone registered');
    assert.ok(iB.msg.headers.values('route').length === 0, 'node B popped the Route that named the flow');
    onA.send(response(iA.msg as SipRequest, 180, 'Ringing', { toTag: 'ta' }));
    onB.send(response(iB.msg as SipRequest, 180, 'Ringing', { toTag: 'tb' }), iB.from);
    onB.send(response(iB.msg as SipRequest, 200, 'OK', { toTag: 'tb', headers: [`Contact: <${contactB}>`], body: 'v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40002 RTP/AVP 0\r\n' }), iB.from);
    const cancel = await onA.nextRequest('CANCEL');
    onA.send(response(cancel.msg as SipRequest, 200, 'OK'));
    onA.send(response(iA.msg as SipRequest, 487, 'Request Terminated', { toTag: 'ta' }));
    const ok = (await alice.nextResponse(200, 'INVITE')).msg as SipResponse;
    assert.ok(ok.headers.get('to')?.includes('tag=tb'));

    const aliceTag = ok.from()!.params.get('tag')!;
    alice.send(request({ method: 'ACK', uri: contactB, sentBy: `127.0.0.1:${alice.address.port}`, from: `<sip:alice@${DOMAIN}>`, fromTag: aliceTag, to: `<sip:bob@${DOMAIN}>`, toTag: 'tb', callId, headers: uacRouteSet(ok).map((r) => `Route: ${r}`) }), sbcA);
    await onB.nextRequest('ACK');
    // Bob's phone hangs up: its BYE goes to node B, then node A, then Alice.
    onB.send(request({ method: 'BYE', uri: `sip:alice@127.0.0.1:${alice.address.port}`, sentBy: `127.0.0.1:${onB.address.port}`, from: `<sip:bob@${DOMAIN}>`, fromTag: 'tb', to: `<sip:alice@${DOMAIN}>`, toTag: aliceTag, callId, cseq: 1, headers: uasRouteSet(iB.msg).map((r) => `Route: ${r}`) }), iB.from);
    const bye = await alice.nextRequest('BYE');
    assert.equal(bye.from.address, '127.0.0.2', 'the BYE reached Alice from node A');
    alice.send(response(bye.msg as SipRequest, 200, 'OK'), bye.from);
    await onB.nextResponse(200, 'BYE');
  });

  test('Redis not answering: a lookup ends in 500 Registrar Unavailable; a CANCEL during the lookup gets 200 and the INVITE 487', async () => {
    const alice = await SipPeer.udp('127.0.0.1');
    peers.push(alice);
    const sbcA = { address: '127.0.0.2', port: a.listener('udp').boundPort };
    const invite = (callId: string, branch: string): string => request({
      method: 'INVITE', uri: `sip:bob@${DOMAIN}`, sentBy: `127.0.0.1:${alice.address.port}`, branch, from: `<sip:alice@${DOMAIN}>`, fromTag: 'fa', to: `<sip:bob@${DOMAIN}>`, callId,
      contact: `<sip:alice@127.0.0.1:${alice.address.port}>`,
    });
    await redis.pause();
    try {
      alice.send(invite('lost-1', 'z9hG4bKlost1'), sbcA);
      const failed = (await alice.nextResponse((s) => s >= 200, 'INVITE', 5000)).msg as SipResponse;
      assert.equal(failed.status, 500);
      assert.equal(failed.reason, 'Registrar Unavailable');

      alice.send(invite('lost-2', 'z9hG4bKlost2'), sbcA);
      await new Promise((r) => setTimeout(r, 200));
      alice.send(request({ method: 'CANCEL', uri: `sip:bob@${DOMAIN}`, sentBy: `127.0.0.1:${alice.address.port}`, branch: 'z9hG4bKlost2', from: `<sip:alice@${DOMAIN}>`, fromTag: 'fa', to: `<sip:bob@${DOMAIN}>`, callId: 'lost-2' }), sbcA);
      await alice.nextResponse(200, 'CANCEL');
      const terminated = (await alice.next((r) => r.msg.kind === 'response' && r.msg.callId === 'lost-2' && r.msg.cseq()?.method === 'INVITE' && r.msg.status >= 200, 5000)).msg as SipResponse;
      assert.equal(terminated.status, 487);
    } finally {
      redis.resume();
    }
  });
});
