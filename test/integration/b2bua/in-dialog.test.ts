/**
 * B2BUA mode, requests inside a call: re-INVITE hold/unhold and UPDATE in
 * both directions, INFO and MESSAGE in the dialog, an out-of-dialog MESSAGE,
 * glare. Each side sees only its own leg's Call-ID, tags and CSeq numbers.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { SipRequest, SipResponse } from '../../../src/sip/message.js';
import { rand, request, response } from '../../helpers/sip-peer.js';
import { plainRtpSdp } from '../media/sdp-samples.js';
import {
  assertNoDialogs, assertNoLeak, contactUri, contactUser, isReq, isRes, startB2buaBed, wsUser, type B2buaBed, type WsUser,
} from './harness.js';

interface Established {
  client: WsUser;
  callId: string;
  fromTag: string;
  aTag: string;
  aContact: string;
  bInvite: SipRequest;
  bCallId: string;
  bOurTag: string;
}

describe('B2BUA in-dialog requests', () => {
  let bed: B2buaBed;
  const open: Array<{ close(): void }> = [];

  before(async () => {
    bed = await startB2buaBed();
    bed.backend.answerSdp = (req) => (req.body.length > 0 ? plainRtpSdp(41_000).replace('a=sendrecv', /a=sendonly/.test(req.body.toString()) ? 'a=recvonly' : 'a=sendrecv') : undefined);
  });
  after(async () => {
    for (const p of open) p.close();
    await bed?.stop();
  });

  /** A call from a WS client to the backend, ACKed. */
  async function establish(): Promise<Established> {
    bed.backend.mode = 'answer';
    const client = await wsUser(bed.wsUrl);
    open.push(client.peer);
    const callId = rand(8);
    const fromTag = 'cl' + rand(3);
    const before = bed.backend.peer.received.length;
    client.peer.send(request({ method: 'INVITE', uri: 'sip:bob@example.com', sentBy: client.host, viaTransport: 'WS', callId, fromTag, contact: client.contact, body: plainRtpSdp(42_000) }));
    const ok = (await client.peer.next(isRes(200, 'INVITE', callId))).msg as SipResponse;
    const bInvite = (await bed.backend.peer.next((r) => isReq('INVITE')(r) && bed.backend.peer.received.indexOf(r) >= before)).msg as SipRequest;
    assert.equal(bInvite.body.toString(), plainRtpSdp(42_000), 'SDP passes through unchanged without a media engine');
    const aTag = ok.to()!.params.get('tag')!;
    client.peer.send(request({ method: 'ACK', uri: contactUri(ok), sentBy: client.host, viaTransport: 'WS', callId, fromTag, toTag: aTag }));
    await bed.backend.peer.next(isReq('ACK', bInvite.callId));
    return { client, callId, fromTag, aTag, aContact: contactUri(ok), bInvite, bCallId: bInvite.callId!, bOurTag: bInvite.from()!.params.get('tag')! };
  }

  const fromClient = (c: Established, method: string, cseq: number, extra: { body?: string; headers?: string[] } = {}): string =>
    request({ method, uri: c.aContact, sentBy: c.client.host, viaTransport: 'WS', callId: c.callId, fromTag: c.fromTag, toTag: c.aTag, cseq, contact: c.client.contact, ...extra });
  const fromBackend = (c: Established, method: string, cseq: number, extra: { body?: string; headers?: string[] } = {}): string =>
    request({ method, uri: contactUri(c.bInvite), sentBy: `127.0.0.1:${bed.backend.port}`, callId: c.bCallId, from: '<sip:bob@example.com>', fromTag: bed.backend.tag, to: '<sip:alice@example.com>', toTag: c.bOurTag, cseq, contact: bed.backend.contact, ...extra });

  test('hold and unhold by re-INVITE from both sides, UPDATE both ways; CSeq spaces stay apart', async () => {
    const c = await establish();
    const bSeq = c.bInvite.cseq()!.seq;

    // Hold from the client.
    c.client.peer.send(fromClient(c, 'INVITE', 2, { body: plainRtpSdp(42_000).replace('a=sendrecv', 'a=sendonly') }));
    const hold = (await bed.backend.peer.next(isReq('INVITE', c.bCallId))).msg as SipRequest;
    assert.equal(hold.cseq()!.seq, bSeq + 1, 'the B leg\'s next CSeq');
    assert.equal(hold.to()!.params.get('tag'), bed.backend.tag);
    assert.equal(hold.from()!.params.get('tag'), c.bOurTag);
    assert.equal(hold.uri, `sip:backend@127.0.0.1:${bed.backend.port}`);
    assert.match(hold.body.toString(), /a=sendonly/);
    assert.equal(contactUser(hold), contactUser(c.bInvite), 'the same Contact on the B leg');
    const holdOk = (await c.client.peer.next(isRes(200, 'INVITE', c.callId))).msg as SipResponse;
    assert.equal(holdOk.cseq()!.seq, 2);
    assert.match(holdOk.body.toString(), /a=recvonly/);
    assert.equal(contactUri(holdOk), c.aContact);
    c.client.peer.send(fromClient(c, 'ACK', 2));
    const holdAck = (await bed.backend.peer.next(isReq('ACK', c.bCallId))).msg as SipRequest;
    assert.equal(holdAck.cseq()!.seq, bSeq + 1);

    // Unhold from the backend.
    bed.backend.send(fromBackend(c, 'INVITE', 50, { body: plainRtpSdp(41_000) }));
    const unhold = (await c.client.peer.next(isReq('INVITE', c.callId))).msg as SipRequest;
    const aSeq = unhold.cseq()!.seq;
    assert.notEqual(aSeq, 50, 'our own CSeq on the A leg');
    assert.equal(unhold.from()!.params.get('tag'), c.aTag);
    assert.equal(unhold.to()!.params.get('tag'), c.fromTag);
    assert.equal(unhold.uri, `sip:${c.client.user}@${c.client.host};transport=ws`);
    assert.match(unhold.body.toString(), /a=sendrecv/);
    c.client.peer.send(response(unhold, 200, 'OK', { headers: [`Contact: ${c.client.contact}`], body: plainRtpSdp(42_000) }));
    const unholdOk = (await bed.backend.peer.next(isRes(200, 'INVITE', c.bCallId))).msg as SipResponse;
    assert.equal(unholdOk.cseq()!.seq, 50);
    assert.equal(unholdOk.body.toString(), plainRtpSdp(42_000));
    bed.backend.send(fromBackend(c, 'ACK', 50));
    const unholdAck = (await c.client.peer.next(isReq('ACK', c.callId))).msg as SipRequest;
    assert.equal(unholdAck.cseq()!.seq, aSeq);

    // UPDATE both ways.
    c.client.peer.send(fromClient(c, 'UPDATE', 3, { body: plainRtpSdp(42_000) }));
    const upd = (await bed.backend.peer.next(isReq('UPDATE', c.bCallId))).msg as SipRequest;
    assert.equal(upd.cseq()!.seq, bSeq + 2);
    await c.client.peer.next(isRes(200, 'UPDATE', c.callId));
    bed.backend.send(fromBackend(c, 'UPDATE', 51));
    const upd2 = (await c.client.peer.next(isReq('UPDATE', c.callId))).msg as SipRequest;
    assert.equal(upd2.cseq()!.seq, aSeq + 1);
    c.client.peer.send(response(upd2, 200, 'OK', { headers: [`Contact: ${c.client.contact}`] }));
    const upd2Ok = (await bed.backend.peer.next(isRes(200, 'UPDATE', c.bCallId))).msg as SipResponse;
    assert.equal(upd2Ok.cseq()!.seq, 51);

    c.client.peer.send(fromClient(c, 'BYE', 4));
    await bed.backend.peer.next(isReq('BYE', c.bCallId));
    await c.client.peer.next(isRes(200, 'BYE', c.callId));
    assertNoLeak(bed.backend.peer.received.filter((r) => r.msg.callId === c.bCallId), { 'Call-ID': c.callId, 'From tag': c.fromTag, 'Via host': c.client.host }, 'the backend');
    assertNoLeak(c.client.peer.received.filter((r) => r.msg.callId === c.callId), { 'Call-ID': c.bCallId, 'tag': bed.backend.tag, 'port': String(bed.backend.port) }, 'the client');
    await assertNoDialogs(bed, [contactUser(c.bInvite), c.aContact.replace(/^sip:([^@]+)@.*/, '$1')]);
  });

  test('INFO from the client and MESSAGE from the backend inside the call; their answers map back', async () => {
    const c = await establish();
    c.client.peer.send(fromClient(c, 'INFO', 2, { headers: ['Content-Type: application/dtmf-relay'], body: 'Signal=5\r\nDuration=160\r\n' }));
    const info = (await bed.backend.peer.next(isReq('INFO', c.bCallId))).msg as SipRequest;
    assert.equal(info.body.toString(), 'Signal=5\r\nDuration=160\r\n');
    assert.equal(info.contentType, 'application/dtmf-relay');
    await c.client.peer.next(isRes(200, 'INFO', c.callId));

    bed.backend.send(fromBackend(c, 'MESSAGE', 7, { headers: ['Content-Type: text/plain'], body: 'hello' }));
    const msg = (await c.client.peer.next(isReq('MESSAGE', c.callId))).msg as SipRequest;
    assert.equal(msg.body.toString(), 'hello');
    assert.equal(msg.headers.get('contact'), undefined, 'no Contact on a MESSAGE');
    c.client.peer.send(response(msg, 202, 'Accepted'));
    const accepted = (await bed.backend.peer.next((r) => r.msg.kind === 'response' && r.msg.cseq()?.method === 'MESSAGE' && r.msg.callId === c.bCallId)).msg as SipResponse;
    assert.equal(accepted.status, 202);

    // A request out of order on the B leg is refused (RFC 3261 §12.2.2).
    bed.backend.send(fromBackend(c, 'INFO', 3));
    const refused = (await bed.backend.peer.next((r) => r.msg.kind === 'response' && r.msg.cseq()?.seq === 3 && r.msg.callId === c.bCallId)).msg as SipResponse;
    assert.equal(refused.status, 500);

    bed.backend.send(fromBackend(c, 'BYE', 8));
    const bye = (await c.client.peer.next(isReq('BYE', c.callId))).msg as SipRequest;
    c.client.peer.send(response(bye, 200, 'OK'));
    await bed.backend.peer.next(isRes(200, 'BYE', c.bCallId));
    // A request for the ended dialog is answered 481 (RFC 3261 §12.2.2).
    c.client.peer.send(fromClient(c, 'INFO', 9));
    await c.client.peer.next(isRes(481, 'INFO', c.callId));
    await assertNoDialogs(bed, [contactUser(c.bInvite)]);
  });

  test('re-INVITE glare: a second INVITE while one is pending gets 491', async () => {
    const c = await establish();
    bed.backend.answerSdp = undefined;
    // The backend's re-INVITE reaches the client, which holds its answer.
    bed.backend.send(fromBackend(c, 'INVITE', 60, { body: plainRtpSdp(41_000) }));
    const reinvite = (await c.client.peer.next(isReq('INVITE', c.callId))).msg as SipRequest;
    c.client.peer.send(fromClient(c, 'INVITE', 2, { body: plainRtpSdp(42_000) }));
    await c.client.peer.next(isRes(491, 'INVITE', c.callId));
    c.client.peer.send(response(reinvite, 200, 'OK', { headers: [`Contact: ${c.client.contact}`], body: plainRtpSdp(42_000) }));
    await bed.backend.peer.next(isRes(200, 'INVITE', c.bCallId));
    bed.backend.send(fromBackend(c, 'ACK', 60));
    await c.client.peer.next(isReq('ACK', c.callId));
    c.client.peer.send(fromClient(c, 'BYE', 3));
    await c.client.peer.next(isRes(200, 'BYE', c.callId));
    await bed.backend.peer.next(isReq('BYE', c.bCallId));
    await assertNoDialogs(bed, [contactUser(c.bInvite)]);
  });

  test('an out-of-dialog MESSAGE gets its own Call-ID and tags inside; the answer comes back', async () => {
    const client = await wsUser(bed.wsUrl);
    open.push(client.peer);
    const callId = rand(8);
    const before = bed.backend.peer.received.length;
    client.peer.send(request({ method: 'MESSAGE', uri: 'sip:bob@example.com', sentBy: client.host, viaTransport: 'WS', callId, fromTag: 'm1', headers: ['Content-Type: text/plain'], body: 'hi bob' }));
    const ok = (await client.peer.next(isRes(200, 'MESSAGE', callId))).msg as SipResponse;
    const msg = bed.backend.peer.received.slice(before).find(isReq('MESSAGE'))!.msg as SipRequest;
    assert.notEqual(msg.callId, callId);
    assert.notEqual(msg.from()!.params.get('tag'), 'm1');
    assert.equal(msg.vias()!.length, 1);
    assert.equal(msg.body.toString(), 'hi bob');
    assert.notEqual(ok.to()!.params.get('tag'), bed.backend.tag);
  });
});
