/**
 * The ACKs of one B2BUA call's INVITE transactions, both ways: a 2xx we sent
 * on a leg is retransmitted over unreliable flows until its ACK arrives
 * (RFC 3261 §13.3.1.4; after 64·T1 the owner is told), and an ACK we sent on
 * a leg is kept so a retransmitted 2xx there gets it again (§13.2.2.4).
 * With a late offer (our INVITE on the other leg carried no SDP) the ACK that
 * arrives brings the answer, which goes on in the ACK we send there.
 */
import type { MediaHooks } from '../media/media-control.js';
import { hasSdp } from '../media/sdp.js';
import type { SipRequest, SipResponse } from '../sip/message.js';
import { serialize } from '../sip/serializer.js';
import type { Flow } from '../transport/flow.js';
import type { Leg } from './leg.js';
import type { LegTransport } from './leg-transport.js';
import { copyEndToEnd } from './header-policy.js';
import { Retransmitter } from './retransmitter.js';

/** A 2xx we sent for an INVITE that arrived on a leg, waiting for its ACK. */
export interface PendingAck {
  /** CSeq number of the INVITE on the leg the ACK comes from. */
  seq: number;
  /** The INVITE we sent on the other leg and its CSeq there. */
  peerSeq: number;
  /** Our INVITE there carried no SDP: the ACK brings the answer (late offer). */
  lateOffer: boolean;
  retransmitter: Retransmitter;
}

/** An ACK that arrived with the answer of a late offer, to carry on in ours. */
export interface AckAnswer {
  ack: SipRequest;
  from: Leg;
  source: Flow;
}

/** Our ACKs kept per call (by leg side and CSeq), the oldest dropped beyond this. */
const MAX_SENT_ACKS = 16;

export class AckExchange {
  readonly #legs: LegTransport;
  readonly #media: MediaHooks | undefined;
  /** The A leg: the media engine sees every SDP in its terms. */
  readonly #a: Leg;
  readonly #sent = new Map<string, { bytes: Buffer; flow: Flow }>();
  readonly #pending = new Map<Leg, PendingAck>();

  constructor(legs: LegTransport, media: MediaHooks | undefined, a: Leg) {
    this.#legs = legs;
    this.#media = media;
    this.#a = a;
  }

  /** A 2xx to an INVITE on `leg` was sent on `flow`: retransmit it until the ACK; `onGiveUp` when none comes. */
  await2xx(flow: Flow, res: SipResponse, leg: Leg, peerSeq: number, lateOffer: boolean, onGiveUp: () => void): void {
    const seq = res.cseq()?.seq ?? 0;
    this.#pending.get(leg)?.retransmitter.stop();
    const retransmitter = new Retransmitter(flow, serialize(res), this.#legs.timers, () => {
      if (this.#pending.get(leg)?.retransmitter !== retransmitter) return;
      this.#pending.delete(leg);
      onGiveUp();
    });
    this.#pending.set(leg, { seq, peerSeq, lateOffer, retransmitter });
  }

  /** An ACK arrived on `from`: the 2xx it acknowledges, which stops retransmitting; undefined when it matches none. */
  acknowledged(ack: SipRequest, from: Leg): PendingAck | undefined {
    const pending = this.#pending.get(from);
    if (pending === undefined || pending.seq !== (ack.cseq()?.seq ?? 0)) return undefined;
    this.#pending.delete(from);
    pending.retransmitter.stop();
    return pending;
  }

  /** Send (and keep) the ACK for our INVITE with CSeq `seq` on `leg`; with the answer of a late offer when given. */
  async send(leg: Leg, seq: number, answer: AckAnswer | undefined): Promise<void> {
    const flow = await this.#legs.flowFor(leg);
    if (flow === undefined) return;
    const ack = leg.request('ACK', seq);
    if (answer !== undefined && hasSdp(answer.ack)) {
      copyEndToEnd(answer.ack, ack);
      if (this.#media !== undefined) {
        try {
          // In A-leg terms: A's own ACK, or the A-leg ACK we are about to send.
          if (answer.from === this.#a) {
            await this.#media.request(answer.ack, answer.source, flow);
            ack.body = answer.ack.body;
          } else {
            await this.#media.request(ack, answer.source, flow);
          }
        } catch {
          // Logged by the media layer; the ACK still completes the dialog.
        }
      }
    }
    const bytes = this.#legs.sendAck(ack, flow);
    this.#sent.set(`${leg.side}:${seq}`, { bytes, flow });
    if (this.#sent.size > MAX_SENT_ACKS) {
      const oldest = this.#sent.keys().next().value;
      if (oldest !== undefined) this.#sent.delete(oldest);
    }
  }

  /** A 2xx to our INVITE with CSeq `seq` on `leg` came again: our ACK got lost, send it again. */
  resend(leg: Leg, seq: number): void {
    const sent = this.#sent.get(`${leg.side}:${seq}`);
    if (sent !== undefined) sent.flow.send(sent.bytes);
  }

  /** The call ended: no more retransmissions. */
  stop(): void {
    for (const p of this.#pending.values()) p.retransmitter.stop();
    this.#pending.clear();
  }
}
