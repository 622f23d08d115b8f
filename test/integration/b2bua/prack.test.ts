/**
 * B2BUA mode and reliable provisionals (RFC 3262): the backend's 183 with
 * 100rel reaches the caller with an RSeq of the A leg; the caller's PRACK
 * reaches the backend with RAck in B-leg terms (its RSeq, the B INVITE's
 * CSeq). Over UDP the A-leg 183 is resent until the PRACK.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { SipRequest, SipResponse } from '../../../src/sip/message.js';
import { rand, request, SipPeer } from '../../helpers/sip-peer.js';
import { assertNoDialogs, contactUri, contactUser, isReq, isRes, startB2buaBed, type B2buaBed } from './harness.js';

describe('B2BUA PRACK / 100rel', () => {
  let bed: B2buaBed;
  let phone: SipPeer;

  before(async () => {
    bed = await startB2buaBed();
    phone = await SipPeer.udp();
  });
  after(async () => {
    phone?.close();
    await bed?.stop();
  });

  test('183 with 100rel: RSeq of our own on A, RAck translated on B; the 183 is resent over UDP until the PRACK', async () => {
    bed.backend.mode = 'reliable';
    const callId = rand(8);
    const fromTag = 'ph' + rand(3);
    const sentBy = `127.0.0.1:${phone.address.port}`;
    const before = bed.backend.peer.received.length;
    phone.send(request({ method: 'INVITE', uri: 'sip:bob@example.com', sentBy, callId, fromTag, cseq: 10, contact: `<sip:phone@${sentBy}>`, headers: ['Supported: 100rel'] }), bed.udp);
    const progress = (await phone.next(isRes(183, 'INVITE', callId))).msg as SipResponse;
    const bInvite = bed.backend.peer.received.slice(before).find(isReq('INVITE'))!.msg as SipRequest;
    assert.ok(bInvite.optionTags('supported').includes('100rel'), 'Supported: 100rel goes on to the backend');
    assert.ok(progress.optionTags('require').includes('100rel'), 'the 183 toward the caller is reliable');
    const aRseq = Number(progress.headers.get('rseq'));
    assert.ok(Number.isInteger(aRseq) && aRseq > 0, `an RSeq on the A leg: ${progress.headers.get('rseq')}`);
    const aTag = progress.to()!.params.get('tag')!;
    assert.notEqual(aTag, bed.backend.tag);

    // Without a PRACK the 183 is retransmitted (T1 = 100 ms here).
    await phone.next((r) => isRes(183, 'INVITE', callId)(r), 2000);
    phone.send(request({ method: 'PRACK', uri: contactUri(progress), sentBy, callId, fromTag, toTag: aTag, cseq: 11, headers: [`RAck: ${aRseq} 10 INVITE`] }), bed.udp);
    const prack = (await bed.backend.peer.next(isReq('PRACK', bInvite.callId))).msg as SipRequest;
    assert.equal(prack.headers.get('rack'), `7 ${bInvite.cseq()!.seq} INVITE`, 'RAck names the backend\'s RSeq and the B INVITE\'s CSeq');
    assert.equal(prack.cseq()!.seq, bInvite.cseq()!.seq + 1);
    assert.equal(prack.to()!.params.get('tag'), bed.backend.tag);
    assert.equal(prack.uri, `sip:backend@127.0.0.1:${bed.backend.port}`, 'PRACK to the Contact of the 183');
    await phone.next(isRes(200, 'PRACK', callId));
    const resent = phone.count(isRes(183, 'INVITE', callId));
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(phone.count(isRes(183, 'INVITE', callId)), resent, 'no more 183 once PRACKed');

    bed.backend.answer(bInvite.callId!);
    const ok = (await phone.next(isRes(200, 'INVITE', callId))).msg as SipResponse;
    assert.equal(ok.to()!.params.get('tag'), aTag);
    phone.send(request({ method: 'ACK', uri: contactUri(ok), sentBy, callId, fromTag, toTag: aTag, cseq: 10 }), bed.udp);
    await bed.backend.peer.next(isReq('ACK', bInvite.callId));
    phone.send(request({ method: 'BYE', uri: contactUri(ok), sentBy, callId, fromTag, toTag: aTag, cseq: 12 }), bed.udp);
    const bye = (await bed.backend.peer.next(isReq('BYE', bInvite.callId))).msg as SipRequest;
    assert.equal(bye.cseq()!.seq, bInvite.cseq()!.seq + 2);
    await phone.next(isRes(200, 'BYE', callId));
    await assertNoDialogs(bed, [contactUser(ok), contactUser(bInvite)]);
  });

  test('a PRACK naming an RSeq we never sent gets 481', async () => {
    bed.backend.mode = 'reliable';
    const callId = rand(8);
    const sentBy = `127.0.0.1:${phone.address.port}`;
    const before = bed.backend.peer.received.length;
    const branch = `z9hG4bK${rand()}`;
    const invite = { method: 'INVITE', uri: 'sip:bob@example.com', sentBy, callId, fromTag: 'p2', branch, cseq: 1, contact: `<sip:phone@${sentBy}>`, headers: ['Supported: 100rel'] };
    phone.send(request(invite), bed.udp);
    const progress = (await phone.next(isRes(183, 'INVITE', callId))).msg as SipResponse;
    const aRseq = Number(progress.headers.get('rseq'));
    phone.send(request({ method: 'PRACK', uri: contactUri(progress), sentBy, callId, fromTag: 'p2', toTag: progress.to()!.params.get('tag')!, cseq: 2, headers: [`RAck: ${aRseq + 1000} 1 INVITE`] }), bed.udp);
    await phone.next(isRes(481, 'PRACK', callId));
    const bInvite = bed.backend.peer.received.slice(before).find(isReq('INVITE'))!.msg as SipRequest;
    assert.equal(bed.backend.peer.count(isReq('PRACK', bInvite.callId)), 0);
    phone.send(request({ ...invite, method: 'CANCEL', headers: [] }), bed.udp);
    await phone.next(isRes(487, 'INVITE', callId));
    await bed.backend.peer.next(isReq('CANCEL', bInvite.callId));
    await assertNoDialogs(bed, [contactUser(progress), contactUser(bInvite)]);
  });
});
