/**
 * One call's media in the embedded relay: two sides (the caller, who sent the
 * first INVITE, and the callee), each a WebRTC or plain-RTP leg, and the RTP
 * between them. Offer/answer (RFC 3264) in SIP-neutral terms:
 *
 *   offer(X, sdp)   X's offer → remember it, open/refresh Y's leg, our offer toward Y
 *   answer(Y, sdp)  Y's answer → Y's leg learns it, our answer toward X from X's offer
 *                   (a later answer to the same offer — 200 after 183, another fork —
 *                    updates Y and returns the same answer toward X: the last one wins)
 *
 * Directions pass through (hold stays hold). Operations on one session run
 * one at a time, in arrival order.
 */
import { randomInt } from 'node:crypto';
import { plainSdp, type AudioCodec, type AudioDescription, type MediaDirection } from './audio-sdp.js';
import { codecsToAnswer, codecsToOffer, eventPayloadTypes, payloadTypeMap, ptKeys } from './codec-negotiation.js';
import type { LegFactory } from './leg-factory.js';
import type { MediaLeg, SideCounters } from './media-leg.js';
import { PlainLeg } from './plain-leg.js';
import { RelayRefusal } from './relay-refusal.js';
import { RtpForwarder } from './rtp-forwarder.js';
import { WebrtcLeg } from './webrtc-leg.js';

export type SideName = 'caller' | 'callee';
export type LegKind = 'webrtc' | 'plain';

interface Side {
  kind: LegKind;
  leg: MediaLeg | undefined;
  /** What the party declared in its last SDP. */
  remote: AudioCodec[];
  /** What we told the party. */
  local: AudioCodec[];
  /** Our SDP's o= version toward this party (plain legs). */
  version: number;
  /** The party's last offer we have not answered yet, or answered last (for a repeated answer). */
  offer: { desc: AudioDescription; raw: string } | undefined;
  /** Our last answer to that offer. */
  answer: string | undefined;
  direction: MediaDirection;
  readonly forward: RtpForwarder;
}

export interface SessionOptions {
  id: string;
  callerTag: string;
  /** WebSocket flows on the hop (their closing ends the session). */
  clientFlows: string[];
  kinds: Record<SideName, LegKind>;
  legs: LegFactory;
  counters: Record<LegKind, SideCounters>;
}

