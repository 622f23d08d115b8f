/**
 * The built-in services over real sockets: a scripted UDP phone (SipPeer)
 * and a plain RTP socket call 9196 and 9197 on a gateway with no backend
 * (local registrar) and embedded media. Echo returns each packet under an
 * SSRC of its own; tone sends 20 ms G.711 frames (marker first, sequence +1,
 * timestamp +160) in the codec the phone offered; a re-INVITE to hold gets
 * recvonly back; a full media.embedded.maxSessions gives 503; maxSeconds
 * and a missing ACK end the call with our BYE; with passthrough media the
 * services are off and 9196 is just an unknown user.
 */
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { after, before, describe, test } from 'node:test';
import type { SipRequest, SipResponse } from '../../../src/sip/message.js';
import { alawToLinear } from '../../../src/services/g711.js';
import { rand, request, response, SipPeer, type Received } from '../../helpers/sip-peer.js';
import { startSbc, type TestSbc } from '../../helpers/sbc.js';

interface Rtp {
  pt: number;
  marker: boolean;
  seq: number;
  ts: number;
  ssrc: number;
  payload: Buffer;
}

function parseRtp(b: Buffer): Rtp {
  return { pt: b[1]! & 0x7f, marker: (b[1]! & 0x80) !== 0, seq: b.readUInt16BE(2), ts: b.readUInt32BE(4), ssrc: b.readUInt32BE(8), payload: b.subarray(12) };
}

function rtpPacket(pt: number, seq: number, ts: number, ssrc: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(12);
  h[0] = 0x80;
  h[1] = pt;
  h.writeUInt16BE(seq, 2);
  h.writeUInt32BE(ts, 4);
  h.writeUInt32BE(ssrc, 8);
  return Buffer.concat([h, payload]);
}

/** A UDP phone: SIP on one socket, RTP on another. */
class Phone {
  readonly sip: SipPeer;
  readonly rtp: Socket;
  readonly got: Rtp[] = [];
  readonly #sbc: { address: string; port: number };

  private constructor(sip: SipPeer, rtp: Socket, sbc: { address: string; port: number }) {
    this.sip = sip;
    this.rtp = rtp;
    this.#sbc = sbc;
    rtp.on('message', (b) => {
      if (b.length >= 12 && (b[1]! & 0x7f) < 72) this.got.push(parseRtp(b));
    });
  }

  static async open(sbc: TestSbc): Promise<Phone> {
    const rtp = createSocket('udp4');
    await new Promise<void>((r) => rtp.bind(0, '127.0.0.1', r));
    return new Phone(await SipPeer.udp(), rtp, { address: '127.0.0.1', port: sbc.listener('udp').boundPort });
  }

  get rtpPort(): number {
    return this.rtp.address().port;
  }

  sdp(formats: string, direction = 'sendrecv'): string {
    const rtpmaps: Record<string, string> = { '0': 'PCMU/8000', '8': 'PCMA/8000', '111': 'opus/48000/2', '101': 'telephone-event/8000' };
    return ['v=0', 'o=- 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', `m=audio ${this.rtpPort} RTP/AVP ${formats}`, ...formats.split(' ').map((f) => `a=rtpmap:${f} ${rtpmaps[f]}`), `a=${direction}`, ''].join('\r\n');
  }

