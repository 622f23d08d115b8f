/**
 * The RTP payload the media bench sends and how a receiver reads it. Every
 * 20 ms packet carries, in its first bytes, the sender's monotonic clock
 * (process.hrtime, CLOCK_MONOTONIC: the same clock in every process on the
 * machine) and the measurement window it was sent in, so a receiver in
 * another process computes the one-way latency and counts only packets of
 * the current window. The relays under test forward payloads untouched.
 *
 *   0        8     9          160
 *   | sent ns | win | 0xff ...  |
 */
import { quantile } from '../load/stats.js';

export const PAYLOAD_BYTES = 160;
export const PACKETS_PER_SECOND = 50;
/** Sender tick: each tick serves a quarter of the calls, so 50 packets/s per call leave spread over 20 ms. */
export const TICK_MS = 5;
export const TICKS_PER_PACKET = 4;
/** Latency samples kept per process per window. */
const MAX_SAMPLES = 500_000;

/** A payload stamped now, for window `epoch`. */
export function stampedPayload(epoch: number): Buffer {
  const buf = Buffer.alloc(PAYLOAD_BYTES, 0xff);
  buf.writeBigUInt64BE(process.hrtime.bigint(), 0);
  buf[8] = epoch & 0xff;
  return buf;
}

/** The payload of a plain RTP packet (RFC 3550 §5.1: CSRCs and header extension skipped), or undefined. */
export function rtpPayload(packet: Buffer): Buffer | undefined {
  if (packet.length < 12 || packet[0]! >> 6 !== 2) return undefined;
  const second = packet[1]!;
  if (second >= 200 && second <= 204) return undefined; // RTCP
  let offset = 12 + 4 * (packet[0]! & 0x0f);
  if ((packet[0]! & 0x10) !== 0) {
    if (packet.length < offset + 4) return undefined;
    offset += 4 + 4 * packet.readUInt16BE(offset + 2);
  }
  if (packet.length < offset + 9) return undefined;
  return packet.subarray(offset);
}

/** What one process measured in one window. */
export interface WindowReport {
  epoch: number;
  /** Packets sent in this window. */
  sent: number;
  /** Packets of this window received. */
  received: number;
  /** Packets received that belonged to no window of ours (other payloads, an old window). */
  foreign: number;
  latencyCount: number;
  /** One-way latency sender → this receiver, µs. */
  p50Us: number;
  p99Us: number;
  maxUs: number;
  /** CPU this process used during the window, ms. */
  cpuMs: number;
}

/** Counts sent and received packets of the current window and their latencies. */
export class WindowCounter {
  epoch = 0;
  sent = 0;
  received = 0;
  foreign = 0;
  #latencies: number[] = [];
  #cpuAtStart = process.cpuUsage();

  /** Start window `epoch`: counters to zero. */
  start(epoch: number): void {
    this.epoch = epoch;
    this.sent = 0;
    this.received = 0;
    this.foreign = 0;
    this.#latencies = [];
    this.#cpuAtStart = process.cpuUsage();
  }

  /** Read a received payload (see the file comment). */
  onPayload(payload: Buffer): void {
    if (payload.length < 9 || payload[8] !== (this.epoch & 0xff) || this.epoch === 0) {
      this.foreign++;
      return;
    }
    this.received++;
    if (this.#latencies.length < MAX_SAMPLES) {
      const sentNs = payload.readBigUInt64BE(0);
      this.#latencies.push(Number(process.hrtime.bigint() - sentNs) / 1000);
    }
  }

  report(): WindowReport {
    const sorted = this.#latencies.slice().sort((a, b) => a - b);
    const cpu = process.cpuUsage(this.#cpuAtStart);
    return {
      epoch: this.epoch,
      sent: this.sent,
      received: this.received,
      foreign: this.foreign,
      latencyCount: sorted.length,
      p50Us: Math.round(quantile(sorted, 0.5)),
      p99Us: Math.round(quantile(sorted, 0.99)),
      maxUs: Math.round(sorted.at(-1) ?? Number.NaN),
      cpuMs: Math.round((cpu.user + cpu.system) / 1000),
    };
  }
}

/**
 * Calls `send(i)` for every sender index at 50 packets/s each, a quarter of
 * them per 5 ms tick. `count()` is read each tick (calls come and go). Paced
 * by the clock, not by the ticks: a late tick sends the quarters that were
 * due (up to {@link MAX_CATCH_UP} of them), so a busy machine delays packets
 * instead of silently sending fewer.
 */
export class Pacer {
  #timer: NodeJS.Timeout | undefined;
  #done = 0;
  #t0 = 0;

  start(count: () => number, send: (i: number) => void): void {
    this.stop();
    this.#t0 = performance.now();
    this.#done = 0;
    const tick = (): void => {
      const due = Math.floor((performance.now() - this.#t0) / TICK_MS) + 1;
      // Far behind: skip what cannot be caught up (those packets are never counted as sent).
      if (due - this.#done > MAX_CATCH_UP) this.#done = due - MAX_CATCH_UP;
      const n = count();
      while (this.#done < due) {
        const slot = this.#done++ % TICKS_PER_PACKET;
        for (let i = slot; i < n; i += TICKS_PER_PACKET) send(i);
      }
    };
    tick();
    this.#timer = setInterval(tick, TICK_MS);
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

/** Quarters a late tick may still send (8 = 40 ms, two packets per call). */
const MAX_CATCH_UP = 8;
