/**
 * B2BUA mode, basic calls: INVITE/100/180/200/ACK/BYE both ways with
 * distinct Call-ID, tags, CSeq spaces, Via and Contact per leg; CANCEL (also
 * before the backend said anything); failures mapped back. Assertions are on
 * what each far end saw, and on the state store after each call.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { SipRequest, SipResponse } from '../../../src/sip/message.js';
import { rand, request, response, SipPeer } from '../../helpers/sip-peer.js';
import {
  assertDialogsStored, assertNoDialogs, assertNoLeak, contactUri, contactUser, isReq, isRes, ourContact, registerThrough, startB2buaBed, wsUser, type B2buaBed,
} from './harness.js';

describe('B2BUA calls', () => {
  let bed: B2buaBed;
  const open: Array<{ close(): void }> = [];

  before(async () => {
    bed = await startB2buaBed();
  });
  after(async () => {
    for (const p of open) p.close();
    await bed?.stop();
  });

  test('call out from a WS client: two dialogs with their own Call-ID, tags, CSeq, Via and Contact; BYE from the client ends both', async () => {
    bed.backend.mode = 'answer';
    const client = await wsUser(bed.wsUrl);
    open.push(client.peer);
    const callId = rand(8);
    const fromTag = 'cl' + rand(3);
    const before = bed.backend.peer.received.length;
    client.peer.send(request({ method: 'INVITE', uri: 'sip:bob@example.com', sentBy: client.host, viaTransport: 'WS', callId, fromTag, cseq: 1, contact: client.contact }));

    // The backend rings at once: its 180 stands for our 100 Trying (RFC 3261 §17.2.1).
    const ringing = (await client.peer.next(isRes(180, 'INVITE', callId))).msg as SipResponse;
    const ok = (await client.peer.next(isRes(200, 'INVITE', callId))).msg as SipResponse;
    const aTag = ok.to()!.params.get('tag')!;
    assert.equal(ringing.to()!.params.get('tag'), aTag, 'one dialog toward the client from 180 to 200');
    assert.notEqual(aTag, bed.backend.tag, 'the client sees our tag, not the backend\'s');
    assert.equal(ok.vias()!.length, 1, 'only the client\'s own Via');
    assert.equal(ok.topVia()!.host, client.host);
    assert.equal(ok.from()!.params.get('tag'), fromTag);
    assert.match(contactUri(ok), ourContact(bed.sbc, 'ws'), 'our Contact on the WS leg');

    const inv = bed.backend.peer.received.slice(before).find(isReq('INVITE'));
    assert.ok(inv !== undefined, 'the backend got an INVITE');
    const bInvite = inv.msg as SipRequest;
    const bCallId = bInvite.callId!;
    assert.notEqual(bCallId, callId, 'a new Call-ID inside');
    assert.notEqual(bInvite.from()!.params.get('tag'), fromTag, 'a new From tag inside');
    assert.equal(bInvite.from()!.uri.user, 'alice', 'the caller identity is kept');
    assert.equal(bInvite.to()!.uri.user, 'bob');
    assert.equal(bInvite.uri, 'sip:bob@example.com');
    assert.equal(bInvite.vias()!.length, 1, 'only our Via inside');
    assert.equal(bInvite.topVia()!.host, bed.sbc.listener('udp').address, 'our Via inside');
    assert.ok(bed.sbc.ports('udp').includes(bInvite.topVia()!.port ?? 0), `our Via names a UDP port of ours (${bInvite.topVia()!.port})`);
    assert.equal(bInvite.maxForwards(), 69);
    assert.match(contactUri(bInvite), ourContact(bed.sbc, 'udp'), 'our Contact on the UDP leg');
    assert.notEqual(contactUser(bInvite), contactUser(ok), 'each leg has its own dialog key');
    const bSeq = bInvite.cseq()!.seq;
    await assertDialogsStored(bed, [contactUser(ok), contactUser(bInvite)]);

    client.peer.send(request({ method: 'ACK', uri: contactUri(ok), sentBy: client.host, viaTransport: 'WS', callId, fromTag, toTag: aTag, cseq: 1 }));
    const ack = (await bed.backend.peer.next(isReq('ACK', bCallId))).msg as SipRequest;
    assert.equal(ack.cseq()!.seq, bSeq, 'ACK with the B-leg INVITE\'s CSeq');
    assert.equal(ack.to()!.params.get('tag'), bed.backend.tag);
    assert.equal(ack.uri, `sip:backend@127.0.0.1:${bed.backend.port}`, 'ACK to the backend\'s Contact');

    client.peer.send(request({ method: 'BYE', uri: contactUri(ok), sentBy: client.host, viaTransport: 'WS', callId, fromTag, toTag: aTag, cseq: 2 }));
    const bye = (await bed.backend.peer.next(isReq('BYE', bCallId))).msg as SipRequest;
    await client.peer.next(isRes(200, 'BYE', callId));
    assert.equal(bye.cseq()!.seq, bSeq + 1, 'the B leg counts its own CSeq');
    assert.equal(bye.from()!.params.get('tag'), bInvite.from()!.params.get('tag'));
    assert.equal(bye.uri, `sip:backend@127.0.0.1:${bed.backend.port}`);

    assertNoLeak(bed.backend.peer.received.filter((r) => r.msg.callId === bCallId), { 'Call-ID': callId, 'From tag': fromTag, 'Via host': client.host, 'Contact user': client.user }, 'the backend');
    assertNoLeak(client.peer.received.filter((r) => r.msg.callId === callId), { 'Call-ID': bCallId, 'To tag': bed.backend.tag, 'Contact': `backend@`, 'From tag': bInvite.from()!.params.get('tag')! }, 'the client');
    await assertNoDialogs(bed, [contactUser(ok), contactUser(bInvite)]);
  });

  test('call in from the backend along the Path to a WS client; BYE from the backend ends both', async () => {
    bed.backend.mode = 'answer';
    const client = await wsUser(bed.wsUrl);
    open.push(client.peer);
    const aor = 'carol' + rand(3);
    const path = await registerThrough(client, bed.backend, aor);

    const callId = rand(8);
    const fromTag = 'be' + rand(3);
    bed.backend.send(request({
      method: 'INVITE', uri: `sip:${client.user}@${client.host};transport=ws`, sentBy: `127.0.0.1:${bed.backend.port}`, callId, fromTag, cseq: 101,
      from: '<sip:bob@example.com>', to: `<sip:${aor}@example.com>`, contact: bed.backend.contact, headers: [`Route: ${path}`],
    }));
    const inv = (await client.peer.next(isReq('INVITE'))).msg as SipRequest;
    const aCallId = inv.callId!;
    assert.notEqual(aCallId, callId);
    assert.notEqual(inv.from()!.params.get('tag'), fromTag);
    assert.equal(inv.uri, `sip:${client.user}@${client.host};transport=ws`, 'the registered Contact is the Request-URI');
    assert.equal(inv.routes()?.length ?? 0, 0, 'no Route toward the client');
    assert.equal(inv.vias()!.length, 1);
    assert.equal(inv.topVia()!.transport, 'WS');
    assert.match(contactUri(inv), ourContact(bed.sbc, 'ws'));
    assert.notEqual(inv.cseq()!.seq, 101);

    const clientTag = 'cl' + rand(3);
    client.peer.send(response(inv, 180, 'Ringing', { toTag: clientTag, headers: [`Contact: ${client.contact}`] }));
    const ringing = (await bed.backend.peer.next(isRes(180, 'INVITE', callId))).msg as SipResponse;
    client.peer.send(response(inv, 200, 'OK', { toTag: clientTag, headers: [`Contact: ${client.contact}`] }));
    const ok = (await bed.backend.peer.next(isRes(200, 'INVITE', callId))).msg as SipResponse;
    const ourTag = ok.to()!.params.get('tag')!;
    assert.equal(ringing.to()!.params.get('tag'), ourTag);
    assert.notEqual(ourTag, clientTag);
    assert.equal(ok.vias()!.length, 1);
    assert.match(contactUri(ok), ourContact(bed.sbc, 'udp'));
    await assertDialogsStored(bed, [contactUser(ok), contactUser(inv)]);

    bed.backend.send(request({ method: 'ACK', uri: contactUri(ok), sentBy: `127.0.0.1:${bed.backend.port}`, callId, from: '<sip:bob@example.com>', fromTag, to: `<sip:${aor}@example.com>`, toTag: ourTag, cseq: 101 }));
    const ack = (await client.peer.next(isReq('ACK', aCallId))).msg as SipRequest;
    assert.equal(ack.cseq()!.seq, inv.cseq()!.seq);
    assert.equal(ack.uri, `sip:${client.user}@${client.host};transport=ws`);

    bed.backend.send(request({ method: 'BYE', uri: contactUri(ok), sentBy: `127.0.0.1:${bed.backend.port}`, callId, from: '<sip:bob@example.com>', fromTag, to: `<sip:${aor}@example.com>`, toTag: ourTag, cseq: 102 }));
    await bed.backend.peer.next(isRes(200, 'BYE', callId));
    const bye = (await client.peer.next(isReq('BYE', aCallId))).msg as SipRequest;
    assert.equal(bye.cseq()!.seq, inv.cseq()!.seq + 1);
    client.peer.send(response(bye, 200, 'OK'));

    assertNoLeak(client.peer.received.filter((r) => r.msg.callId === aCallId), { 'Call-ID': callId, 'From tag': fromTag, 'backend port': String(bed.backend.port) }, 'the client');
    assertNoLeak(bed.backend.peer.received.filter((r) => r.msg.callId === callId), { 'Call-ID': aCallId, 'To tag': clientTag, 'Via host': client.host }, 'the backend');
    await assertNoDialogs(bed, [contactUser(ok), contactUser(inv)]);
  });

  test('call out from a UDP phone, answered, BYE from the backend reaches the phone at its source address', async () => {
    bed.backend.mode = 'answer';
    const phone = await SipPeer.udp();
    open.push(phone);
    const callId = rand(8);
    const fromTag = 'ph' + rand(3);
    const sentBy = `127.0.0.1:${phone.address.port}`;
    const before = bed.backend.peer.received.length;
    phone.send(request({ method: 'INVITE', uri: 'sip:bob@example.com', sentBy, callId, fromTag, contact: `<sip:phone@192.0.2.7:5060>` }), bed.udp);
    const ok = (await phone.next(isRes(200, 'INVITE', callId))).msg as SipResponse;
    const bInvite = bed.backend.peer.received.slice(before).find(isReq('INVITE'))!.msg as SipRequest;
    const bCallId = bInvite.callId!;
    const aTag = ok.to()!.params.get('tag')!;
    phone.send(request({ method: 'ACK', uri: contactUri(ok), sentBy, callId, fromTag, toTag: aTag }), bed.udp);
    await bed.backend.peer.next(isReq('ACK', bCallId));
    bed.backend.send(request({ method: 'BYE', uri: contactUri(bInvite), sentBy: `127.0.0.1:${bed.backend.port}`, callId: bCallId, from: '<sip:bob@example.com>', fromTag: bed.backend.tag, to: '<sip:alice@example.com>', toTag: bInvite.from()!.params.get('tag')!, cseq: 1 }));
    const bye = await phone.next(isReq('BYE', callId));
    assert.equal(bye.from.port, bed.udp.port, 'the BYE comes from the SBC');
    assert.equal((bye.msg as SipRequest).uri, 'sip:phone@192.0.2.7:5060', 'Request-URI is the phone\'s Contact, sent to its source address');
    phone.send(response(bye.msg as SipRequest, 200, 'OK'), bed.udp);
    await bed.backend.peer.next(isRes(200, 'BYE', bCallId));
    await assertNoDialogs(bed, [contactUser(ok), contactUser(bInvite)]);
  });

  test('CANCEL after 180: 200 to the CANCEL, CANCEL on the B leg, 487 to the client', async () => {
    bed.backend.mode = 'ring';
    const client = await wsUser(bed.wsUrl);
    open.push(client.peer);
    const callId = rand(8);
    const branch = `z9hG4bK${rand()}`;
    const fromTag = 'cl' + rand(3);
    const invite = { method: 'INVITE', uri: 'sip:bob@example.com', sentBy: client.host, viaTransport: 'WS', callId, fromTag, branch, contact: client.contact };
    const before = bed.backend.peer.received.length;
    client.peer.send(request(invite));
    const ringing = (await client.peer.next(isRes(180, 'INVITE', callId))).msg as SipResponse;
    const bInvite = bed.backend.peer.received.slice(before).find(isReq('INVITE'))!.msg as SipRequest;
    client.peer.send(request({ ...invite, method: 'CANCEL' }));
    await client.peer.next(isRes(200, 'CANCEL', callId));
    const cancel = (await bed.backend.peer.next(isReq('CANCEL', bInvite.callId))).msg as SipRequest;
    assert.equal(cancel.topVia()!.params.get('branch'), bInvite.topVia()!.params.get('branch'), 'CANCEL on the B INVITE\'s branch');
    assert.equal(cancel.cseq()!.seq, bInvite.cseq()!.seq);
    const final = (await client.peer.next((r) => r.msg.kind === 'response' && r.msg.callId === callId && r.msg.status >= 300)).msg as SipResponse;
    assert.equal(final.status, 487);
    assert.equal(final.to()!.params.get('tag'), ringing.to()!.params.get('tag'));
    await bed.backend.peer.next(isReq('ACK', bInvite.callId));
    await assertNoDialogs(bed, [contactUser(ringing), contactUser(bInvite)]);
  });

  test('CANCEL before the backend said anything: 487 to the client at once; the B leg is cancelled once it rings', async () => {
    bed.backend.mode = 'silent';
    const client = await wsUser(bed.wsUrl);
    open.push(client.peer);
    const callId = rand(8);
    const branch = `z9hG4bK${rand()}`;
    const invite = { method: 'INVITE', uri: 'sip:bob@example.com', sentBy: client.host, viaTransport: 'WS', callId, fromTag: 'c1', branch, contact: client.contact };
    const before = bed.backend.peer.received.length;
    client.peer.send(request(invite));
    const inv = (await bed.backend.peer.next((r) => isReq('INVITE')(r) && bed.backend.peer.received.indexOf(r) >= before)).msg as SipRequest;
    client.peer.send(request({ ...invite, method: 'CANCEL' }));
    await client.peer.next(isRes(200, 'CANCEL', callId));
    await client.peer.next(isRes(487, 'INVITE', callId));
    assert.equal(bed.backend.peer.count(isReq('CANCEL', inv.callId)), 0, 'no CANCEL before a provisional (RFC 3261 §9.1)');
    // Now the backend rings: the held CANCEL goes out, and the 487 is ACKed.
    bed.backend.send(response(inv, 180, 'Ringing', { toTag: 'late' }), bed.udp);
    const cancel = (await bed.backend.peer.next(isReq('CANCEL', inv.callId))).msg as SipRequest;
    bed.backend.send(response(cancel, 200, 'OK', { toTag: 'late' }));
    bed.backend.send(response(inv, 487, 'Request Terminated', { toTag: 'late' }));
    await bed.backend.peer.next(isReq('ACK', inv.callId));
    assert.equal(client.peer.count((r) => r.msg.kind === 'response' && r.msg.callId === callId && r.msg.status === 180), 0, 'nothing after the 487 reaches the client');
    await assertNoDialogs(bed, [contactUser(inv)]);
  });

  test('CANCEL racing the 200: the backend\'s late 200 is ACKed and BYEd, the client keeps its 487', async () => {
    bed.backend.mode = 'silent';
    const client = await wsUser(bed.wsUrl);
    open.push(client.peer);
    const callId = rand(8);
    const branch = `z9hG4bK${rand()}`;
    const invite = { method: 'INVITE', uri: 'sip:bob@example.com', sentBy: client.host, viaTransport: 'WS', callId, fromTag: 'c2', branch, contact: client.contact };
    const before = bed.backend.peer.received.length;
    client.peer.send(request(invite));
    const inv = (await bed.backend.peer.next((r) => isReq('INVITE')(r) && bed.backend.peer.received.indexOf(r) >= before)).msg as SipRequest;
    bed.backend.send(response(inv, 180, 'Ringing', { toTag: 'race' }));
    await client.peer.next(isRes(180, 'INVITE', callId));
    client.peer.send(request({ ...invite, method: 'CANCEL' }));
    await client.peer.next(isRes(487, 'INVITE', callId));
    await bed.backend.peer.next(isReq('CANCEL', inv.callId));
    // The backend answered before it saw the CANCEL.
    bed.backend.send(response(inv, 200, 'OK', { toTag: 'race', headers: [`Contact: ${bed.backend.contact}`] }));
    const ack = (await bed.backend.peer.next(isReq('ACK', inv.callId))).msg as SipRequest;
    assert.equal(ack.to()!.params.get('tag'), 'race');
    const bye = (await bed.backend.peer.next(isReq('BYE', inv.callId))).msg as SipRequest;
    assert.equal(bye.uri, `sip:backend@127.0.0.1:${bed.backend.port}`);
    assert.equal(client.peer.count((r) => r.msg.kind === 'response' && r.msg.callId === callId && r.msg.status === 200 && r.msg.cseq()?.method === 'INVITE'), 0, 'the client never sees the 200');
    await assertNoDialogs(bed, [contactUser(inv)]);
  });

  test('failures are mapped back: 486 from the backend reaches the client with our tag; nothing is left', async () => {
    bed.backend.mode = 'busy';
    const client = await wsUser(bed.wsUrl);
    open.push(client.peer);
    const callId = rand(8);
    const before = bed.backend.peer.received.length;
    client.peer.send(request({ method: 'INVITE', uri: 'sip:bob@example.com', sentBy: client.host, viaTransport: 'WS', callId, fromTag: 'c3', contact: client.contact }));
    const busy = (await client.peer.next(isRes(486, 'INVITE', callId))).msg as SipResponse;
    assert.notEqual(busy.to()!.params.get('tag'), bed.backend.tag);
    const inv = bed.backend.peer.received.slice(before).find(isReq('INVITE'))!.msg as SipRequest;
    await bed.backend.peer.next(isReq('ACK', inv.callId));
    await assertNoDialogs(bed, [contactUser(inv)]);
  });
});
