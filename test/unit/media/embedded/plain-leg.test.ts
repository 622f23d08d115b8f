import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { after, before, describe, it } from 'node:test';
import { SideCounters } from '../../../../src/media/embedded/media-leg.js';
import { PlainLeg } from '../../../../src/media/embedded/plain-leg.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function socket(port = 0): Promise<Socket & { got: Buffer[] }> {
  const s = Object.assign(createSocket('udp4'), { got: [] as Buffer[] });
  s.on('message', (b) => s.got.push(b));
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.bind(port, '127.0.0.1', () => resolve());
  });
  return s;
}

function rtp(pt: number, seq: number, ssrc: number, payload = Buffer.alloc(160, 1)): Buffer {
  const h = Buffer.alloc(12);
  h[0] = 0x80;
  h[1] = pt;
  h.writeUInt16BE(seq, 2);
  h.writeUInt32BE(seq * 160, 4);
  h.writeUInt32BE(ssrc, 8);
  return Buffer.concat([h, payload]);
}

async function freePair(): Promise<[Socket & { got: Buffer[] }, Socket & { got: Buffer[] }]> {
  for (let i = 0; i < 50; i++) {
    const p = 40_000 + 2 * Math.floor(Math.random() * 10_000);
    try {
      const a = await socket(p);
      try {
        return [a, await socket(p + 1)];
      } catch {
        a.close();
      }
    } catch {
      // taken, try another
    }
  }
  throw new Error('no free port pair');
}

describe('PlainLeg', () => {
  const counters = new SideCounters();
  let leg: PlainLeg;
  let phone: [Socket & { got: Buffer[] }, Socket & { got: Buffer[] }];
  let stranger: Socket & { got: Buffer[] };
  const received: Array<{ pt: number; seq: number; ssrc: number; len: number }> = [];

  before(async () => {
    for (let i = 0; leg === undefined; i++) {
      try {
        leg = await PlainLeg.open('127.0.0.1', 41_000 + 2 * Math.floor(Math.random() * 9000), counters);
      } catch (err) {
        if (i > 20) throw err;
      }
    }
    leg.onRtp = (payload, pt, _m, seq, _ts, ssrc) => received.push({ pt, seq, ssrc, len: payload.length });
    phone = await freePair();
    stranger = await socket();
  });
  after(async () => {
    await leg.close();
    for (const s of [...phone, stranger]) s.close();
  });

  it('latches onto the first source, drops other sources and junk, and sends back where RTP came from', async () => {
    // The SDP names an address nobody sends from (a phone behind NAT).
    leg.setRemote({ address: '127.0.0.1', port: 9, rtcpPort: undefined, rtcpMux: false });
    phone[0].send(rtp(0, 1, 111), leg.port, '127.0.0.1');
    await sleep(50);
    stranger.send(rtp(0, 2, 222), leg.port, '127.0.0.1');
    stranger.send(Buffer.from('hello'), leg.port, '127.0.0.1');
    stranger.send(Buffer.alloc(40, 0xff), leg.port, '127.0.0.1');
    await sleep(50);
    assert.deepEqual(received.map((r) => r.ssrc), [111]);
    assert.equal(received[0]!.len, 160);
    assert.equal(counters.foreignSource, 1);
    assert.equal(counters.malformed, 2);
    leg.sendRtp(Buffer.alloc(20, 7), 8, true, 5, 800, 0xabc);
    await sleep(50);
    const back = phone[0].got.at(-1)!;
    assert.equal(back.length, 32);
    assert.equal(back[1], 0x80 | 8);
    assert.equal(back.readUInt32BE(8), 0xabc);
  });

  it('sends an RTCP sender report to the latched source\'s RTCP port and counts loss from its receiver reports', async () => {
    leg.sendReport();
    await sleep(50);
    const sr = phone[1].got.at(-1);
    assert.ok(sr !== undefined, 'a sender report arrived on RTP+1');
    assert.equal(sr[1], 200);
    assert.equal(sr.readUInt32BE(4), 0xabc);
    assert.equal(sr.readUInt32BE(20), 1, 'one packet sent');
    // A receiver report with one block: 7 packets lost so far, then 9.
    for (const lost of [7, 9]) {
      const rr = Buffer.alloc(32);
      rr[0] = 0x81;
      rr[1] = 201;
      rr.writeUInt16BE(7, 2);
      rr.writeUInt32BE(111, 4);
      rr.writeUInt32BE(0xabc, 8);
      rr.writeUIntBE(lost, 13, 3);
      phone[1].send(rr, leg.port + 1, '127.0.0.1');
      await sleep(30);
    }
    assert.equal(counters.lost, 9);
  });

  it('a new address in the SDP drops the latch; a packet from the signalled address takes it back', async () => {
    const moved = await freePair();
    try {
      leg.setRemote({ address: '127.0.0.1', port: moved[0].address().port, rtcpPort: undefined, rtcpMux: false });
      leg.sendRtp(Buffer.alloc(10), 0, false, 6, 960, 0xabc);
      await sleep(50);
      assert.equal(moved[0].got.length, 1, 'sent to the new SDP address until a packet comes');
      moved[0].send(rtp(0, 3, 333), leg.port, '127.0.0.1');
      await sleep(50);
      assert.equal(received.at(-1)?.ssrc, 333);
    } finally {
      for (const s of moved) s.close();
    }
  });
});
