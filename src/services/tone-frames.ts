/**
 * The tone service's audio: a steady sine at `hz`, 8 kHz, cut into 20 ms
 * frames of 160 samples and G.711-encoded (PCMU or PCMA). The sine repeats
 * after a whole number of frames (at most 50 for an integer frequency), so
 * the frames are computed once per frequency and codec and shared by every
 * call; a call only keeps its position in the cycle.
 */
import { linearToAlaw, linearToUlaw } from './g711.js';

export const SAMPLE_RATE = 8000;
export const FRAME_SAMPLES = 160;
export const FRAME_MS = 20;
/** About -10 dBFS: clearly audible, far from clipping. */
export const TONE_AMPLITUDE = 10_000;

export type G711 = 'pcmu' | 'pcma';

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/** Frames after which a sine at `hz` (an integer) starts over at phase 0. */
export function framesPerCycle(hz: number): number {
  return SAMPLE_RATE / gcd(SAMPLE_RATE, (hz * FRAME_SAMPLES) % SAMPLE_RATE || SAMPLE_RATE);
}

/** One cycle of encoded frames for a sine at `hz` (1..3999). */
export function toneFrames(hz: number, codec: G711, amplitude = TONE_AMPLITUDE): Buffer[] {
  if (!Number.isInteger(hz) || hz < 1 || hz >= SAMPLE_RATE / 2) throw new RangeError(`tone frequency ${hz} Hz is not an integer in 1..3999`);
  const encode = codec === 'pcmu' ? linearToUlaw : linearToAlaw;
  const count = framesPerCycle(hz);
  const frames: Buffer[] = [];
  for (let f = 0; f < count; f++) {
    const frame = Buffer.allocUnsafe(FRAME_SAMPLES);
    for (let i = 0; i < FRAME_SAMPLES; i++) {
      const n = f * FRAME_SAMPLES + i;
      frame[i] = encode(amplitude * Math.sin((2 * Math.PI * hz * n) / SAMPLE_RATE));
    }
    frames.push(frame);
  }
  return frames;
}

const cache = new Map<string, Buffer[]>();

/** {@link toneFrames}, computed once per frequency and codec. */
export function sharedToneFrames(hz: number, codec: G711): readonly Buffer[] {
  const key = `${hz}/${codec}`;
  let frames = cache.get(key);
  if (frames === undefined) {
    frames = toneFrames(hz, codec);
    cache.set(key, frames);
  }
  return frames;
}
