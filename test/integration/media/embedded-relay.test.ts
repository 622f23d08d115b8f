/**
 * The embedded media relay end to end through a real SBC (media.mode
 * embedded, no rtpengine anywhere): an in-process werift peer plays the
 * browser on WebSocket, the plain-RTP test UAS (which echoes RTP) plays the
 * backend. Packets both ways, DTMF from the browser as telephone-event,
 * hold/resume, cleanup, hostile input; proxy and B2BUA mode.
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { after, before, describe, test } from 'node:test';
import type { SipResponse } from '../../../src/sip/message.js';
import { RtpUas } from '../../helpers/rtp-uas.js';
import { relayCounts, type RelayCounts } from '../../helpers/embedded-relay.js';
import { startSbc, type TestSbc } from '../../helpers/sbc.js';
import { rand, request, SipPeer, uacRouteSet, type Received } from '../../helpers/sip-peer.js';
import { WeriftBrowser } from '../../helpers/werift-browser.js';
import { plainRtpSdp } from './sdp-samples.js';

const PORT_MIN = 20_000 + 2 * Math.floor(Math.random() * 10_000);
const PORT_MAX = PORT_MIN + 399;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

function embeddedConfig(uasPort: number, mode: 'proxy' | 'b2bua', extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    mode,
    backends: { default: { probe: { intervalSeconds: 0 }, targets: [{ uri: `sip:127.0.0.1:${uasPort};transport=udp` }] } },
    media: { mode: 'embedded', embedded: { address: '127.0.0.1', ports: `${PORT_MIN}-${PORT_MAX}`, ...extra } },
    timers: { t1Ms: 100 },
  };
}

interface Call {
  ws: SipPeer;
  browser: WeriftBrowser;
  callId: string;
  ok: Received;
  answer: string;
  cseq: number;
}

/** A browser-shaped call: werift offer over WS, 200 with our answer, ACK. */
async function browserCall(sbc: TestSbc, ws: SipPeer, browser = new WeriftBrowser()): Promise<Call> {
  const callId = rand(8);
  const offer = await browser.offer();
  ws.send(request({ method: 'INVITE', uri: 'sip:echo@example.com', sentBy: 'b.invalid', viaTransport: 'WS', callId, fromTag: 'br', contact: '<sip:u1@b.invalid;transport=ws>', body: offer }));
  const ok = await ws.next((r) => r.msg.kind === 'response' && r.msg.callId === callId && r.msg.status >= 200, 8000);
  assert.equal((ok.msg as SipResponse).status, 200, `INVITE answered ${(ok.msg as SipResponse).status}`);
  const answer = ok.msg.body.toString();
  await browser.accept(answer);
  sendInDialog(ws, ok, callId, 'ACK', 1);
  return { ws, browser, callId, ok, answer, cseq: 1 };
}

function sendInDialog(ws: SipPeer, ok: Received, callId: string, method: string, cseq: number, body?: string): void {
  const res = ok.msg as SipResponse;
  const contact = /<([^>]+)>/.exec(res.headers.get('contact') ?? '')?.[1] ?? 'sip:echo@127.0.0.1';
  const toTag = res.to()?.params.get('tag') ?? '';
  ws.send(request({ method, uri: contact, sentBy: 'b.invalid', viaTransport: 'WS', callId, fromTag: 'br', toTag, cseq, headers: uacRouteSet(res).map((r) => `Route: ${r}`), ...(body !== undefined ? { body } : {}) }));
}

async function hangUp(call: Call): Promise<void> {
  sendInDialog(call.ws, call.ok, call.callId, 'BYE', ++call.cseq);
  await call.ws.next((r) => r.msg.kind === 'response' && r.msg.callId === call.callId && (r.msg as SipResponse).cseq()?.method === 'BYE', 5000);
  await call.browser.close();
}

