/**
 * Offer/answer through a real rtpengine on calls that cross the SBC: a
 * browser-shaped client on WebSocket, a plain-RTP UAS behind. Asserts on the
 * SDPs each end received and on the engine's own session list.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { NgClient, replyCalls } from '../../../src/media/rtpengine/index.js';
import type { SipRequest } from '../../../src/sip/message.js';
import { startRtpengine, type RunningRtpengine } from '../../helpers/rtpengine.js';
import { startSbc, type TestSbc } from '../../helpers/sbc.js';
import { rand, request, response, SipPeer, uacRouteSet, uasRouteSet, type Received } from '../../helpers/sip-peer.js';
import { chromeAnswer, chromeOffer, plainRtpSdp } from './sdp-samples.js';

const isReq = (m: string, callId: string) => (r: Received) => r.msg.kind === 'request' && r.msg.method === m && r.msg.callId === callId;

function assertWebrtc(sdp: string, what: string): void {
  for (const needle of ['UDP/TLS/RTP/SAVPF', 'a=fingerprint:', 'a=candidate:', 'a=ice-ufrag:', 'a=rtcp-mux', 'a=group:BUNDLE']) {
    assert.ok(sdp.includes(needle), `${what} lacks ${needle}:\n${sdp}`);
  }
}

function assertPlain(sdp: string, what: string): void {
  assert.match(sdp, /m=audio \d+ RTP\/AVP /, `${what} is RTP/AVP`);
  for (const needle of ['a=fingerprint:', 'a=candidate:', 'a=ice-ufrag:', 'SAVPF']) assert.ok(!sdp.includes(needle), `${what} still has ${needle}`);
}

describe('media through rtpengine', () => {
  let engine: RunningRtpengine;
  let sbc: TestSbc;
  let uas: SipPeer;
  let ng: NgClient;

  before(async () => {
    engine = await startRtpengine();
    uas = await SipPeer.udp();
    uas.onMessage = (r, p) => {
      if (r.msg.kind === 'request' && r.msg.method === 'OPTIONS') p.send(response(r.msg, 200, 'OK', { toTag: 'o' }), r.from);
    };
    sbc = await startSbc({
      backends: { default: { algorithm: 'round-robin', probe: { method: 'OPTIONS', intervalSeconds: 5, failuresToDown: 3, successesToUp: 1 }, targets: [{ uri: `sip:127.0.0.1:${uas.address.port};transport=udp`, weight: 1, priority: 0 }] } },
      media: { mode: 'rtpengine', rtpengine: { engines: [{ url: engine.udpUrl, weight: 1 }], timeoutMs: 300, tries: 2 } },
      timers: { t1Ms: 50 },
    });
    ng = new NgClient(engine.udpUrl, { timeoutMs: 1000, tries: 2 });
  });
  after(async () => {
    ng.close();
    uas.close();
    await sbc.stop();
    await engine.stop();
  });

  test('browser call: WebRTC offer becomes RTP/AVP inside, the plain answer becomes WebRTC with BUNDLE; re-INVITE from inside; BYE deletes the session', async () => {
    const ws = await SipPeer.ws(`ws://127.0.0.1:${sbc.listener('ws').boundPort}`);
    try {
      const callId = rand(8);
      ws.send(request({ method: 'INVITE', uri: 'sip:bob@example.com', sentBy: 'b.invalid', viaTransport: 'WS', callId, fromTag: 'br', contact: '<sip:u1@b.invalid;transport=ws>', body: chromeOffer() }));
      const inv = await uas.next(isReq('INVITE', callId));
      assertPlain(inv.msg.body.toString(), 'offer toward the backend');
      assert.match(inv.msg.body.toString(), /c=IN IP4 127\.0\.0\.1/);
      uas.send(response(inv.msg as SipRequest, 200, 'OK', { toTag: 'fs', headers: [`Contact: <sip:fs@127.0.0.1:${uas.address.port}>`], body: plainRtpSdp(40_000) }), inv.from);
      const ok = await ws.nextResponse(200, 'INVITE');
      assertWebrtc(ok.msg.body.toString(), 'answer toward the browser');
      assert.match(ok.msg.body.toString(), /a=setup:passive/);
      assert.ok(!ok.msg.body.toString().includes(' 40000 '), 'the backend media port is not exposed');
      assert.ok(replyCalls(await ng.request('list')).includes(callId), 'the engine holds the call');
      ws.send(request({ method: 'ACK', uri: `sip:fs@127.0.0.1:${uas.address.port}`, sentBy: 'b.invalid', viaTransport: 'WS', callId, fromTag: 'br', toTag: 'fs', headers: uacRouteSet(ok.msg).map((r) => `Route: ${r}`) }));
      await uas.next(isReq('ACK', callId));

      // Hold from the backend: its plain offer reaches the browser as WebRTC; the browser's answer goes back as RTP/AVP.
      uas.send(request({ method: 'INVITE', uri: 'sip:u1@b.invalid;transport=ws', sentBy: `127.0.0.1:${uas.address.port}`, callId, from: '<sip:bob@example.com>', fromTag: 'fs', to: '<sip:alice@example.com>', toTag: 'br', cseq: 10, headers: uasRouteSet(inv.msg).map((r) => `Route: ${r}`), body: plainRtpSdp(40_000).replace('a=sendrecv', 'a=sendonly') }), { address: '127.0.0.1', port: sbc.listener('udp').boundPort });
      const reinvite = await ws.nextRequest('INVITE');
      assertWebrtc(reinvite.msg.body.toString(), 'offer toward the browser');
      assert.match(reinvite.msg.body.toString(), /a=(sendonly|recvonly)/);
      ws.send(response(reinvite.msg as SipRequest, 200, 'OK', { body: chromeAnswer().replace('a=sendrecv', 'a=recvonly') }));
      const reOk = await uas.next((r) => r.msg.kind === 'response' && r.msg.status === 200 && r.msg.cseq()?.seq === 10);
      assertPlain(reOk.msg.body.toString(), 'answer toward the backend');

      ws.send(request({ method: 'BYE', uri: `sip:fs@127.0.0.1:${uas.address.port}`, sentBy: 'b.invalid', viaTransport: 'WS', callId, fromTag: 'br', toTag: 'fs', cseq: 2, headers: uacRouteSet(ok.msg).map((r) => `Route: ${r}`) }));
      const bye = await uas.next(isReq('BYE', callId));
      uas.send(response(bye.msg as SipRequest, 200, 'OK'), bye.from);
      await ws.nextResponse(200, 'BYE');
      const deadline = Date.now() + 3000;
      while (replyCalls(await ng.request('list')).includes(callId) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      assert.ok(!replyCalls(await ng.request('list')).includes(callId), 'BYE deleted the engine session');
      const metrics = await (await fetch(`${sbc.adminUrl}/metrics`)).text();
      assert.match(metrics, /sbc_media_engine_requests_total\{[^}]*command="offer"[^}]*result="ok"[^}]*\} [1-9]/);
      assert.match(metrics, /sbc_media_engine_latency_seconds_count\{[^}]*command="answer"[^}]*\} [1-9]/);
      const engines = (await (await fetch(`${sbc.adminUrl}/api/engines`)).json()) as { active: string; engines: Array<{ url: string }> };
      assert.equal(engines.active, 'rtpengine');
      assert.equal(engines.engines[0]?.url, engine.udpUrl);
    } finally {
      ws.close();
    }
  });

  test('a failed call (486) and a browser that disconnects both free the engine session', async () => {
    const ws = await SipPeer.ws(`ws://127.0.0.1:${sbc.listener('ws').boundPort}`);
    try {
      const busy = rand(8);
      ws.send(request({ method: 'INVITE', uri: 'sip:bob@example.com', sentBy: 'b.invalid', viaTransport: 'WS', callId: busy, fromTag: 'br', body: chromeOffer() }));
      const inv = await uas.next(isReq('INVITE', busy));
      uas.send(response(inv.msg as SipRequest, 486, 'Busy Here', { toTag: 'x' }), inv.from);
      await ws.nextResponse(486, 'INVITE');

      const dropped = rand(8);
      ws.send(request({ method: 'INVITE', uri: 'sip:bob@example.com', sentBy: 'b.invalid', viaTransport: 'WS', callId: dropped, fromTag: 'br', body: chromeOffer() }));
      const inv2 = await uas.next(isReq('INVITE', dropped));
      uas.send(response(inv2.msg as SipRequest, 200, 'OK', { toTag: 'y', body: plainRtpSdp(40_002) }), inv2.from);
      await ws.nextResponse(200, 'INVITE');
      ws.close();
      const deadline = Date.now() + 3000;
      const live = async (): Promise<string[]> => replyCalls(await ng.request('list'));
      while (((await live()).includes(busy) || (await live()).includes(dropped)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      assert.ok(!(await live()).includes(busy), 'final failure deleted the session');
      assert.ok(!(await live()).includes(dropped), 'the closed WebSocket deleted the session');
    } finally {
      ws.close();
    }
  });

  test('a plain phone ⇄ plain backend call is anchored too: neither side sees the other\'s media address', async () => {
    const phone = await SipPeer.udp();
    try {
      const callId = rand(8);
      phone.send(request({ method: 'INVITE', uri: 'sip:bob@example.com', sentBy: `127.0.0.1:${phone.address.port}`, callId, fromTag: 'ph', contact: `<sip:ph@127.0.0.1:${phone.address.port}>`, body: plainRtpSdp(41_000) }), { address: '127.0.0.1', port: sbc.listener('udp').boundPort });
      const inv = await uas.next(isReq('INVITE', callId));
      assertPlain(inv.msg.body.toString(), 'offer toward the backend');
      assert.ok(!inv.msg.body.toString().includes('41000'), 'the phone\'s media port is not shown to the backend');
      uas.send(response(inv.msg as SipRequest, 200, 'OK', { toTag: 'fs', headers: [`Contact: <sip:fs@127.0.0.1:${uas.address.port}>`], body: plainRtpSdp(42_000) }), inv.from);
      const ok = await phone.nextResponse(200, 'INVITE');
      assertPlain(ok.msg.body.toString(), 'answer toward the phone');
      assert.ok(!ok.msg.body.toString().includes('42000'), 'the backend\'s media port is not shown to the phone');
      assert.ok(replyCalls(await ng.request('list')).includes(callId));
      phone.send(request({ method: 'BYE', uri: `sip:fs@127.0.0.1:${uas.address.port}`, sentBy: `127.0.0.1:${phone.address.port}`, callId, fromTag: 'ph', toTag: 'fs', cseq: 2, headers: uacRouteSet(ok.msg).map((r) => `Route: ${r}`) }), { address: '127.0.0.1', port: sbc.listener('udp').boundPort });
      const bye = await uas.next(isReq('BYE', callId));
      uas.send(response(bye.msg as SipRequest, 200, 'OK'), bye.from);
      await phone.nextResponse(200, 'BYE');
      const deadline = Date.now() + 3000;
      while (replyCalls(await ng.request('list')).includes(callId) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      assert.ok(!replyCalls(await ng.request('list')).includes(callId), 'BYE deleted the engine session');
    } finally {
      phone.close();
    }
  });

  test('with the engine frozen the browser gets 503 at once and the backend is not blamed', async () => {
    await engine.pause();
    const ws = await SipPeer.ws(`ws://127.0.0.1:${sbc.listener('ws').boundPort}`);
    try {
      const callId = rand(8);
      ws.send(request({ method: 'INVITE', uri: 'sip:bob@example.com', sentBy: 'b.invalid', viaTransport: 'WS', callId, fromTag: 'br', body: chromeOffer() }));
      const final = await ws.next((r) => r.msg.kind === 'response' && r.msg.status >= 300, 5000);
      assert.equal((final.msg as { status: number }).status, 503);
      assert.equal(uas.count(isReq('INVITE', callId)), 0, 'nothing reached the backend');
      const backends = (await (await fetch(`${sbc.adminUrl}/api/backends`)).json()) as { groups: Array<{ targets: Array<{ up: boolean }> }> };
      assert.ok(backends.groups[0]!.targets[0]!.up, 'the backend stays up (GET /api/backends; with workers, up on every one)');
    } finally {
      engine.resume();
      ws.close();
    }
  });
});
