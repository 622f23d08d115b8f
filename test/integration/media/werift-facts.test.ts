/**
 * The werift behaviours the embedded relay is built around (PEERS.md,
 * werift), each checked against werift itself, and that our WebrtcLeg gets
 * them right: two peers in one process over 127.0.0.1.
 */
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { after, before, describe, test } from 'node:test';
import { RTCPeerConnection, RTCRtpCodecParameters, RtpHeader, RtpPacket, type RTCCertificate } from 'werift';
import { parseAudioSdp, sdpForWerift } from '../../../src/media/embedded/audio-sdp.js';
import { createRelayCertificate } from '../../../src/media/embedded/certificate.js';
import { SideCounters } from '../../../src/media/embedded/media-leg.js';
import { NoCandidateError, WebrtcLeg } from '../../../src/media/embedded/webrtc-leg.js';
import { WeriftBrowser } from '../../helpers/werift-browser.js';

const PORT = 20_000 + 2 * Math.floor(Math.random() * 10_000);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const pcmu = { pt: 0, name: 'PCMU', rate: 8000, channels: 1 };
const te8 = { pt: 126, name: 'telephone-event', rate: 8000, channels: 1 };

async function until(what: string, check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

function relayPc(port: number, codecs: RTCRtpCodecParameters[]): RTCPeerConnection {
  return new RTCPeerConnection({ iceLite: true, iceServers: [], icePortRange: [port, port + 1], iceAdditionalHostAddresses: ['127.0.0.1'], iceUseIpv6: false, iceUseTcp: false, bundlePolicy: 'max-bundle', codecs: { audio: codecs } });
}

const PCMU = (): RTCRtpCodecParameters => new RTCRtpCodecParameters({ mimeType: 'audio/PCMU', clockRate: 8000, channels: 1, payloadType: 0 });
const TE8 = (): RTCRtpCodecParameters => new RTCRtpCodecParameters({ mimeType: 'audio/telephone-event', clockRate: 8000, channels: 1, payloadType: 126 });

describe('werift facts behind the embedded relay', () => {
  let certificate: RTCCertificate;
  before(async () => {
    certificate = await createRelayCertificate();
  });

  test('a remote-created transceiver answers recvonly unless its direction is set', async () => {
    const browser = new WeriftBrowser();
    const relay = relayPc(PORT, [PCMU(), TE8()]);
    try {
      await relay.setRemoteDescription({ type: 'offer', sdp: sdpForWerift(await browser.offer(), 8000) });
      const plain = (await relay.createAnswer()).sdp;
      assert.match(plain, /a=recvonly/);
      relay.getTransceivers()[0]!.setDirection('sendrecv');
      assert.match((await relay.createAnswer()).sdp, /a=sendrecv/);
    } finally {
      await relay.close();
      await browser.close();
    }
  });

  test('the short a=rtcp form makes setRemoteDescription throw; sdpForWerift fixes it', async () => {
    const browser = new WeriftBrowser();
    const offer = (await browser.offer()).replace(/a=rtcp:.*\r\n/, 'a=rtcp:9\r\n');
    const a = relayPc(PORT + 2, [PCMU()]);
    const b = relayPc(PORT + 4, [PCMU()]);
    try {
      await assert.rejects(a.setRemoteDescription({ type: 'offer', sdp: offer }));
      await b.setRemoteDescription({ type: 'offer', sdp: sdpForWerift(offer, 8000) });
    } finally {
      await a.close();
      await b.close();
      await browser.close();
    }
  });

  test('telephone-event is matched by name: an offered /48000 wins over our /8000 unless stripped first', async () => {
    const browser = new WeriftBrowser();
    const offer = await browser.offer();
    const relay = relayPc(PORT + 6, [PCMU(), TE8()]);
    const fixed = relayPc(PORT + 8, [PCMU(), TE8()]);
    try {
      await relay.setRemoteDescription({ type: 'offer', sdp: offer });
      const answer = parseAudioSdp((await relay.createAnswer()).sdp);
      assert.ok(answer.ok);
      assert.ok(answer.value.codecs.some((c) => c.name === 'telephone-event' && c.rate === 48000), 'werift took the wrong-rate telephone-event');
      await fixed.setRemoteDescription({ type: 'offer', sdp: sdpForWerift(offer, 8000) });
      const good = parseAudioSdp((await fixed.createAnswer()).sdp);
      assert.ok(good.ok);
      assert.deepEqual(good.value.codecs.filter((c) => c.name === 'telephone-event').map((c) => c.rate), [8000]);
    } finally {
      await relay.close();
      await fixed.close();
      await browser.close();
    }
  });

  test('sender.sendRtp rewrites payload type and SSRC; WebrtcLeg receives unsignalled SSRCs, sends telephone-event as such, always with the SSRC it signalled', async () => {
    const browser = new WeriftBrowser();
    const counters = new SideCounters();
    const leg = new WebrtcLeg({ bindAddress: '127.0.0.1', advertise: '127.0.0.1', port: PORT + 10, certificate, codecs: [pcmu, te8], counters });
    const got: Array<{ pt: number; ssrc: number }> = [];
    leg.onRtp = (_p, pt, _m, _s, _t, ssrc) => got.push({ pt, ssrc });
    try {
      const answer = await leg.answer(await browser.offer(), 'sendrecv');
      await browser.accept(answer);
      await browser.connected();
      // werift's own track path on the browser side: only SSRCs its SDP knows.
      let viaTrack = 0;
      const tracks = browser.transceiver.receiver.tracks;
      assert.ok(tracks.length > 0, 'werift made a receive track');
      for (const track of tracks) track.onReceiveRtp.subscribe(() => viaTrack++);
      const tr = browser.transceiver;
      // sender.sendRtp: telephone-event (126) with our SSRC leaves as the sender's codec and SSRC.
      const before = browser.totalReceived();
      void tr.sender.sendRtp(new RtpPacket(new RtpHeader({ payloadType: 126, sequenceNumber: 1, timestamp: 1, ssrc: 42 }), Buffer.alloc(4)));
      await until('the rewritten packet', () => got.length > 0);
      assert.notEqual(got[0]!.ssrc, 42, 'sender.sendRtp replaced the SSRC');
      assert.equal(got[0]!.pt, 0, 'sender.sendRtp turned telephone-event into the audio codec');
      // dtlsTransport.sendRtp with our own header, an SSRC nobody signalled.
      await tr.sender.dtlsTransport.sendRtp(Buffer.alloc(4), new RtpHeader({ payloadType: 126, sequenceNumber: 2, timestamp: 2, ssrc: 4242 }));
      await until('our packet', () => got.some((g) => g.ssrc === 4242));
      assert.equal(got.find((g) => g.ssrc === 4242)!.pt, 126, 'dtlsTransport.sendRtp kept telephone-event');
      // The leg toward the browser: its own SSRC (the one in its SDP) whatever the source's, PT kept.
      leg.sendRtp(Buffer.alloc(4), 126, true, 10, 1000, 777);
      leg.sendRtp(Buffer.alloc(160), 0, false, 11, 1160, 777);
      await until('the leg\'s packets at the browser', () => browser.totalReceived() >= before + 2);
      assert.equal(browser.totalReceived(126), 1);
      assert.deepEqual([...browser.ssrcs], [leg.ssrc]);
      assert.equal(viaTrack, 2, 'the SSRC the leg signalled passes werift\'s own track path too (as Chrome needs)');
    } finally {
      await leg.close();
      await browser.close();
    }
  });

  test('port exhaustion: werift gives an SDP without candidates and no error; WebrtcLeg refuses instead', async () => {
    const blockers: Socket[] = [];
    for (const p of [PORT + 12, PORT + 13]) {
      const s = createSocket('udp4');
      await new Promise<void>((r) => s.bind(p, '127.0.0.1', () => r()));
      blockers.push(s);
    }
    const browser = new WeriftBrowser();
    const raw = relayPc(PORT + 12, [PCMU()]);
    const leg = new WebrtcLeg({ bindAddress: '127.0.0.1', advertise: '127.0.0.1', port: PORT + 12, certificate, codecs: [pcmu], counters: new SideCounters() });
    try {
      const offer = await browser.offer();
      await raw.setRemoteDescription({ type: 'offer', sdp: sdpForWerift(offer, 8000) });
      raw.getTransceivers()[0]!.setDirection('sendrecv');
      await raw.setLocalDescription(await raw.createAnswer());
      await sleep(200);
      assert.ok(!raw.localDescription!.sdp.includes('a=candidate:'), 'no candidate, no error');
      await assert.rejects(leg.answer(offer, 'sendrecv'), NoCandidateError);
    } finally {
      await raw.close();
      await leg.close();
      await browser.close();
      for (const s of blockers) s.close();
    }
  });
});

describe('werift peers are freed by close()', () => {
  let certificate: RTCCertificate;
  before(async () => {
    certificate = await createRelayCertificate();
  });
  after(async () => sleep(10));

  test('20 connected leg/browser pairs opened and closed leave no UDP handle behind', async () => {
    const udp = (): number => process.getActiveResourcesInfo().filter((r) => r === 'UDPWrap').length;
    await sleep(100);
    const start = udp();
    for (let i = 0; i < 20; i++) {
      const browser = new WeriftBrowser();
      const leg = new WebrtcLeg({ bindAddress: '127.0.0.1', advertise: '127.0.0.1', port: PORT + 20 + 2 * (i % 4), certificate, codecs: [pcmu], counters: new SideCounters() });
      await browser.accept(await leg.answer(await browser.offer(), 'sendrecv'));
      await browser.connected();
      await leg.close();
      await browser.close();
    }
    await until('UDP handles back to the start', () => udp() <= start, 5000);
  });
});
