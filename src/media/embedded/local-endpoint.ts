/**
 * A media endpoint of the SBC's own, for the built-in services (src/services):
 * one leg of the embedded relay that answers a caller's offer itself — a
 * WebRTC leg (ICE-lite, DTLS-SRTP) for a browser's offer, a plain RTP leg
 * otherwise — with the codecs of the offer its owner can handle, and gives
 * the caller's packets to the owner instead of to another leg.
 */
import { randomInt } from 'node:crypto';
import { codecKey, isTelephoneEvent, plainSdp, reverseDirection, type AudioCodec, type AudioDescription } from './audio-sdp.js';
import { codecsToAnswer } from './codec-negotiation.js';
import type { LegFactory } from './leg-factory.js';
import type { MediaLeg, RtpSink } from './media-leg.js';
import { PlainLeg } from './plain-leg.js';
import { RelayRefusal } from './relay-refusal.js';
import { WebrtcLeg } from './webrtc-leg.js';

export class LocalEndpoint {
  readonly #legs: LegFactory;
  readonly #leg: MediaLeg;
  /** Codec keys (`pcmu/8000`) the owner can send and take; telephone-event rides along. */
  readonly #accept: ReadonlySet<string>;
  readonly #sessionId = randomInt(1, 2 ** 47);
  #version = 0;
  /** What we answered, in the caller's payload types (audio first, then telephone-event if any). */
  codecs: AudioCodec[];
  #released = false;

  private constructor(legs: LegFactory, leg: MediaLeg, accept: ReadonlySet<string>, codecs: AudioCodec[]) {
    this.#legs = legs;
    this.#leg = leg;
    this.#accept = accept;
    this.codecs = codecs;
  }

  /**
   * Open a leg answering `offer` with the codecs of `accept` (in the offer's
   * order). Throws a {@link RelayRefusal}: 488 for no codec in common, 503
   * for no ports; nothing stays open then.
   */
  static async answer(legs: LegFactory, offer: AudioDescription, raw: string, accept: ReadonlySet<string>): Promise<{ endpoint: LocalEndpoint; sdp: string }> {
    const chosen = choose(offer, accept);
    if (chosen.length === 0) throw new RelayRefusal('no-common-codec', 488, 'Not Acceptable Here');
    const leg: MediaLeg = offer.webrtc ? legs.webrtc(chosen) : await legs.plain();
    const endpoint = new LocalEndpoint(legs, leg, accept, chosen);
    try {
      return { endpoint, sdp: await endpoint.#answerWith(offer, raw, chosen) };
    } catch (err) {
      await endpoint.close();
      throw err;
    }
  }

  /** A re-offer in the dialog (hold, resume, a new address): the answer. */
  async reanswer(offer: AudioDescription, raw: string): Promise<string> {
    if (offer.webrtc !== (this.#leg.kind === 'webrtc')) throw new RelayRefusal('negotiation', 488, 'Not Acceptable Here');
    const chosen = choose(offer, this.#accept);
    if (chosen.length === 0) throw new RelayRefusal('no-common-codec', 488, 'Not Acceptable Here');
    this.codecs = chosen;
    return this.#answerWith(offer, raw, chosen);
  }

  get kind(): 'webrtc' | 'plain' {
    return this.#leg.kind;
  }

  /** The audio codec we answered first (what the owner should send). */
  get audio(): AudioCodec {
    return this.codecs.find((c) => !isTelephoneEvent(c)) ?? this.codecs[0]!;
  }

  /** performance.now() of the caller's last packet, 0 for none. */
  get lastReceived(): number {
    return this.#leg.lastReceived;
  }

  set onRtp(sink: RtpSink | undefined) {
    this.#leg.onRtp = sink;
  }

  sendRtp(payload: Buffer, pt: number, marker: boolean, seq: number, ts: number, ssrc: number): void {
    this.#leg.sendRtp(payload, pt, marker, seq, ts, ssrc);
  }

  /** Frees the leg and its ports; idempotent. */
  async close(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    await this.#legs.release(this.#leg);
  }

  async #answerWith(offer: AudioDescription, raw: string, chosen: AudioCodec[]): Promise<string> {
    const direction = reverseDirection(offer.direction);
    const leg = this.#leg;
    if (leg instanceof WebrtcLeg) return leg.answer(raw, direction);
    const plain = leg as PlainLeg;
    plain.setRemote({ address: offer.address, port: offer.port, rtcpPort: offer.rtcpPort, rtcpMux: offer.rtcpMux });
    return plainSdp({
      sessionId: this.#sessionId,
      version: this.#version++,
      address: this.#legs.advertise,
      port: plain.port,
      codecs: chosen,
      direction,
      ptime: offer.ptime,
      answering: { mLines: offer.mLines, audioIndex: offer.audioIndex },
    });
  }
}

/** The offer's codecs we take, in its order and payload types, with its telephone-event at the audio rate. */
function choose(offer: AudioDescription, accept: ReadonlySet<string>): AudioCodec[] {
  const accepted = offer.codecs.filter((c) => accept.has(codecKey(c)) || isTelephoneEvent(c));
  return codecsToAnswer(offer.codecs, accepted);
}
