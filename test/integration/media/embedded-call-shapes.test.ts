/**
 * Call shapes through the embedded relay with a scripted backend (SipPeer +
 * its own RTP sockets): the inside offers (hold from the backend toward the
 * browser), 183 early media with forked answers (the last one wins), and a
 * late offer (offer in the 200, answer in the ACK) between plain phones. The
 * relay binds 0.0.0.0 and advertises 127.0.0.1 here (the wildcard path).
 */
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { after, before, describe, test } from 'node:test';
import type { SipRequest, SipResponse } from '../../../src/sip/message.js';
import { startSbc, type TestSbc } from '../../helpers/sbc.js';
import { rand, request, response, SipPeer, uacRouteSet, uasRouteSet, type Received } from '../../helpers/sip-peer.js';
import { WeriftBrowser } from '../../helpers/werift-browser.js';
import { plainRtpSdp } from './sdp-samples.js';
import { relayCounts } from '../../helpers/embedded-relay.js';

const PORT_MIN = 20_000 + 2 * Math.floor(Math.random() * 10_000);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

/** A plain RTP socket that counts what arrives and can send PCMU. */
class RtpSocket {
  readonly socket: Socket = createSocket('udp4');
  received = 0;
  #seq = 0;
  static async open(): Promise<RtpSocket> {
    const s = new RtpSocket();
    s.socket.on('message', (b) => {
      if (b.length >= 12 && (b[1]! & 0x7f) === 0) s.received++;
    });
    await new Promise<void>((r) => s.socket.bind(0, '127.0.0.1', () => r()));
    return s;
  }
  get port(): number {
    return this.socket.address().port;
  }
  async send(count: number, port: number): Promise<void> {
    for (let i = 0; i < count; i++) {
      const b = Buffer.alloc(172, 0xd5);
      b[0] = 0x80;
      b[1] = 0;
      b.writeUInt16BE(this.#seq++ & 0xffff, 2);
      b.writeUInt32BE(this.#seq * 160, 4);
      b.writeUInt32BE(0x1234abcd, 8);
      this.socket.send(b, port, '127.0.0.1');
      await sleep(20);
    }
  }
  close(): void {
    this.socket.close();
  }
}

const portOf = (sdp: string): number => Number(/m=audio (\d+)/.exec(sdp)![1]);
const isReq = (m: string, callId?: string) => (r: Received) => r.msg.kind === 'request' && r.msg.method === m && (callId === undefined || r.msg.callId === callId);

describe('embedded media relay call shapes (proxy mode)', () => {
  let backend: SipPeer;
  let sbc: TestSbc;

  before(async () => {
    backend = await SipPeer.udp();
    sbc = await startSbc({
      backends: { default: { probe: { intervalSeconds: 0 }, targets: [{ uri: `sip:127.0.0.1:${backend.address.port};transport=udp` }] } },
      media: { mode: 'embedded', embedded: { address: '0.0.0.0', advertise: '127.0.0.1', ports: `${PORT_MIN}-${PORT_MIN + 199}` } },
      timers: { t1Ms: 100 },
    });
  });
  after(async () => {
    backend.close();
    await sbc.stop();
  });

  test('the inside offers: hold from the backend reaches the browser as a WebRTC re-offer; RTP from the backend keeps one SSRC toward the browser', async () => {
    const ws = await SipPeer.ws(`ws://127.0.0.1:${sbc.listener('ws').boundPort}`);
    const browser = new WeriftBrowser();
    const rtp = await RtpSocket.open();
    try {
      const callId = rand(8);
      ws.send(request({ method: 'INVITE', uri: 'sip:bob@example.com', sentBy: 'b.invalid', viaTransport: 'WS', callId, fromTag: 'br', contact: '<sip:u1@b.invalid;transport=ws>', body: await browser.offer() }));
      const inv = await backend.next(isReq('INVITE', callId));
      const ourPlainPort = portOf(inv.msg.body.toString());
      backend.send(response(inv.msg as SipRequest, 200, 'OK', { toTag: 'fs', headers: [`Contact: <sip:fs@127.0.0.1:${backend.address.port}>`], body: plainRtpSdp(rtp.port) }), inv.from);
      const ok = await ws.nextResponse(200, 'INVITE');
      await browser.accept(ok.msg.body.toString());
      ws.send(request({ method: 'ACK', uri: `sip:fs@127.0.0.1:${backend.address.port}`, sentBy: 'b.invalid', viaTransport: 'WS', callId, fromTag: 'br', toTag: 'fs', headers: uacRouteSet(ok.msg).map((r) => `Route: ${r}`) }));
      await backend.next(isReq('ACK', callId));
      await browser.connected();
      await rtp.send(20, ourPlainPort);
      await until('backend RTP at the browser', () => browser.totalReceived(0) >= 15);

      backend.send(request({ method: 'INVITE', uri: 'sip:u1@b.invalid;transport=ws', sentBy: `127.0.0.1:${backend.address.port}`, callId, from: '<sip:bob@example.com>', fromTag: 'fs', to: '<sip:alice@example.com>', toTag: 'br', cseq: 10, headers: uasRouteSet(inv.msg).map((r) => `Route: ${r}`), body: plainRtpSdp(rtp.port).replace('a=sendrecv', 'a=sendonly') }), { address: '127.0.0.1', port: sbc.listener('udp').boundPort });
      const reinvite = await ws.nextRequest('INVITE');
      const reoffer = reinvite.msg.body.toString();
      assert.match(reoffer, /UDP\/TLS\/RTP\/SAVPF/);
      assert.match(reoffer, /a=sendonly/);
      const answer = await browser.answer(reoffer);
      assert.match(answer, /a=recvonly/);
      ws.send(response(reinvite.msg as SipRequest, 200, 'OK', { headers: ['Contact: <sip:u1@b.invalid;transport=ws>'], body: answer }));
      const reOk = await backend.next((r) => r.msg.kind === 'response' && r.msg.status === 200 && (r.msg as SipResponse).cseq()?.seq === 10);
      const plainAnswer = reOk.msg.body.toString();
      assert.match(plainAnswer, /m=audio \d+ RTP\/AVP 0/);
      assert.match(plainAnswer, /a=recvonly/);
      assert.equal(portOf(plainAnswer), ourPlainPort, 'the plain leg keeps its port across the re-INVITE');
      const before = browser.totalReceived(0);
      await rtp.send(20, ourPlainPort);
      await until('RTP after the hold re-offer', () => browser.totalReceived(0) >= before + 15);
      assert.equal(browser.ssrcs.size, 1);
      ws.send(request({ method: 'BYE', uri: `sip:fs@127.0.0.1:${backend.address.port}`, sentBy: 'b.invalid', viaTransport: 'WS', callId, fromTag: 'br', toTag: 'fs', cseq: 2, headers: uacRouteSet(ok.msg).map((r) => `Route: ${r}`) }));
      const bye = await backend.next(isReq('BYE', callId));
      backend.send(response(bye.msg as SipRequest, 200, 'OK'), bye.from);
      await ws.nextResponse(200, 'BYE');
      await until('session freed', async () => (await relayCounts(sbc.adminUrl)).sessions === 0);
    } finally {
      rtp.close();
      await browser.close();
      ws.close();
    }
  });

  test('183 early media from two forks, then 200: the browser keeps one answer and the last fork gets the media', async () => {
    const ws = await SipPeer.ws(`ws://127.0.0.1:${sbc.listener('ws').boundPort}`);
    const browser = new WeriftBrowser();
    const fork1 = await RtpSocket.open();
    const fork2 = await RtpSocket.open();
    try {
      const callId = rand(8);
      ws.send(request({ method: 'INVITE', uri: 'sip:bob@example.com', sentBy: 'b.invalid', viaTransport: 'WS', callId, fromTag: 'br', contact: '<sip:u1@b.invalid;transport=ws>', body: await browser.offer() }));
      const inv = await backend.next(isReq('INVITE', callId));
      backend.send(response(inv.msg as SipRequest, 183, 'Session Progress', { toTag: 'f1', body: plainRtpSdp(fork1.port) }), inv.from);
      const early1 = await ws.nextResponse(183, 'INVITE');
      await browser.accept(early1.msg.body.toString());
      await browser.connected();
      await browser.sendAudio(15, 0);
      await until('early media at fork 1', () => fork1.received >= 10);
      backend.send(response(inv.msg as SipRequest, 183, 'Session Progress', { toTag: 'f2', body: plainRtpSdp(fork2.port) }), inv.from);
      const early2 = await ws.next((r) => r.msg.kind === 'response' && (r.msg as SipResponse).status === 183 && (r.msg as SipResponse).to()?.params.get('tag') === 'f2');
      assert.equal(early2.msg.body.toString(), early1.msg.body.toString(), 'the browser is given the same answer');
      backend.send(response(inv.msg as SipRequest, 200, 'OK', { toTag: 'f2', headers: [`Contact: <sip:fs@127.0.0.1:${backend.address.port}>`], body: plainRtpSdp(fork2.port) }), inv.from);
      const ok = await ws.nextResponse(200, 'INVITE');
      ws.send(request({ method: 'ACK', uri: `sip:fs@127.0.0.1:${backend.address.port}`, sentBy: 'b.invalid', viaTransport: 'WS', callId, fromTag: 'br', toTag: 'f2', headers: uacRouteSet(ok.msg).map((r) => `Route: ${r}`) }));
      const atFork1 = fork1.received;
      await browser.sendAudio(15, 0);
      await until('media at the answering fork', () => fork2.received >= 10);
      assert.ok(fork1.received - atFork1 <= 2, 'the first fork gets no more media');
      ws.send(request({ method: 'BYE', uri: `sip:fs@127.0.0.1:${backend.address.port}`, sentBy: 'b.invalid', viaTransport: 'WS', callId, fromTag: 'br', toTag: 'f2', cseq: 2, headers: uacRouteSet(ok.msg).map((r) => `Route: ${r}`) }));
      const bye = await backend.next(isReq('BYE', callId));
      backend.send(response(bye.msg as SipRequest, 200, 'OK'), bye.from);
      await until('session freed', async () => (await relayCounts(sbc.adminUrl)).sessions === 0);
    } finally {
      fork1.close();
      fork2.close();
      await browser.close();
      ws.close();
    }
  });

  test('late offer between plain phones: the offer in the 200 and the answer in the ACK carry only our address, RTP flows both ways', async () => {
    const phone = await SipPeer.udp();
    const phoneRtp = await RtpSocket.open();
    const backendRtp = await RtpSocket.open();
    try {
      const callId = rand(8);
      const sbcUdp = { address: '127.0.0.1', port: sbc.listener('udp').boundPort };
      phone.send(request({ method: 'INVITE', uri: 'sip:bob@example.com', sentBy: `127.0.0.1:${phone.address.port}`, callId, fromTag: 'ph', contact: `<sip:ph@127.0.0.1:${phone.address.port}>` }), sbcUdp);
      const inv = await backend.next(isReq('INVITE', callId));
      assert.equal(inv.msg.body.length, 0);
      backend.send(response(inv.msg as SipRequest, 200, 'OK', { toTag: 'fs', headers: [`Contact: <sip:fs@127.0.0.1:${backend.address.port}>`], body: plainRtpSdp(backendRtp.port) }), inv.from);
      const ok = await phone.nextResponse(200, 'INVITE');
      const offer = ok.msg.body.toString();
      assert.ok(!offer.includes(String(backendRtp.port)), 'the backend port is hidden');
      const relayToBackendSide = portOf(offer);
      phone.send(request({ method: 'ACK', uri: `sip:fs@127.0.0.1:${backend.address.port}`, sentBy: `127.0.0.1:${phone.address.port}`, callId, fromTag: 'ph', toTag: 'fs', headers: uacRouteSet(ok.msg).map((r) => `Route: ${r}`), body: plainRtpSdp(phoneRtp.port) }), sbcUdp);
      const ack = await backend.next(isReq('ACK', callId));
      const answer = ack.msg.body.toString();
      assert.ok(!answer.includes(String(phoneRtp.port)), 'the phone port is hidden');
      const relayToPhoneSide = portOf(answer);
      await phoneRtp.send(20, relayToBackendSide);
      await backendRtp.send(20, relayToPhoneSide);
      await until('RTP both ways', () => backendRtp.received >= 15 && phoneRtp.received >= 15);
      phone.send(request({ method: 'BYE', uri: `sip:fs@127.0.0.1:${backend.address.port}`, sentBy: `127.0.0.1:${phone.address.port}`, callId, fromTag: 'ph', toTag: 'fs', cseq: 2, headers: uacRouteSet(ok.msg).map((r) => `Route: ${r}`) }), sbcUdp);
      const bye = await backend.next(isReq('BYE', callId));
      backend.send(response(bye.msg as SipRequest, 200, 'OK'), bye.from);
      await until('session freed', async () => (await relayCounts(sbc.adminUrl)).sessions === 0);
    } finally {
      phoneRtp.close();
      backendRtp.close();
      phone.close();
    }
  });
});