async function metric(sbc: TestSbc, pattern: RegExp): Promise<number> {
  const text = await (await fetch(`${sbc.adminUrl}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) if (pattern.test(line)) sum += Number(line.split(' ').pop());
  return sum;
}

/** What the relay holds, as GET /api/engines shows it (with workers, summed over them). */
function embeddedOf(sbc: TestSbc): Promise<RelayCounts> {
  return relayCounts(sbc.adminUrl);
}

function udpHandles(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'UDPWrap').length;
}

for (const mode of ['proxy', 'b2bua'] as const) {
  describe(`embedded media relay (${mode} mode)`, () => {
    let uas: RtpUas;
    let sbc: TestSbc;
    let ws: SipPeer;

    before(async () => {
      uas = await RtpUas.start();
      sbc = await startSbc(embeddedConfig(uas.peer.address.port, mode));
      ws = await SipPeer.ws(`ws://127.0.0.1:${sbc.listener('ws').boundPort}`);
    });
    after(async () => {
      ws.close();
      uas.close();
      await sbc.stop();
    });

    test('browser ⇄ plain RTP: each side sees only our address, audio both ways, DTMF arrives as telephone-event, hold and resume, BYE frees the session', async () => {
      const call = await browserCall(sbc, ws);
      const engines = (await (await fetch(`${sbc.adminUrl}/api/engines`)).json()) as { active: string; engines: Array<{ name: string; sessions: number }> };
      assert.equal(engines.active, 'embedded');
      assert.equal(engines.engines[0]?.sessions, 1);
      const dialogs = (await (await fetch(`${sbc.adminUrl}/api/dialogs`)).json()) as { dialogs: Array<{ media: { relay: string; path: unknown[] } }>; mediaSessions: Array<{ callId: string; caller: string; callee: string }> };
      assert.equal(dialogs.mediaSessions.length, 1);
      assert.match(dialogs.mediaSessions[0]!.caller, /^webrtc:\d+$/);
      assert.match(dialogs.mediaSessions[0]!.callee, /^plain:\d+$/);
      if (mode === 'b2bua') assert.equal(dialogs.dialogs[0]?.media.relay, 'embedded');

      // The answer toward the browser: WebRTC, one candidate at our address in our range.
      const answer = call.answer;
      for (const needle of ['UDP/TLS/RTP/SAVPF', 'a=fingerprint:', 'a=ice-ufrag:', 'a=rtcp-mux', 'a=group:BUNDLE', 'a=ice-lite']) assert.ok(answer.includes(needle), `answer lacks ${needle}:\n${answer}`);
      const candidates = answer.split('\r\n').filter((l) => l.startsWith('a=candidate:'));
      assert.equal(candidates.length, 1, answer);
      const candPort = Number(candidates[0]!.split(' ')[5]);
      assert.equal(candidates[0]!.split(' ')[4], '127.0.0.1');
      assert.ok(candPort >= PORT_MIN && candPort <= PORT_MAX, `candidate port ${candPort} in the range`);
      assert.match(answer, /a=rtpmap:0 PCMU\/8000/);
      assert.match(answer, /a=rtpmap:126 telephone-event\/8000/);
      assert.ok(!/telephone-event\/48000/.test(answer), 'only the telephone-event that matches PCMU');

      // The offer toward the backend: RTP/AVP at our address, nothing of the browser's.
      const rtpCall = uas.calls().at(-1)!;
      const offer = rtpCall.remoteSdps[0]!;
      assert.match(offer, /m=audio (\d+) RTP\/AVP /);
      const offerPort = Number(/m=audio (\d+)/.exec(offer)![1]);
      assert.ok(offerPort >= PORT_MIN && offerPort <= PORT_MAX && offerPort % 2 === 0, `plain port ${offerPort} even, in the range`);
      for (const needle of ['a=fingerprint', 'a=candidate', 'a=ice-', 'SAVPF']) assert.ok(!offer.includes(needle), `plain offer has ${needle}`);
      assert.match(offer, /c=IN IP4 127\.0\.0\.1/);

      await call.browser.connected();
      await call.browser.sendAudio(50, 0);
      await until('echoed audio back at the browser', () => call.browser.totalReceived(0) >= 45);
      assert.ok(rtpCall.media.audioPacketsReceived >= 45, `backend received ${rtpCall.media.audioPacketsReceived}`);
      assert.equal(call.browser.ssrcs.size, 1, 'one SSRC toward the browser');

      // DTMF: the browser's telephone-event (PT 126) reaches the plain side as the PT it answered.
      await call.browser.sendDtmf(5, 126);
      await call.browser.sendDtmf(9, 126);
      await until('digits at the backend', () => rtpCall.media.digits === '59');
      assert.ok(rtpCall.media.telephoneEventPts.has(126));

      // Hold from the browser: sendonly reaches the backend, its recvonly comes back; then resume.
      const holdOffer = await call.browser.offer('sendonly');
      sendInDialog(ws, call.ok, call.callId, 'INVITE', ++call.cseq, holdOffer);
      const holdOk = await ws.next((r) => r.msg.kind === 'response' && r.msg.callId === call.callId && r.msg.status === 200 && (r.msg as SipResponse).cseq()?.seq === call.cseq, 5000);
      assert.match(rtpCall.remoteSdps.at(-1)!, /a=sendonly/);
      assert.match(holdOk.msg.body.toString(), /a=recvonly/);
      await call.browser.accept(holdOk.msg.body.toString());
      sendInDialog(ws, holdOk, call.callId, 'ACK', call.cseq);
      const resumeOffer = await call.browser.offer('sendrecv');
      sendInDialog(ws, call.ok, call.callId, 'INVITE', ++call.cseq, resumeOffer);
      const resumeOk = await ws.next((r) => r.msg.kind === 'response' && r.msg.callId === call.callId && r.msg.status === 200 && (r.msg as SipResponse).cseq()?.seq === call.cseq, 5000);
      assert.match(resumeOk.msg.body.toString(), /a=sendrecv/);
      await call.browser.accept(resumeOk.msg.body.toString());
      sendInDialog(ws, resumeOk, call.callId, 'ACK', call.cseq);
      const before = call.browser.totalReceived(0);
      await call.browser.sendAudio(20, 0);
      await until('audio after resume', () => call.browser.totalReceived(0) >= before + 15);
      assert.equal(call.browser.ssrcs.size, 1, 'still one SSRC toward the browser after the re-INVITEs');

      await hangUp(call);
      await until('session freed', async () => (await embeddedOf(sbc)).sessions === 0);
      assert.ok((await metric(sbc, /^sbc_media_embedded_packets_total\{side="webrtc",direction="in"\}/)) >= 70);
      assert.ok((await metric(sbc, /^sbc_media_embedded_packets_total\{side="plain",direction="in"\}/)) >= 60);
      assert.ok((await metric(sbc, /^sbc_media_embedded_dtmf_events_total\{side="webrtc"\}/)) >= 2);
    });

    test('hostile input: malformed SDP gets 400, no common codec 488, junk and foreign datagrams on a media port are counted and dropped', async () => {
      const bad = rand(8);
      ws.send(request({ method: 'INVITE', uri: 'sip:echo@example.com', sentBy: 'b.invalid', viaTransport: 'WS', callId: bad, fromTag: 'br', body: 'v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nm=audio x\r\n' }));
      const badRes = await ws.next((r) => r.msg.kind === 'response' && r.msg.callId === bad && r.msg.status >= 300, 5000);
      assert.equal((badRes.msg as SipResponse).status, 400);

      const g729 = rand(8);
      ws.send(request({ method: 'INVITE', uri: 'sip:echo@example.com', sentBy: 'b.invalid', viaTransport: 'UDP', callId: g729, fromTag: 'br', body: plainRtpSdp(40_000, '18').replace('a=rtpmap:0 PCMU/8000', 'a=rtpmap:18 G729/8000') }));
      const g729Res = await ws.next((r) => r.msg.kind === 'response' && r.msg.callId === g729 && r.msg.status >= 300, 5000);
      assert.equal((g729Res.msg as SipResponse).status, 488);
      assert.equal(uas.calls().filter((c) => c.callId === bad || c.callId === g729).length, 0, 'nothing reached the backend');

      const call = await browserCall(sbc, ws);
      await call.browser.connected();
      const rtpCall = uas.calls().at(-1)!;
      const plainPort = Number(/m=audio (\d+)/.exec(rtpCall.remoteSdps[0]!)![1]);
      await call.browser.sendAudio(5, 0);
      await until('latched', () => rtpCall.media.audioPacketsReceived >= 3);
      const junkBefore = await metric(sbc, /^sbc_media_embedded_dropped_packets_total\{side="plain",reason="malformed"\}/);
      const foreignBefore = await metric(sbc, /^sbc_media_embedded_dropped_packets_total\{side="plain",reason="foreign-source"\}/);
      const attacker = createSocket('udp4');
      await new Promise<void>((r) => attacker.bind(0, '127.0.0.1', () => r()));
      const rtp = Buffer.alloc(172);
      rtp[0] = 0x80;
      // 500 of each, in bursts the socket buffers can hold.
      for (let i = 0; i < 500; i++) {
        attacker.send(Buffer.from([i & 0xff, 1, 2]), plainPort, '127.0.0.1');
        attacker.send(rtp, plainPort, '127.0.0.1');
        attacker.send(Buffer.alloc(1200, i & 0xff), candidatePort(call.answer), '127.0.0.1');
        if (i % 25 === 24) await sleep(5);
      }
      await sleep(300);
      attacker.close();
      const received = call.browser.totalReceived(0);
      await until('SBC metrics counted the junk', async () => (await metric(sbc, /^sbc_media_embedded_dropped_packets_total\{side="plain",reason="malformed"\}/)) >= junkBefore + 400, 4000).catch(async (err: unknown) => {
        const text = await (await fetch(`${sbc.adminUrl}/metrics`)).text();
        throw new Error(`${(err as Error).message}; ${text.split('\n').filter((l) => l.startsWith('sbc_media_embedded')).join('; ')}`);
      });
      assert.ok((await metric(sbc, /^sbc_media_embedded_dropped_packets_total\{side="plain",reason="foreign-source"\}/)) >= foreignBefore + 400, 'RTP from another source was dropped');
      assert.ok(call.browser.totalReceived(0) - received < 5, 'the foreign RTP did not reach the browser');
      // The call still works.
      await call.browser.sendAudio(20, 0);
      await until('audio after the flood', () => call.browser.totalReceived(0) >= received + 15);
      await hangUp(call);
      await until('session freed', async () => (await embeddedOf(sbc)).sessions === 0);
    });

    test('cleanup: sockets, peers and port pairs return to their starting count after 10 calls', async () => {
      await sleep(200);
      const start = { udp: udpHandles(), ...(await embeddedOf(sbc)) };
      for (let i = 0; i < 10; i++) {
        const call = await browserCall(sbc, ws);
        await call.browser.connected();
        await call.browser.sendAudio(3, 0);
        await hangUp(call);
      }
      await until('sessions closed', async () => { const now = await embeddedOf(sbc); return now.sessions === 0 && now.legsOpen === 0; });
      await until('UDP handles back', () => udpHandles() <= start.udp, 5000);
      const end = await embeddedOf(sbc);
      assert.equal(end.portPairsFree, start.portPairsFree);
      assert.equal(end.portPairsFree, end.portPairsTotal);
    });
  });
}