export class Session {
  readonly id: string;
  readonly callerTag: string;
  readonly clientFlows: readonly string[];
  readonly createdAt = performance.now();
  /** Last SDP handled: the inactivity timer counts from here until RTP flows. */
  lastSignal = performance.now();
  /** A 2xx to the initial INVITE was seen. */
  answered = false;
  readonly #legs: LegFactory;
  readonly #sides: Record<SideName, Side>;
  readonly #sessionId = randomInt(1, 2 ** 47);
  /** Which side made the offer we are waiting to see answered. */
  #pendingFrom: SideName | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor(o: SessionOptions) {
    this.id = o.id;
    this.callerTag = o.callerTag;
    this.clientFlows = o.clientFlows;
    this.#legs = o.legs;
    const side = (kind: LegKind): Side => ({
      kind,
      leg: undefined,
      remote: [],
      local: [],
      version: 0,
      offer: undefined,
      answer: undefined,
      direction: 'sendrecv',
      forward: new RtpForwarder(o.counters[kind]),
    });
    this.#sides = { caller: side(o.kinds.caller), callee: side(o.kinds.callee) };
  }

  sideOf(tag: string): SideName {
    return tag === this.callerTag ? 'caller' : 'callee';
  }

  kindOf(side: SideName): LegKind {
    return this.#sides[side].kind;
  }

  /** An offer from `side` is waiting for the other side's answer. */
  awaitingAnswerFrom(side: SideName): boolean {
    return this.#pendingFrom !== undefined && this.#pendingFrom !== side;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** On hold (or one-way) by the last SDP: the longer inactivity limit applies. */
  get onHold(): boolean {
    return this.#sides.caller.direction !== 'sendrecv' || this.#sides.callee.direction !== 'sendrecv';
  }

  /** performance.now() of the last RTP from either side, or of the last SDP when later. */
  get lastActivity(): number {
    const a = this.#sides.caller.leg?.lastReceived ?? 0;
    const b = this.#sides.callee.leg?.lastReceived ?? 0;
    return Math.max(a, b, this.lastSignal);
  }

  /** Media path for /api/dialogs. */
  describe(): { caller: string; callee: string } {
    const d = (s: Side): string => `${s.kind}${s.leg !== undefined ? `:${s.leg.port}` : ''}`;
    return { caller: d(this.#sides.caller), callee: d(this.#sides.callee) };
  }

  /** RTCP sender reports on the plain legs. */
  sendReports(): void {
    for (const s of [this.#sides.caller, this.#sides.callee]) if (s.leg instanceof PlainLeg) s.leg.sendReport();
  }

  offer(from: SideName, desc: AudioDescription, raw: string): Promise<string> {
    return this.#run(() => this.#offer(from, desc, raw));
  }

  answer(from: SideName, desc: AudioDescription, raw: string): Promise<string> {
    return this.#run(() => this.#answer(from, desc, raw));
  }

  async #offer(fromName: SideName, desc: AudioDescription, raw: string): Promise<string> {
    const x = this.#sides[fromName];
    const y = this.#sides[other(fromName)];
    this.lastSignal = performance.now();
    const toward = y.leg instanceof WebrtcLeg || y.local.length > 0 ? this.#keepNegotiated(codecsToOffer(desc.codecs, y.kind === 'webrtc'), y.local) : codecsToOffer(desc.codecs, y.kind === 'webrtc');
    if (toward.length === 0) throw new RelayRefusal('no-common-codec', 488, 'Not Acceptable Here');
    x.remote = desc.codecs;
    x.offer = { desc, raw };
    x.answer = undefined;
    x.direction = desc.direction;
    if (x.kind === 'plain') {
      const leg = await this.#plainLeg(x);
      leg.setRemote({ address: desc.address, port: desc.port, rtcpPort: desc.rtcpPort, rtcpMux: desc.rtcpMux });
    }
    let out: string;
    if (y.kind === 'plain') {
      const leg = await this.#plainLeg(y);
      y.local = toward;
      out = plainSdp({ sessionId: this.#sessionId, version: y.version++, address: this.#legs.advertise, port: leg.port, codecs: toward, direction: desc.direction, ptime: desc.ptime });
    } else {
      let leg = y.leg as WebrtcLeg | undefined;
      if (leg === undefined) {
        leg = this.#legs.webrtc(toward);
        this.#attach(y, leg);
        y.local = toward;
      }
      out = await leg.offer(desc.direction);
    }
    this.#pendingFrom = fromName;
    this.#rewire();
    return out;
  }

  async #answer(fromName: SideName, desc: AudioDescription, raw: string): Promise<string> {
    const y = this.#sides[fromName];
    const x = this.#sides[other(fromName)];
    this.lastSignal = performance.now();
    const repeated = this.#pendingFrom !== other(fromName);
    if (repeated && x.answer === undefined) throw new RelayRefusal('negotiation', 500, 'No Offer To Answer');
    y.remote = desc.codecs;
    y.direction = desc.direction;
    if (y.kind === 'plain') {
      const leg = await this.#plainLeg(y);
      leg.setRemote({ address: desc.address, port: desc.port, rtcpPort: desc.rtcpPort, rtcpMux: desc.rtcpMux });
    } else if (!repeated) {
      await (y.leg as WebrtcLeg).acceptAnswer(raw);
    }
    if (repeated) {
      // Another answer to the offer we already answered: the last one decides where media goes.
      this.#rewire();
      return x.answer!;
    }
    const offer = x.offer!;
    const chosen = codecsToAnswer(offer.desc.codecs, desc.codecs);
    let out: string;
    if (x.kind === 'plain') {
      const leg = await this.#plainLeg(x);
      x.local = chosen;
      out = plainSdp({
        sessionId: this.#sessionId,
        version: x.version++,
        address: this.#legs.advertise,
        port: leg.port,
        codecs: chosen,
        direction: desc.direction,
        ptime: desc.ptime,
        answering: { mLines: offer.desc.mLines, audioIndex: offer.desc.audioIndex },
      });
    } else {
      let leg = x.leg as WebrtcLeg | undefined;
      if (leg === undefined) {
        if (chosen.length === 0) throw new RelayRefusal('no-common-codec', 488, 'Not Acceptable Here');
        leg = this.#legs.webrtc(chosen);
        this.#attach(x, leg);
        x.local = chosen;
      }
      out = await leg.answer(offer.raw, desc.direction);
    }
    x.answer = out;
    this.#pendingFrom = undefined;
    this.#rewire();
    return out;
  }

  /** A re-offer toward a leg whose codecs are fixed (a werift peer) offers only those. */
  #keepNegotiated(candidates: AudioCodec[], negotiated: readonly AudioCodec[]): AudioCodec[] {
    if (negotiated.length === 0) return candidates;
    const keys = new Set(negotiated.map((c) => `${c.name.toLowerCase()}/${c.rate}`));
    const kept = candidates.filter((c) => keys.has(`${c.name.toLowerCase()}/${c.rate}`));
    return kept.length > 0 ? kept : candidates;
  }

  async #plainLeg(side: Side): Promise<PlainLeg> {
    if (side.leg instanceof PlainLeg) return side.leg;
    const leg = await this.#legs.plain();
    if (this.#closed) {
      await this.#legs.release(leg);
      throw new RelayRefusal('negotiation', 500, 'Call Ended');
    }
    this.#attach(side, leg);
    return leg;
  }

  #attach(side: Side, leg: MediaLeg): void {
    side.leg = leg;
    leg.onRtp = side.forward.sink;
  }

  /** Payload-type tables and targets for both directions, after any SDP. */
  #rewire(): void {
    const { caller, callee } = this.#sides;
    for (const [from, to] of [[caller, callee], [callee, caller]] as const) {
      const keys = ptKeys(from.remote, from.local);
      from.forward.map = payloadTypeMap(keys, to.remote, to.local);
      from.forward.events = eventPayloadTypes(from.remote, from.local);
      from.forward.to = to.leg;
    }
  }

  #run<T>(op: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(() => {
      if (this.#closed) throw new RelayRefusal('negotiation', 500, 'Call Ended');
      return op();
    });
    this.#queue = next.catch(() => undefined);
    return next;
  }

  /** Free both legs; idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const legs: MediaLeg[] = [];
    for (const s of [this.#sides.caller, this.#sides.callee]) {
      s.forward.to = undefined;
      if (s.leg !== undefined) legs.push(s.leg);
      s.leg = undefined;
    }
    await Promise.all(legs.map((l) => this.#legs.release(l)));
  }
}

function other(side: SideName): SideName {
  return side === 'caller' ? 'callee' : 'caller';
}
