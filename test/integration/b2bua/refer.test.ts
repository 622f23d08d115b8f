/**
 * B2BUA mode and call transfer (RFC 3515 REFER, RFC 3891 Replaces): REFER
 * and its NOTIFYs cross the B2BUA in each leg's terms; a Replaces (in
 * Refer-To or in an INVITE) that names one of our dialogs is rewritten to the
 * other leg's Call-ID and tags, and a Refer-To naming our Contact becomes the
 * real party behind it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { SipRequest, SipResponse } from '../../../src/sip/message.js';
import { rand, request, response } from '../../helpers/sip-peer.js';
import { assertNoDialogs, contactUri, contactUser, isReq, isRes, registerThrough, startB2buaBed, wsUser, type B2buaBed, type WsUser } from './harness.js';

interface Established {
  callId: string;
  fromTag: string;
  aTag: string;
  aContact: string;
  bInvite: SipRequest;
}

describe('B2BUA REFER / NOTIFY / Replaces', () => {
  let bed: B2buaBed;
  let client: WsUser;
  let aor: string;
  let path: string;

  before(async () => {
    bed = await startB2buaBed();
    client = await wsUser(bed.wsUrl);
    aor = 'alice' + rand(3);
    path = await registerThrough(client, bed.backend, aor);
  });
  after(async () => {
    client?.peer.close();
    await bed?.stop();
  });

  async function callOut(): Promise<Established> {
    bed.backend.mode = 'answer';
    const callId = rand(8);
    const fromTag = 'cl' + rand(3);
    const before = bed.backend.peer.received.length;
    client.peer.send(request({ method: 'INVITE', uri: 'sip:bob@example.com', sentBy: client.host, viaTransport: 'WS', callId, fromTag, from: `<sip:${aor}@example.com>`, contact: client.contact }));
    const ok = (await client.peer.next(isRes(200, 'INVITE', callId))).msg as SipResponse;
    const bInvite = (await bed.backend.peer.next((r) => isReq('INVITE')(r) && bed.backend.peer.received.indexOf(r) >= before)).msg as SipRequest;
    const aTag = ok.to()!.params.get('tag')!;
    client.peer.send(request({ method: 'ACK', uri: contactUri(ok), sentBy: client.host, viaTransport: 'WS', callId, fromTag, from: `<sip:${aor}@example.com>`, toTag: aTag }));
    await bed.backend.peer.next(isReq('ACK', bInvite.callId));
    return { callId, fromTag, aTag, aContact: contactUri(ok), bInvite };
  }

  const inCall = (c: Established, method: string, cseq: number, headers: string[], body?: string): string =>
    request({ method, uri: c.aContact, sentBy: client.host, viaTransport: 'WS', callId: c.callId, fromTag: c.fromTag, from: `<sip:${aor}@example.com>`, toTag: c.aTag, cseq, contact: client.contact, headers, ...(body !== undefined ? { body } : {}) });
  const fromBackend = (c: Established, method: string, cseq: number, headers: string[], body?: string): string =>
    request({ method, uri: contactUri(c.bInvite), sentBy: `127.0.0.1:${bed.backend.port}`, callId: c.bInvite.callId, from: '<sip:bob@example.com>', fromTag: bed.backend.tag, to: `<sip:${aor}@example.com>`, toTag: c.bInvite.from()!.params.get('tag')!, cseq, contact: bed.backend.contact, headers, ...(body !== undefined ? { body } : {}) });

  async function hangUp(c: Established, cseq: number): Promise<void> {
    client.peer.send(inCall(c, 'BYE', cseq, []));
    await client.peer.next(isRes(200, 'BYE', c.callId));
    await bed.backend.peer.next(isReq('BYE', c.bInvite.callId));
  }

  test('blind transfer: REFER and the NOTIFYs of its subscription cross in each leg\'s terms', async () => {
    const c = await callOut();
    client.peer.send(inCall(c, 'REFER', 2, ['Refer-To: <sip:carol@example.com>', `Referred-By: <sip:${aor}@example.com>`]));
    const refer = (await bed.backend.peer.next(isReq('REFER', c.bInvite.callId))).msg as SipRequest;
    assert.equal(refer.headers.get('refer-to'), '<sip:carol@example.com>');
    assert.equal(refer.headers.get('referred-by'), `<sip:${aor}@example.com>`);
    assert.equal(refer.cseq()!.seq, c.bInvite.cseq()!.seq + 1);
    assert.equal(contactUser(refer), contactUser(c.bInvite));
    bed.backend.send(response(refer, 202, 'Accepted', { headers: [`Contact: ${bed.backend.contact}`] }), bed.udp);
    await client.peer.next(isRes(202, 'REFER', c.callId));

    bed.backend.send(fromBackend(c, 'NOTIFY', 30, ['Event: refer', 'Subscription-State: active;expires=60', 'Content-Type: message/sipfrag;version=2.0'], 'SIP/2.0 100 Trying\r\n'));
    const notify = (await client.peer.next(isReq('NOTIFY', c.callId))).msg as SipRequest;
    assert.equal(notify.headers.get('event'), 'refer');
    assert.equal(notify.headers.get('subscription-state'), 'active;expires=60');
    assert.equal(notify.body.toString(), 'SIP/2.0 100 Trying\r\n');
    assert.equal(notify.from()!.params.get('tag'), c.aTag);
    client.peer.send(response(notify, 200, 'OK'));
    await bed.backend.peer.next(isRes(200, 'NOTIFY', c.bInvite.callId));
    bed.backend.send(fromBackend(c, 'NOTIFY', 31, ['Event: refer', 'Subscription-State: terminated;reason=noresource', 'Content-Type: message/sipfrag;version=2.0'], 'SIP/2.0 200 OK\r\n'));
    const done = (await client.peer.next(isReq('NOTIFY', c.callId))).msg as SipRequest;
    assert.equal(done.cseq()!.seq, notify.cseq()!.seq + 1);
    client.peer.send(response(done, 200, 'OK'));
    await bed.backend.peer.next(isRes(200, 'NOTIFY', c.bInvite.callId));
    await hangUp(c, 3);
    await assertNoDialogs(bed, [c.aContact.replace(/^sip:([^@]+)@.*/, '$1'), contactUser(c.bInvite)]);
  });

  test('attended transfer: Refer-To with Replaces naming our other call is rewritten to that call\'s B leg', async () => {
    const first = await callOut();
    const second = await callOut();
    const replaces = encodeURIComponent(`${second.callId};to-tag=${second.aTag};from-tag=${second.fromTag}`);
    client.peer.send(inCall(first, 'REFER', 2, [`Refer-To: <${second.aContact}?Replaces=${replaces}>`]));
    const referRec = await bed.backend.peer.next(isReq('REFER', first.bInvite.callId));
    const refer = referRec.msg as SipRequest;
    const referTo = refer.headers.get('refer-to') ?? '';
    const m = /^<([^?]+)\?Replaces=([^>]+)>$/.exec(referTo);
    assert.ok(m !== null, `Refer-To with Replaces: ${referTo}`);
    assert.equal(m[1], `sip:backend@127.0.0.1:${bed.backend.port}`, 'our Contact became the party behind it');
    const translated = decodeURIComponent(m[2]!);
    assert.equal(translated, `${second.bInvite.callId};to-tag=${bed.backend.tag};from-tag=${second.bInvite.from()!.params.get('tag')}`, 'the second call\'s B-leg ids');
    for (const text of [second.callId, second.aTag, second.fromTag, first.callId, client.host]) assert.ok(!referRec.raw.includes(text), `no A-leg id (${text}) in the REFER:\n${referRec.raw}`);
    bed.backend.send(response(refer, 202, 'Accepted'), bed.udp);
    await client.peer.next(isRes(202, 'REFER', first.callId));

    // The backend replaces the second call toward the browser: its INVITE names the B leg, the browser sees its own.
    const callId = rand(8);
    bed.backend.send(request({
      method: 'INVITE', uri: `sip:${client.user}@${client.host};transport=ws`, sentBy: `127.0.0.1:${bed.backend.port}`, callId, fromTag: 'tr', from: '<sip:carol@example.com>', to: `<sip:${aor}@example.com>`, contact: bed.backend.contact,
      headers: [`Route: ${path}`, `Replaces: ${second.bInvite.callId};to-tag=${second.bInvite.from()!.params.get('tag')};from-tag=${bed.backend.tag}`],
    }));
    const inv = (await client.peer.next((r) => isReq('INVITE')(r) && r.msg.headers.has('replaces'))).msg as SipRequest;
    assert.equal(inv.headers.get('replaces'), `${second.callId};to-tag=${second.fromTag};from-tag=${second.aTag}`);
    client.peer.send(response(inv, 603, 'Decline', { toTag: 'x' }));
    await bed.backend.peer.next(isRes(603, 'INVITE', callId));

    await hangUp(first, 3);
    await hangUp(second, 2);
    await assertNoDialogs(bed, [first.aContact.replace(/^sip:([^@]+)@.*/, '$1'), second.aContact.replace(/^sip:([^@]+)@.*/, '$1'), contactUser(first.bInvite), contactUser(second.bInvite)]);
  });
});