  /** INVITE `user`; resolves with the final response. */
  async invite(user: string, sdp: string, callId = rand(8), fromTag = rand(4)): Promise<{ res: SipResponse; raw: string; callId: string; fromTag: string; invite: string }> {
    const text = request({
      method: 'INVITE',
      uri: `sip:${user}@127.0.0.1`,
      sentBy: `127.0.0.1:${this.sip.address.port}`,
      from: '<sip:phone@127.0.0.1>',
      fromTag,
      to: `<sip:${user}@127.0.0.1>`,
      callId,
      contact: `<sip:phone@127.0.0.1:${this.sip.address.port}>`,
      body: sdp,
    });
    this.sip.send(text, this.#sbc);
    const r = await this.sip.next((x) => x.msg.kind === 'response' && x.msg.status >= 200 && x.msg.callId === callId, 5000);
    return { res: r.msg as SipResponse, raw: r.raw, callId, fromTag, invite: text };
  }

  /** An in-dialog request to the Contact of `res` (no Record-Route: we answered it ourselves). */
  inDialog(method: string, res: SipResponse, callId: string, fromTag: string, cseq: number, body = ''): void {
    const contact = /<([^>]+)>/.exec(res.headers.get('contact') ?? '')?.[1] ?? '';
    this.sip.send(request({
      method,
      uri: contact,
      sentBy: `127.0.0.1:${this.sip.address.port}`,
      from: '<sip:phone@127.0.0.1>',
      fromTag,
      to: `${res.headers.get('to')!.replace(/;tag=.*$/, '')}`,
      toTag: /;tag=([^;]+)/.exec(res.headers.get('to') ?? '')?.[1]!,
      callId,
      cseq,
      contact: `<sip:phone@127.0.0.1:${this.sip.address.port}>`,
      ...(body !== '' ? { body } : {}),
    }), this.#sbc);
  }

  sendRtp(to: number, packets: Buffer[]): void {
    for (const p of packets) this.rtp.send(p, to, '127.0.0.1');
  }

  close(): void {
    this.sip.close();
    this.rtp.close();
  }
}

const mediaPortOf = (raw: string): number => Number(/\r\nm=audio (\d+) /.exec(raw)?.[1]);

async function until(cond: () => boolean, timeoutMs: number, what: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('built-in services over UDP with plain RTP', () => {
  let sbc: TestSbc;
  let small: TestSbc;
  let phone: Phone;
  let other: Phone;
  const sessions = async (s: TestSbc): Promise<number> =>
    ((await (await fetch(`${s.adminUrl}/api/engines`)).json()) as { engines: Array<{ name: string; sessions: number }> }).engines.find((e) => e.name === 'embedded')?.sessions ?? -1;

  before(async () => {
    sbc = await startSbc({ media: { mode: 'embedded', embedded: { address: '127.0.0.1', ports: '25800-25899' } } });
    small = await startSbc({
      media: { mode: 'embedded', embedded: { address: '127.0.0.1', ports: '25900-25949', maxSessions: 1 } },
      services: { echo: { maxSeconds: 1 } },
      timers: { t1Ms: 50, t2Ms: 400, t4Ms: 500 },
    });
    phone = await Phone.open(sbc);
    other = await Phone.open(small);
  });
  after(async () => {
    phone?.close();
    other?.close();
    await sbc?.stop();
    await small?.stop();
  });

  test('echo: 200 with a plain PCMU answer; every packet comes back, same payload and payload type, under an SSRC of its own; BYE frees the session', async () => {
    const call = await phone.invite('9196', phone.sdp('0 101'));
    assert.equal(call.res.status, 200);
    assert.match(call.raw, /\r\nm=audio \d+ RTP\/AVP 0 101\r\n/, 'answers PCMU with telephone-event');
    // With workers the Contact also names the worker holding the dialog (;w=N).
    assert.match(call.res.headers.get('contact') ?? '', /^<sip:svc-[^@]+@127\.0\.0\.1:\d+;transport=udp(;w=\d+)?>$/);
    phone.inDialog('ACK', call.res, call.callId, call.fromTag, 1);
    assert.equal(await sessions(sbc), 1);
    const port = mediaPortOf(call.raw);
    const ssrc = 0x1234abcd;
    const sent = Array.from({ length: 20 }, (_, i) => rtpPacket(0, 100 + i, 1000 + 160 * i, ssrc, Buffer.alloc(160, i + 1)));
    phone.sendRtp(port, sent);
    await until(() => phone.got.length >= 20, 3000, () => `got ${phone.got.length} of 20 packets back`);
    assert.ok(phone.got.every((p) => p.ssrc !== ssrc && p.ssrc === phone.got[0]!.ssrc), 'one SSRC of the echo\'s own');
    assert.deepEqual(phone.got.map((p) => p.payload[0]), sent.map((_, i) => i + 1), 'the same payloads, in order');
    assert.ok(phone.got.every((p) => p.pt === 0));

    // In-dialog OPTIONS and a re-INVITE to hold: sendonly from us gets recvonly back.
    phone.inDialog('OPTIONS', call.res, call.callId, call.fromTag, 2);
    assert.equal((await phone.sip.nextResponse(200, 'OPTIONS')).msg.kind, 'response');
    phone.inDialog('INVITE', call.res, call.callId, call.fromTag, 3, phone.sdp('0 101', 'sendonly'));
    const held = await phone.sip.nextResponse(200, 'INVITE');
    assert.match(held.raw, /\r\na=recvonly\r\n/);
    assert.equal(mediaPortOf(held.raw), port, 'the same media port');
    phone.inDialog('ACK', call.res, call.callId, call.fromTag, 3);

    phone.inDialog('BYE', call.res, call.callId, call.fromTag, 4);
    await phone.sip.nextResponse(200, 'BYE');
    for (let i = 0; i < 20 && (await sessions(sbc)) !== 0; i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(await sessions(sbc), 0, 'the BYE freed the session');
  });

  test('tone: a PCMA offer gets PCMA; 160-byte 440 Hz frames, marker first, sequence +1 and timestamp +160', async () => {
    phone.got.length = 0;
    const call = await phone.invite('tone', phone.sdp('8'));
    assert.equal(call.res.status, 200);
    assert.match(call.raw, /\r\nm=audio \d+ RTP\/AVP 8\r\n/);
    phone.inDialog('ACK', call.res, call.callId, call.fromTag, 1);
    await until(() => phone.got.length >= 25, 3000, () => `got ${phone.got.length} tone packets`);
    const got = phone.got.slice(0, 25);
    assert.equal(got[0]!.marker, true);
    for (let i = 1; i < got.length; i++) {
      assert.equal(got[i]!.seq, (got[i - 1]!.seq + 1) & 0xffff);
      assert.equal((got[i]!.ts - got[i - 1]!.ts) >>> 0, 160);
      assert.equal(got[i]!.marker, false);
    }
    assert.ok(got.every((p) => p.pt === 8 && p.payload.length === 160));
    const samples = got.flatMap((p) => [...p.payload].map(alawToLinear));
    const rms = Math.sqrt(samples.reduce((s, x) => s + x * x, 0) / samples.length);
    assert.ok(rms > 5000, `the tone has energy (rms ${rms.toFixed(0)})`);
    phone.inDialog('BYE', call.res, call.callId, call.fromTag, 2);
    await phone.sip.nextResponse(200, 'BYE');
  });

  test('tone with only Opus offered: 488 (tone is PCMU/PCMA only); a service-less user on the domain is still looked up (404)', async () => {
    const call = await phone.invite('9197', phone.sdp('111'));
    assert.equal(call.res.status, 488);
    const nobody = await phone.invite('9198', phone.sdp('0'));
    assert.equal(nobody.res.status, 404);
    for (let i = 0; i < 20 && (await sessions(sbc)) !== 0; i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(await sessions(sbc), 0);
  });

  test('maxSessions 1: a second call gets 503; maxSeconds 1: the SBC sends BYE and the session is free again', async () => {
    const first = await other.invite('9196', other.sdp('0'));
    assert.equal(first.res.status, 200);
    other.inDialog('ACK', first.res, first.callId, first.fromTag, 1);
    const second = await other.invite('9196', other.sdp('0'));
    assert.equal(second.res.status, 503);
    const bye = await other.sip.next((r) => r.msg.kind === 'request' && r.msg.method === 'BYE', 4000);
    assert.equal(bye.msg.callId, first.callId, 'BYE for the first call after maxSeconds');
    other.sip.send(response(bye.msg as SipRequest, 200, 'OK'), bye.from);
    for (let i = 0; i < 20 && (await sessions(small)) !== 0; i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(await sessions(small), 0);
  });

  test('no ACK: the 200 is retransmitted, then the SBC gives up with a BYE', async () => {
    other.sip.forget();
    const call = await other.invite('9196', other.sdp('0'));
    assert.equal(call.res.status, 200);
    const bye: Received = await other.sip.next((r) => r.msg.kind === 'request' && r.msg.method === 'BYE' && r.msg.callId === call.callId, 6000);
    const retransmits = other.sip.received.filter((r) => r.msg.kind === 'response' && r.msg.status === 200 && r.msg.callId === call.callId).length;
    assert.ok(retransmits >= 3, `the 200 was sent ${retransmits} times before the BYE`);
    other.sip.send(response(bye.msg as SipRequest, 200, 'OK'), bye.from);
  });
});

describe('built-in services: a caller gone silent', () => {
  test('no RTP for media.embedded.inactivitySeconds: the SBC hangs up with a BYE', async () => {
    const sbc = await startSbc({ media: { mode: 'embedded', embedded: { address: '127.0.0.1', ports: '25950-25979', inactivitySeconds: 1 } } });
    const phone = await Phone.open(sbc);
    try {
      const call = await phone.invite('9196', phone.sdp('0'));
      assert.equal(call.res.status, 200);
      phone.inDialog('ACK', call.res, call.callId, call.fromTag, 1);
      const bye = await phone.sip.next((r) => r.msg.kind === 'request' && r.msg.method === 'BYE' && r.msg.callId === call.callId, 6000);
      phone.sip.send(response(bye.msg as SipRequest, 200, 'OK'), bye.from);
    } finally {
      phone.close();
      await sbc.stop();
    }
  });
});

describe('built-in services with passthrough media', () => {
  test('they are off: 9196 is looked up as a user (404)', async () => {
    const sbc = await startSbc({ media: { mode: 'passthrough' } });
    const phone = await Phone.open(sbc);
    try {
      const call = await phone.invite('9196', phone.sdp('0'));
      assert.equal(call.res.status, 404);
    } finally {
      phone.close();
      await sbc.stop();
    }
  });
});
