/**
 * The proxy core with a real Kamailio as the backend registrar and proxy:
 * SIP.js-like WebSocket clients on the outside, plain UDP phones registered
 * straight at Kamailio on the inside. Assertions are on what the far ends saw.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { SipRequest, SipResponse } from '../../../src/sip/message.js';
import { rand } from '../../helpers/sip-peer.js';
import { settle, startBed, toTag, UdpUa, WsClient, type KamailioBed } from './harness.js';

describe('proxy core with Kamailio as the backend registrar/proxy', () => {
  let bed: KamailioBed;
  const open: Array<{ close(): void }> = [];

  before(async () => {
    bed = await startBed();
  });
  after(async () => {
    for (const ua of open) ua.close();
    await bed?.stop();
  });

  const wsClient = async (): Promise<WsClient> => {
    const c = await WsClient.connect(bed.wsUrl);
    open.push(c);
    return c;
  };
  const udpUa = async (): Promise<UdpUa> => {
    const ua = await UdpUa.create(bed.kam);
    open.push(ua);
    await ua.register();
    return ua;
  };

  test('REGISTER from a WS client is relayed to Kamailio; the 200 comes back on the same WebSocket with the client\'s Contact and expires', async () => {
    const client = await wsClient();
    const bystander = await wsClient();
    const aor = `reg${rand(4)}`;
    const ok = await client.registered(aor);
    assert.equal(ok.status, 200, `Kamailio's answer: ${ok.status} ${ok.reason}`);
    const contacts = ok.contacts();
    assert.ok(Array.isArray(contacts) && contacts.length === 1, `one binding in the 200: ${ok.headers.get('contact')}`);
    const mine = contacts[0]!;
    assert.equal(mine.uri.user, client.user, 'the Contact user part is the client\'s own');
    assert.equal(mine.uri.host, client.host);
    assert.equal(mine.params.get('expires'), '600');
    assert.equal(ok.vias()!.length, 1, 'only the client\'s Via comes back');
    assert.equal(ok.topVia()!.host, client.host);
    assert.equal(ok.paths()?.length, 1, 'Kamailio echoes the one Path the SBC added (RFC 3327 §5.3)');

    const stored = await bed.kam.contacts(aor);
    assert.equal(stored.length, 1);
    assert.match(stored[0]!.contact, new RegExp(`^sip:${client.user}@${client.host.replace('.', '\\.')};transport=ws`));
    assert.equal(bystander.peer.received.length, 0, 'nothing reached the other WebSocket');
  });

  test('INVITE from a WS client to a UAS registered at Kamailio: 180/200 back, ACK and BYE reach the UAS', async () => {
    const client = await wsClient();
    const uas = await udpUa();
    // Ring first and answer once the client has the 180: Kamailio's workers may
    // otherwise relay a back-to-back 200 before the 180, and then drop the 180.
    uas.mode = 'ring';
    const call = client.invite(uas.user);

    // Kamailio relays the UAS's 180 at once: it stands for our 100 Trying (RFC 3261 §17.2.1).
    const ringing = await client.nextResponse(call.callId, 180, 'INVITE');
    assert.equal(ringing.msg.vias()!.length, 1);
    uas.answerRinging(call.callId);
    const okRec = await client.nextResponse(call.callId, 200, 'INVITE');
    const ok = okRec.msg as SipResponse;
    assert.equal(toTag(ringing.msg as SipResponse), toTag(ok), 'the same early dialog');
    assert.equal(ok.vias()!.length, 1, 'the SBC and Kamailio Vias are gone');
    // Topology hiding (on by default): the UAS Contact is replaced by ours, with the key that restores it.
    assert.doesNotMatch(ok.headers.get('contact') ?? '', new RegExp(`sip:${uas.user}@`), 'the UAS Contact is hidden');
    assert.match(ok.headers.get('contact') ?? '', new RegExp(`@127\\.0\\.0\\.1:(${bed.sbc.listener('ws').boundPort}|${bed.sbc.listener('wss').boundPort})`), 'our Contact instead');

    const inv = uas.requests('INVITE', call.callId);
    assert.equal(inv.length, 1, 'the UAS saw the INVITE once');
    const invite = inv[0]!.msg as SipRequest;
    assert.equal(invite.requestUri()?.user, uas.user, 'Kamailio\'s lookup() set the Request-URI to the registered Contact');
    assert.equal(invite.vias()!.length, 3, 'Kamailio, SBC, client');
    const rr = invite.recordRoutes()!;
    assert.equal(rr.length, 3, 'Kamailio\'s Record-Route on top of the SBC\'s two (WS → UDP)');
    assert.equal(rr[0]!.uri.port, bed.kam.port);
    assert.ok(bed.sbc.ports('udp').includes(rr[1]!.uri.port ?? 0), `the SBC's inside Record-Route names a UDP port of ours (${rr[1]!.uri.port})`);
    assert.equal(rr[2]!.uri.params.get('transport'), 'ws');

    client.ack(ok, call);
    const ack = await uas.nextRequest('ACK', call.callId);
    assert.equal((ack.msg as SipRequest).routes()?.length ?? 0, 0, 'every Route popped on the way');
    assert.equal((ack.msg as SipRequest).requestUri()?.user, uas.user);

    client.byeAsCaller(ok, call);
    const bye = await uas.nextRequest('BYE', call.callId);
    assert.equal((bye.msg as SipRequest).routes()?.length ?? 0, 0);
    const byeOk = await client.nextResponse(call.callId, 200, 'BYE');
    assert.equal(byeOk.msg.vias()!.length, 1);
    assert.equal(uas.requests('ACK', call.callId).length, 1, 'one ACK');
  });

  test('BYE from the UAS side reaches the WS client over its WebSocket', async () => {
    const client = await wsClient();
    const uas = await udpUa();
    const call = client.invite(uas.user);
    const ok = (await client.nextResponse(call.callId, 200, 'INVITE')).msg as SipResponse;
    client.ack(ok, call);
    await uas.nextRequest('ACK', call.callId);

    const invite = uas.requests('INVITE', call.callId)[0]!.msg as SipRequest;
    uas.byeAsCallee(invite);
    const bye = await client.nextRequest('BYE', call.callId);
    const req = bye.msg as SipRequest;
    assert.equal(req.requestUri()?.user, client.user, 'addressed to the client\'s Contact');
    assert.equal(req.routes()?.length ?? 0, 0, 'Kamailio\'s and both of the SBC\'s Route entries popped');
    assert.equal(req.topVia()!.transport, 'WS', 'the SBC\'s own WS Via on top');
    assert.equal(req.to()?.params.get('tag'), call.fromTag);
    const byeOk = await uas.nextResponse(call.callId, 200, 'BYE');
    assert.equal(byeOk.msg.vias()!.length, 1, 'the 200 came back through Kamailio to the UAS');
  });

  test('CANCEL before 180: held until the 180, then 487 to the client', async () => {
    const client = await wsClient();
    const uas = await udpUa();
    uas.mode = 'silent';
    const call = client.invite(uas.user);
    await uas.nextRequest('INVITE', call.callId);
    client.cancel(call);
    const cancelOk = await client.nextResponse(call.callId, 200, 'CANCEL');
    assert.equal(cancelOk.msg.vias()!.length, 1);
    await settle();
    assert.equal(uas.requests('CANCEL', call.callId).length, 0, 'no CANCEL reaches the UAS before it sent a provisional (RFC 3261 §9.1)');

    // Now the UAS rings: the held CANCEL follows, and it ends the INVITE with 487.
    uas.ringNow(call.callId);
    const cancel = await uas.nextRequest('CANCEL', call.callId);
    const inviteBranch = uas.requests('INVITE', call.callId)[0]!.msg.topVia()!.params.get('branch');
    assert.equal(cancel.msg.topVia()!.params.get('branch'), inviteBranch, 'CANCEL matches the INVITE it cancels');
    const terminated = await client.nextResponse(call.callId, 487, 'INVITE');
    assert.equal(terminated.msg.vias()!.length, 1);
    await uas.nextRequest('ACK', call.callId);
    assert.equal(client.peer.count((r) => r.msg.kind === 'response' && r.msg.callId === call.callId && r.msg.status === 200 && r.msg.cseq()?.method === 'INVITE'), 0, 'never answered');
  });

  test('CANCEL after 180: the UAS sees the CANCEL, the client gets 487', async () => {
    const client = await wsClient();
    const uas = await udpUa();
    uas.mode = 'ring';
    const call = client.invite(uas.user);
    await client.nextResponse(call.callId, 180, 'INVITE');
    client.cancel(call);
    await client.nextResponse(call.callId, 200, 'CANCEL');
    const cancel = await uas.nextRequest('CANCEL', call.callId);
    const invite = uas.requests('INVITE', call.callId)[0]!.msg;
    assert.equal(cancel.msg.topVia()!.params.get('branch'), invite.topVia()!.params.get('branch'));
    const terminated = await client.nextResponse(call.callId, 487, 'INVITE');
    assert.equal(toTag(terminated.msg as SipResponse), uas.tags.get(call.callId), 'the UAS\'s own 487');
    await uas.nextRequest('ACK', call.callId);
    assert.equal(uas.requests('CANCEL', call.callId).length, 1);
  });
});
