import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FrameTicker, MAX_CATCH_UP } from '../../../src/services/frame-ticker.js';
import { alawToLinear, ulawToLinear } from '../../../src/services/g711.js';
import { framesPerCycle, sharedToneFrames, toneFrames, TONE_AMPLITUDE } from '../../../src/services/tone-frames.js';
import { ToneStream } from '../../../src/services/tone-stream.js';

/** Upward zero crossings in a periodic run of samples (the last wraps to the first). */
function upwardCrossings(samples: number[]): number {
  let n = 0;
  for (let i = 0; i < samples.length; i++) if (samples[(i + samples.length - 1) % samples.length]! < 0 && samples[i]! >= 0) n++;
  return n;
}

describe('tone frames', () => {
  test('440 Hz: 160-byte frames, a cycle of 5 frames (44 whole periods in 100 ms)', () => {
    assert.equal(framesPerCycle(440), 5);
    const frames = toneFrames(440, 'pcmu');
    assert.equal(frames.length, 5);
    for (const f of frames) assert.equal(f.length, 160);
  });

  test('the decoded frames are a 440 Hz sine at the set amplitude, continuous across frame edges and the cycle', () => {
    for (const [codec, decode] of [['pcmu', ulawToLinear], ['pcma', alawToLinear]] as const) {
      const frames = toneFrames(440, codec);
      // Two cycles back to back: one second would be 10 cycles; 200 ms = 88 periods.
      const samples = [...frames, ...frames].flatMap((f) => [...f].map(decode));
      assert.equal(samples.length, 1600);
      assert.equal(upwardCrossings(samples), 88, `${codec}: 88 periods in 200 ms is 440 Hz`);
      const peak = Math.max(...samples);
      assert.ok(Math.abs(peak - TONE_AMPLITUDE) < TONE_AMPLITUDE / 10, `${codec}: peak ${peak} near ${TONE_AMPLITUDE}`);
      // No jump at a frame edge or at the wrap: neighbouring samples differ by at most one sine step.
      const maxStep = (2 * Math.PI * 440 / 8000) * TONE_AMPLITUDE * 1.1 + 400;
      for (let i = 1; i < samples.length; i++) assert.ok(Math.abs(samples[i]! - samples[i - 1]!) <= maxStep, `${codec}: smooth at sample ${i}`);
    }
  });

  test('any integer frequency has a cycle of at most 50 frames; bad frequencies are refused', () => {
    for (const hz of [1, 50, 333, 1000, 1004, 2600, 3999]) assert.ok(framesPerCycle(hz) <= 50 && toneFrames(hz, 'pcma').length === framesPerCycle(hz), `${hz} Hz`);
    assert.equal(framesPerCycle(1000), 1);
    assert.throws(() => toneFrames(4000, 'pcmu'), RangeError);
    assert.throws(() => toneFrames(440.5, 'pcmu'), RangeError);
    assert.equal(sharedToneFrames(440, 'pcmu'), sharedToneFrames(440, 'pcmu'), 'computed once, shared by every call');
  });

  test('a tone stream: marker on the first packet, sequence +1 and timestamp +160 a frame, one SSRC, frames in cycle order', () => {
    const sent: Array<{ payload: Buffer; pt: number; marker: boolean; seq: number; ts: number; ssrc: number }> = [];
    const stream = new ToneStream(440, 'pcmu', 0, (payload, pt, marker, seq, ts, ssrc) => sent.push({ payload, pt, marker, seq, ts, ssrc }));
    for (let i = 0; i < 12; i++) stream.frame(0);
    const frames = sharedToneFrames(440, 'pcmu');
    assert.deepEqual(sent.map((p) => p.marker), [true, ...Array<boolean>(11).fill(false)]);
    for (let i = 1; i < sent.length; i++) {
      assert.equal(sent[i]!.seq, (sent[i - 1]!.seq + 1) & 0xffff);
      assert.equal(sent[i]!.ts, (sent[i - 1]!.ts + 160) >>> 0);
      assert.equal(sent[i]!.ssrc, sent[0]!.ssrc);
    }
    sent.forEach((p, i) => assert.equal(p.payload, frames[i % frames.length]));
    assert.ok(sent.every((p) => p.pt === 0));
  });

  test('a tone stream after skipped frames: the timestamp and the sine jump as real time did, the sequence does not', () => {
    const sent: Array<{ payload: Buffer; seq: number; ts: number }> = [];
    const stream = new ToneStream(440, 'pcma', 8, (payload, _pt, _m, seq, ts) => sent.push({ payload, seq, ts }));
    stream.frame(0);
    stream.frame(7);
    assert.equal(sent[1]!.seq, (sent[0]!.seq + 1) & 0xffff);
    assert.equal(sent[1]!.ts, (sent[0]!.ts + 8 * 160) >>> 0);
    assert.equal(sent[1]!.payload, sharedToneFrames(440, 'pcma')[8 % 5]);
  });
});

describe('the shared frame ticker', () => {
  test('deadlines count from the start: a late tick sends what fell due, a stall beyond the catch-up is skipped', () => {
    let now = 1000;
    const ticker = new FrameTicker(20, () => now);
    const got: number[] = [];
    const a = { frame: (skipped: number) => got.push(skipped) };
    ticker.add(a);
    assert.equal(ticker.tick(), 1, 'the first frame at once');
    assert.equal(ticker.tick(), 0, 'nothing more before 20 ms');
    now += 25;
    assert.equal(ticker.tick(), 1);
    now += 15; // 40 ms since start: the third frame, though only 15 ms since the last tick
    assert.equal(ticker.tick(), 1);
    assert.deepEqual(got, [0, 0, 0]);
    now += 200; // 240 ms: frames 4..13 due, only MAX_CATCH_UP sent
    assert.equal(ticker.tick(), 10);
    assert.equal(got.length, 3 + MAX_CATCH_UP);
    assert.equal(got[3], 10 - MAX_CATCH_UP, 'the first frame after the stall says how many were skipped');
    ticker.remove(a);
    assert.equal(ticker.size, 0);
  });

  test('one subscriber throwing does not stop the others', () => {
    let now = 0;
    const ticker = new FrameTicker(20, () => now);
    let frames = 0;
    const bad = { frame: (): void => { throw new Error('gone'); } };
    const good = { frame: (): void => { frames++; } };
    ticker.add(bad);
    ticker.add(good);
    ticker.tick();
    now += 20;
    ticker.tick();
    assert.equal(frames, 2);
    ticker.remove(bad);
    ticker.remove(good);
  });
});