describe('embedded media relay limits', () => {
  test('above media.embedded.maxSessions a call gets 503 and the refusal is counted', async () => {
    const uas = await RtpUas.start();
    const sbc = await startSbc(embeddedConfig(uas.peer.address.port, 'proxy', { maxSessions: 1 }));
    const ws = await SipPeer.ws(`ws://127.0.0.1:${sbc.listener('ws').boundPort}`);
    try {
      const first = await browserCall(sbc, ws);
      const second = new WeriftBrowser();
      const callId = rand(8);
      ws.send(request({ method: 'INVITE', uri: 'sip:echo@example.com', sentBy: 'b.invalid', viaTransport: 'WS', callId, fromTag: 'br', body: await second.offer() }));
      const res = await ws.next((r) => r.msg.kind === 'response' && r.msg.callId === callId && r.msg.status >= 300, 5000);
      assert.equal((res.msg as SipResponse).status, 503);
      assert.equal(await metric(sbc, /^sbc_media_embedded_failures_total\{reason="sessions-limit"\}/), 1);
      await second.close();
      await hangUp(first);
    } finally {
      ws.close();
      uas.close();
      await sbc.stop();
    }
  });

  test('a session with no RTP for inactivitySeconds is freed and counted', async () => {
    const uas = await RtpUas.start();
    const sbc = await startSbc(embeddedConfig(uas.peer.address.port, 'proxy', { inactivitySeconds: 1 }));
    const ws = await SipPeer.ws(`ws://127.0.0.1:${sbc.listener('ws').boundPort}`);
    try {
      const call = await browserCall(sbc, ws);
      await call.browser.connected();
      await until('inactive session freed', async () => (await embeddedOf(sbc)).sessions === 0, 6000);
      assert.equal(await metric(sbc, /^sbc_media_embedded_failures_total\{reason="inactivity"\}/), 1);
      await hangUp(call);
    } finally {
      ws.close();
      uas.close();
      await sbc.stop();
    }
  });
});

function candidatePort(sdp: string): number {
  const line = sdp.split('\r\n').find((l) => l.startsWith('a=candidate:'));
  return Number(line?.split(' ')[5]);
}
