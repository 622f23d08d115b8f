/**
 * One direction of a call's RTP: payload types translated by a 128-entry
 * table (no transcoding), RFC 4733 events counted, everything else left to
 * the receiving leg (a WebRTC leg keeps its SSRC and sequence continuous).
 * Allocation-free per packet.
 */
import type { MediaLeg, RtpSink, SideCounters } from './media-leg.js';

export class RtpForwarder {
  /** Received payload type → payload type to send, -1 to drop. */
  map: Int16Array = new Int16Array(128).fill(-1);
  /** 1 where the received payload type is telephone-event. */
  events: Uint8Array = new Uint8Array(128);
  /** The leg packets go to; undefined until that side has media. */
  to: MediaLeg | undefined;
  readonly #from: SideCounters;
  #lastEvent = -1;
  #lastEventSsrc = -1;

  constructor(from: SideCounters) {
    this.#from = from;
  }

  readonly sink: RtpSink = (payload, pt, marker, seq, ts, ssrc) => {
    const out = this.map[pt]!;
    if (out < 0) {
      this.#from.unknownPayloadType++;
      return;
    }
    // RFC 4733 §2.5.1.1: every packet of one event carries the event's start timestamp.
    if (this.events[pt] === 1 && (ts !== this.#lastEvent || ssrc !== this.#lastEventSsrc)) {
      this.#lastEvent = ts;
      this.#lastEventSsrc = ssrc;
      this.#from.dtmfEvents++;
    }
    this.to?.sendRtp(payload, out, marker, seq, ts, ssrc);
  };
}
