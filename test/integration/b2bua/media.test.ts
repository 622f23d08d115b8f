/**
 * B2BUA mode with a real rtpengine: each leg's SDP goes through the engine,
 * WebRTC on the WebSocket leg and RTP/AVP on the inside leg, in both call
 * directions and with a late offer (no SDP in the INVITE, offer in the 200,
 * answer in the ACK). One engine session per call, keyed by the A leg's
 * Call-ID, gone after BYE.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { NgClient, replyCalls } from '../../../src/media/rtpengine/index.js';
import type { SipRequest, SipResponse } from '../../../src/sip/message.js';
import { startRtpengine, type RunningRtpengine } from '../../helpers/rtpengine.js';
import { rand, request, response } from '../../helpers/sip-peer.js';
import { chromeAnswer, chromeOffer, plainRtpSdp } from '../media/sdp-samples.js';
import { assertNoDialogs, contactUri, contactUser, isReq, isRes, registerThrough, startB2buaBed, wsUser, type B2buaBed } from './harness.js';

function assertWebrtc(sdp: string, what: string): void {
  for (const needle of ['UDP/TLS/RTP/SAVPF', 'a=fingerprint:', 'a=candidate:', 'a=ice-ufrag:', 'a=rtcp-mux']) {
    assert.ok(sdp.includes(needle), `${what} lacks ${needle}:\n${sdp}`);
  }
}

function assertPlain(sdp: string, what: string): void {
  assert.match(sdp, /m=audio \d+ RTP\/AVP /, `${what} is RTP/AVP:\n${sdp}`);
  for (const needle of ['a=fingerprint:', 'a=candidate:', 'a=ice-ufrag:', 'SAVPF']) assert.ok(!sdp.includes(needle), `${what} still has ${needle}`);
}

describe('B2BUA media through rtpengine', () => {
  let engine: RunningRtpengine;
  let bed: B2buaBed;
  let ng: NgClient;
  const open: Array<{ close(): void }> = [];

  before(async () => {
    engine = await startRtpengine();
    bed = await startB2buaBed({ media: { mode: 'rtpengine', rtpengine: { engines: [{ url: engine.udpUrl, weight: 1 }], timeoutMs: 500, tries: 2 } } });
    ng = new NgClient(engine.udpUrl, { timeoutMs: 1000, tries: 2 });
  });
  after(async () => {
    for (const p of open) p.close();
    ng?.close();
    await bed?.stop();
    await engine?.stop();
  });

  const engineCalls = async (): Promise<string[]> => replyCalls(await ng.request('list'));
  async function waitGone(callId: string): Promise<void> {
    const deadline = Date.now() + 3000;
    while ((await engineCalls()).includes(callId) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.ok(!(await engineCalls()).includes(callId), 'the engine session is deleted');
  }

  test('browser calls out: WebRTC offer becomes RTP/AVP on the B leg, the plain answer WebRTC; hold from inside; BYE deletes the session', async () => {
    bed.backend.mode = 'answer';
    bed.backend.answerSdp = (req) => (req.body.length > 0 ? plainRtpSdp(40_000) : undefined);
    const client = await wsUser(bed.wsUrl);
    open.push(client.peer);
    const callId = rand(8);
    const before = bed.backend.peer.received.length;
    client.peer.send(request({ method: 'INVITE', uri: 'sip:bob@example.com', sentBy: client.host, viaTransport: 'WS', callId, fromTag: 'br', contact: client.contact, body: chromeOffer() }));
    const ok = (await client.peer.next(isRes(200, 'INVITE', callId))).msg as SipResponse;
    const inv = bed.backend.peer.received.slice(before).find(isReq('INVITE'))!.msg as SipRequest;
    assertPlain(inv.body.toString(), 'offer on the B leg');
    assertWebrtc(ok.body.toString(), 'answer on the A leg');
    assert.match(ok.body.toString(), /a=group:BUNDLE/, 'BUNDLE restored toward the browser');
    assert.ok(!ok.body.toString().includes(' 40000 '), 'the backend\'s media port is not exposed');
    const calls = await engineCalls();
    assert.ok(calls.includes(callId), 'one engine session under the A-leg Call-ID');
    assert.ok(!calls.includes(inv.callId!), 'none under the B-leg Call-ID');
    const aTag = ok.to()!.params.get('tag')!;
    client.peer.send(request({ method: 'ACK', uri: contactUri(ok), sentBy: client.host, viaTransport: 'WS', callId, fromTag: 'br', toTag: aTag }));
    await bed.backend.peer.next(isReq('ACK', inv.callId));

    // Hold from the backend: a plain offer reaches the browser as WebRTC; its answer returns as RTP/AVP.
    bed.backend.answerSdp = undefined;
    bed.backend.send(request({ method: 'INVITE', uri: contactUri(inv), sentBy: `127.0.0.1:${bed.backend.port}`, callId: inv.callId, from: '<sip:bob@example.com>', fromTag: bed.backend.tag, to: '<sip:alice@example.com>', toTag: inv.from()!.params.get('tag')!, cseq: 20, contact: bed.backend.contact, body: plainRtpSdp(40_000).replace('a=sendrecv', 'a=sendonly') }));
    const hold = (await client.peer.next(isReq('INVITE', callId))).msg as SipRequest;
    assertWebrtc(hold.body.toString(), 'hold offer toward the browser');
    assert.match(hold.body.toString(), /a=(sendonly|recvonly)/);
    client.peer.send(response(hold, 200, 'OK', { headers: [`Contact: ${client.contact}`], body: chromeAnswer().replace('a=sendrecv', 'a=recvonly') }));
    const holdOk = (await bed.backend.peer.next(isRes(200, 'INVITE', inv.callId))).msg as SipResponse;
    assertPlain(holdOk.body.toString(), 'hold answer toward the backend');
    bed.backend.send(request({ method: 'ACK', uri: contactUri(inv), sentBy: `127.0.0.1:${bed.backend.port}`, callId: inv.callId, from: '<sip:bob@example.com>', fromTag: bed.backend.tag, to: '<sip:alice@example.com>', toTag: inv.from()!.params.get('tag')!, cseq: 20 }));
    await client.peer.next(isReq('ACK', callId));

    client.peer.send(request({ method: 'BYE', uri: contactUri(ok), sentBy: client.host, viaTransport: 'WS', callId, fromTag: 'br', toTag: aTag, cseq: 2 }));
    await bed.backend.peer.next(isReq('BYE', inv.callId));
    await waitGone(callId);
    await assertNoDialogs(bed, [contactUser(ok), contactUser(inv)]);
  });

  test('late offer: no SDP in the INVITE, the backend\'s plain offer reaches the browser as WebRTC in the 200, the browser\'s answer in the ACK reaches the backend as RTP/AVP', async () => {
    bed.backend.mode = 'answer';
    bed.backend.answerSdp = () => plainRtpSdp(40_010);
    const client = await wsUser(bed.wsUrl);
    open.push(client.peer);
    const callId = rand(8);
    const before = bed.backend.peer.received.length;
    client.peer.send(request({ method: 'INVITE', uri: 'sip:bob@example.com', sentBy: client.host, viaTransport: 'WS', callId, fromTag: 'lo', contact: client.contact }));
    const ok = (await client.peer.next(isRes(200, 'INVITE', callId))).msg as SipResponse;
    const inv = bed.backend.peer.received.slice(before).find(isReq('INVITE'))!.msg as SipRequest;
    assert.equal(inv.body.length, 0, 'no SDP on the B leg either');
    assertWebrtc(ok.body.toString(), 'offer in the 200 toward the browser');
    assert.equal(bed.backend.peer.count(isReq('ACK', inv.callId)), 0, 'B waits for the answer: no ACK before the browser\'s');
    const aTag = ok.to()!.params.get('tag')!;
    client.peer.send(request({ method: 'ACK', uri: contactUri(ok), sentBy: client.host, viaTransport: 'WS', callId, fromTag: 'lo', toTag: aTag, body: chromeAnswer() }));
    const ack = (await bed.backend.peer.next(isReq('ACK', inv.callId))).msg as SipRequest;
    assertPlain(ack.body.toString(), 'answer in the ACK toward the backend');
    assert.equal(ack.cseq()!.seq, inv.cseq()!.seq);

    bed.backend.send(request({ method: 'BYE', uri: contactUri(inv), sentBy: `127.0.0.1:${bed.backend.port}`, callId: inv.callId, from: '<sip:bob@example.com>', fromTag: bed.backend.tag, to: '<sip:alice@example.com>', toTag: inv.from()!.params.get('tag')!, cseq: 1 }));
    const bye = (await client.peer.next(isReq('BYE', callId))).msg as SipRequest;
    client.peer.send(response(bye, 200, 'OK'));
    await waitGone(callId);
    await assertNoDialogs(bed, [contactUser(ok), contactUser(inv)]);
  });

  test('backend calls the browser: the plain offer arrives as WebRTC, the browser\'s answer returns as RTP/AVP', async () => {
    const client = await wsUser(bed.wsUrl);
    open.push(client.peer);
    const aor = 'm' + rand(3);
    const path = await registerThrough(client, bed.backend, aor);
    const callId = rand(8);
    bed.backend.send(request({ method: 'INVITE', uri: `sip:${client.user}@${client.host};transport=ws`, sentBy: `127.0.0.1:${bed.backend.port}`, callId, fromTag: 'fs', from: '<sip:bob@example.com>', to: `<sip:${aor}@example.com>`, contact: bed.backend.contact, headers: [`Route: ${path}`], body: plainRtpSdp(40_020) }));
    const inv = (await client.peer.next(isReq('INVITE'))).msg as SipRequest;
    assertWebrtc(inv.body.toString(), 'offer toward the browser');
    client.peer.send(response(inv, 200, 'OK', { toTag: 'brw', headers: [`Contact: ${client.contact}`], body: chromeAnswer() }));
    const ok = (await bed.backend.peer.next(isRes(200, 'INVITE', callId))).msg as SipResponse;
    assertPlain(ok.body.toString(), 'answer toward the backend');
    assert.ok((await engineCalls()).includes(callId), 'the engine session is keyed by the A leg (the backend\'s) Call-ID');
    bed.backend.send(request({ method: 'ACK', uri: contactUri(ok), sentBy: `127.0.0.1:${bed.backend.port}`, callId, fromTag: 'fs', from: '<sip:bob@example.com>', to: `<sip:${aor}@example.com>`, toTag: ok.to()!.params.get('tag')! }));
    await client.peer.next(isReq('ACK', inv.callId));
    client.peer.send(request({ method: 'BYE', uri: contactUri(inv), sentBy: client.host, viaTransport: 'WS', callId: inv.callId, from: `<sip:${aor}@example.com>`, fromTag: 'brw', to: '<sip:bob@example.com>', toTag: inv.from()!.params.get('tag')!, cseq: 1 }));
    await bed.backend.peer.next(isReq('BYE', callId));
    await client.peer.next(isRes(200, 'BYE', inv.callId));
    await waitGone(callId);
    await assertNoDialogs(bed, [contactUser(ok), contactUser(inv)]);
  });
});
