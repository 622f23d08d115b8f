/**
 * B2BUA mode with a real Kamailio as registrar and proxy behind the SBC: a
 * WebSocket client registers through us (Path), a UDP phone registered at
 * Kamailio calls it and is called by it. Each end sees only its own leg.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { SipRequest, SipResponse } from '../../../src/sip/message.js';
import { startKamailio, type RunningKamailio } from '../../helpers/kamailio.js';
import { rand } from '../../helpers/sip-peer.js';
import type { TestSbc } from '../../helpers/sbc.js';
import { UdpUa, WsClient } from '../kamailio/harness.js';
import { assertNoDialogs, assertNoLeak, contactUser, startB2buaSbc, type B2buaSbc } from './harness.js';

describe('B2BUA mode with Kamailio as the registrar', () => {
  let kam: RunningKamailio;
  let gw: B2buaSbc;
  let sbc: TestSbc;
  const open: Array<{ close(): void }> = [];

  before(async () => {
    kam = await startKamailio();
    gw = await startB2buaSbc({
      mode: 'b2bua',
      listen: [
        { transport: 'udp', address: '127.0.0.1', port: 0 },
        { transport: 'ws', address: '127.0.0.1', port: 0 },
      ],
      backends: { default: { algorithm: 'round-robin', probe: { method: 'OPTIONS', intervalSeconds: 2, failuresToDown: 3, successesToUp: 1, timeoutMs: 1000 }, targets: [{ uri: kam.uri, weight: 1, priority: 0 }] } },
      registrar: { backend: 'default', pathMode: true },
      media: { mode: 'passthrough' },
      timers: { t1Ms: 100 },
    });
    sbc = gw.sbc;
  });
  after(async () => {
    for (const o of open) o.close();
    await gw?.stop();
    await kam?.stop();
  });

  const wsClient = async (): Promise<WsClient> => {
    const c = await WsClient.connect(`ws://127.0.0.1:${sbc.listener('ws').boundPort}`);
    open.push(c);
    return c;
  };
  const udpUa = async (): Promise<UdpUa> => {
    const ua = await UdpUa.create(kam);
    open.push(ua);
    await ua.register();
    return ua;
  };

  test('a phone behind Kamailio calls a WS client registered through us (Path); BYE from the client', async () => {
    const client = await wsClient();
    const aor = `ws${rand(3)}`;
    const reg = await client.registered(aor);
    assert.equal(reg.status, 200);
    assert.equal((await kam.contacts(aor))[0]?.path.length, 1, 'Kamailio stored our Path');
    const ua = await udpUa();
    client.mode = 'answer';

    const call = ua.invite(aor);
    const ok = (await ua.nextResponse(call.callId, 200, 'INVITE')).msg as SipResponse;
    const inv = (await client.nextRequest('INVITE')).msg as SipRequest;
    const clientCallId = inv.callId!;
    assert.notEqual(clientCallId, call.callId, 'the client\'s dialog has its own Call-ID');
    assert.equal(inv.vias()!.length, 1, 'the client sees only our Via, not Kamailio\'s or the phone\'s');
    assert.equal(inv.routes()?.length ?? 0, 0);
    assert.equal(inv.requestUri()?.user, client.user, 'Kamailio\'s lookup target reaches the client');
    assert.notEqual(inv.from()!.params.get('tag'), call.fromTag);
    assert.match(ok.headers.get('contact') ?? '', /sip:b2b[0-9a-f]+@127\.0\.0\.1:\d+;transport=udp/, 'the phone sees our Contact');
    assert.ok(ok.recordRoutes()!.length >= 1, 'Kamailio Record-Routed');
    ua.ack(ok, call);
    await client.nextRequest('ACK', clientCallId);

    client.byeAsCallee(inv);
    await client.nextResponse(clientCallId, 200, 'BYE');
    const bye = (await ua.nextRequest('BYE', call.callId)).msg as SipRequest;
    assert.equal(bye.vias()!.length, 2, 'the BYE came through Kamailio (route set of the A leg)');

    assertNoLeak(client.peer.received.filter((r) => r.msg.callId === clientCallId), { 'Call-ID': call.callId, 'From tag': call.fromTag, 'phone address': `127.0.0.1:${ua.peer.address.port}` }, 'the client');
    assertNoLeak(ua.peer.received.filter((r) => r.msg.callId === call.callId), { 'Call-ID': clientCallId, 'Via host': client.host, 'Contact user': client.user }, 'the phone');
    await assertNoDialogs(gw, [contactUser(ok), contactUser(inv)]);
  });

  test('a WS client calls the phone through Kamailio; BYE from the phone', async () => {
    const client = await wsClient();
    await client.registered(`ws${rand(3)}`);
    const ua = await udpUa();
    ua.mode = 'answer';
    const call = client.invite(ua.user);
    const ok = (await client.nextResponse(call.callId, 200, 'INVITE')).msg as SipResponse;
    const inv = (await ua.nextRequest('INVITE')).msg as SipRequest;
    assert.notEqual(inv.callId, call.callId);
    assert.equal(inv.vias()!.length, 2, 'Kamailio\'s Via and ours; not the client\'s');
    assert.equal(ok.vias()!.length, 1);
    assert.match(ok.headers.get('contact') ?? '', /sip:b2b[0-9a-f]+@127\.0\.0\.1:\d+;transport=ws/);
    assert.equal(ok.recordRoutes()?.length ?? 0, 0, 'no Record-Route reaches the client: we are its dialog peer');
    client.ack(ok, call);
    await ua.nextRequest('ACK', inv.callId);
    ua.byeAsCallee(inv);
    await ua.nextResponse(inv.callId!, 200, 'BYE');
    await client.nextRequest('BYE', call.callId);
    assertNoLeak(client.peer.received.filter((r) => r.msg.callId === call.callId), { 'Call-ID': inv.callId!, 'phone address': `127.0.0.1:${ua.peer.address.port}`, 'phone tag': ua.tags.get(inv.callId!) ?? '' }, 'the client');
    // The caller's identity (From user) is kept on purpose; its Call-ID, tag, Via and Contact are not.
    assertNoLeak(ua.peer.received.filter((r) => r.msg.callId === inv.callId), { 'Call-ID': call.callId, 'From tag': call.fromTag, 'Via/Contact host': client.host }, 'the phone');
    await assertNoDialogs(gw, [contactUser(ok), contactUser(inv)]);
  });
});
