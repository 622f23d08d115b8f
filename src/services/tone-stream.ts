/**
 * One tone call's RTP: the shared frames of its frequency and codec, its
 * own SSRC, sequence number and timestamp (random starts, RFC 3550 §5.1),
 * +1 and +160 a frame; the first packet has the marker bit.
 */
import { randomInt } from 'node:crypto';
import type { FrameSink } from './frame-ticker.js';
import { FRAME_SAMPLES, sharedToneFrames, type G711 } from './tone-frames.js';

export type RtpSend = (payload: Buffer, pt: number, marker: boolean, seq: number, ts: number, ssrc: number) => void;

export class ToneStream implements FrameSink {
  readonly #frames: readonly Buffer[];
  readonly pt: number;
  readonly #send: RtpSend;
  readonly ssrc = randomInt(1, 2 ** 32 - 1);
  #seq = randomInt(0, 0x10000);
  #ts = randomInt(0, 2 ** 32 - 1);
  #index = 0;
  #first = true;
  /** Frames sent. */
  sent = 0;

  constructor(hz: number, codec: G711, pt: number, send: RtpSend) {
    this.#frames = sharedToneFrames(hz, codec);
    this.pt = pt;
    this.#send = send;
  }

  frame(skipped: number): void {
    if (skipped > 0) {
      this.#ts = (this.#ts + skipped * FRAME_SAMPLES) >>> 0;
      this.#index = (this.#index + skipped) % this.#frames.length;
    }
    this.#send(this.#frames[this.#index]!, this.pt, this.#first, this.#seq, this.#ts, this.ssrc);
    this.#first = false;
    this.#index = (this.#index + 1) % this.#frames.length;
    this.#seq = (this.#seq + 1) & 0xffff;
    this.#ts = (this.#ts + FRAME_SAMPLES) >>> 0;
    this.sent++;
  }
}
