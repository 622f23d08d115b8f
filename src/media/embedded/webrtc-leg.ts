/**
 * The browser side of a call: one werift RTCPeerConnection, audio only,
 * ICE-lite on one host candidate (our port pair as its port range, bound to
 * media.embedded.address, advertised as media.embedded.advertise), DTLS-SRTP
 * with the relay's one certificate, rtcp-mux and BUNDLE (PEERS.md, werift).
 *
 * The RTP path bypasses werift's receivers and senders: packets come straight
 * from the DTLS transport (werift's router would drop SSRCs the SDP does not
 * name and parse every header extension) and leave through
 * `dtlsTransport.sendRtp` with our own header (`sender.sendRtp` rewrites the
 * payload type and SSRC, so telephone-event would leave as the audio codec).
 * Toward the browser the SSRC, sequence number and timestamp stay continuous
 * whatever the other side does (a re-INVITE, a new fork, a new phone).
 */
import { RTCPeerConnection, RTCRtpCodecParameters, RtpHeader, type RTCCertificate, type RTCRtpTransceiver, type RTCDtlsTransport, type RtpPacket } from 'werift';
import { isTelephoneEvent, sdpForWerift, sdpFromWerift, type AudioCodec, type MediaDirection } from './audio-sdp.js';
import type { MediaLeg, RtpSink, SideCounters } from './media-leg.js';

const GATHER_TIMEOUT_MS = 2000;

export interface WebrtcLegOptions {
  bindAddress: string;
  advertise: string;
  /** Even port: werift binds within [port, port + 1]. */
  port: number;
  certificate: RTCCertificate;
  /** Codecs this peer may negotiate, with the payload types to use. */
  codecs: readonly AudioCodec[];
  counters: SideCounters;
}

/** Thrown when werift produced no candidate (its port range was taken): the call gets 503. */
export class NoCandidateError extends Error {
  constructor() {
    super('the WebRTC peer gathered no ICE candidate');
    this.name = 'NoCandidateError';
  }
}

export class WebrtcLeg implements MediaLeg {
  readonly kind = 'webrtc' as const;
  readonly port: number;
  onRtp: RtpSink | undefined;
  lastReceived = 0;
  readonly #pc: RTCPeerConnection;
  readonly #advertise: string;
  readonly #counters: SideCounters;
  readonly #eventRate: number | undefined;
  readonly #rateByPt = new Map<number, number>();
  #transceiver: RTCRtpTransceiver | undefined;
  #dtls: RTCDtlsTransport | undefined;
  /** Reused for every packet sent: werift serializes it synchronously inside sendRtp. */
  readonly #header = new RtpHeader();
  // Continuity toward the browser (RFC 3550 §5.1: one SSRC, no gaps in sequence).
  #inSsrc = -1;
  #seqOffset = 0;
  #tsOffset = 0;
  #lastSeq = 0;
  #lastTs = 0;
  #lastSentAt = 0;
  #sentAny = false;
  /** Highest cumulative loss the browser reported for our SSRC. */
  #reportedLost = 0;
  #closed = false;

  constructor(options: WebrtcLegOptions) {
    this.port = options.port;
    this.#advertise = options.advertise;
    this.#counters = options.counters;
    const audio = options.codecs.find((c) => !isTelephoneEvent(c));
    this.#eventRate = audio?.rate;
    for (const c of options.codecs) this.#rateByPt.set(c.pt, c.rate);
    this.#pc = new RTCPeerConnection({
      iceLite: true,
      iceServers: [],
      icePortRange: [options.port, options.port + 1],
      iceInterfaceAddresses: { udp4: options.bindAddress, udp6: undefined } as never,
      // Only a label for the candidate (the socket binds the interface address): with 0.0.0.0 the
      // advertised address, so a host with no other interface still gets a candidate.
      iceAdditionalHostAddresses: [options.bindAddress === '0.0.0.0' ? options.advertise : options.bindAddress],
      iceUseIpv6: false,
      iceUseTcp: false,
      bundlePolicy: 'max-bundle',
      certificates: [options.certificate],
      codecs: {
        audio: options.codecs.map(
          (c) =>
            new RTCRtpCodecParameters({
              mimeType: `audio/${c.name}`,
              clockRate: c.rate,
              channels: c.channels,
              payloadType: c.pt,
              ...(c.fmtp !== undefined ? { parameters: c.fmtp } : {}),
            }),
        ),
      },
      headerExtensions: { audio: [] },
    });
    this.#header.ssrc = 0;
  }

  /** Answer the browser's offer (initial or re-offer) with `direction` as ours. */
  async answer(offer: string, direction: MediaDirection): Promise<string> {
    await this.#pc.setRemoteDescription({ type: 'offer', sdp: sdpForWerift(offer, this.#eventRate) });
    const tr = this.#pc.getTransceivers().find((t) => t.kind === 'audio');
    if (tr === undefined) throw new Error('no audio transceiver after the offer');
    // A transceiver werift created for the remote offer answers recvonly unless told (PEERS.md).
    tr.setDirection(direction);
    await this.#pc.setLocalDescription(await this.#pc.createAnswer());
    this.#attach(tr);
    return this.#localSdp();
  }

  /** Our offer toward the browser (initial, or a re-offer with a new direction). */
  async offer(direction: MediaDirection): Promise<string> {
    let tr = this.#transceiver;
    if (tr === undefined) tr = this.#pc.addTransceiver('audio', { direction });
    else tr.setDirection(direction);
    await this.#pc.setLocalDescription(await this.#pc.createOffer());
    this.#attach(tr);
    return this.#localSdp();
  }

  /** The browser's answer to our offer. */
  async acceptAnswer(answer: string): Promise<void> {
    await this.#pc.setRemoteDescription({ type: 'answer', sdp: sdpForWerift(answer, this.#eventRate) });
  }

  get ssrc(): number {
    return this.#transceiver?.sender.ssrc ?? 0;
  }

  get connectionState(): string {
    return this.#pc.connectionState;
  }

  sendRtp(payload: Buffer, pt: number, marker: boolean, seq: number, ts: number, ssrc: number): void {
    const dtls = this.#dtls;
    if (dtls === undefined || !dtls.srtpStarted || this.#closed) return;
    if (ssrc !== this.#inSsrc) {
      // A new source (another fork, a re-INVITE to a new phone): carry on where we were.
      const now = performance.now();
      const rate = this.#rateByPt.get(pt) ?? 8000;
      const gap = this.#sentAny ? Math.max(1, Math.round(((now - this.#lastSentAt) * rate) / 1000)) : 0;
      this.#seqOffset = this.#sentAny ? (this.#lastSeq + 1 - seq) & 0xffff : 0;
      this.#tsOffset = this.#sentAny ? (this.#lastTs + gap - ts) >>> 0 : 0;
      this.#inSsrc = ssrc;
    }
    const h = this.#header;
    h.payloadType = pt;
    h.marker = marker;
    h.sequenceNumber = (seq + this.#seqOffset) & 0xffff;
    h.timestamp = (ts + this.#tsOffset) >>> 0;
    h.ssrc = this.ssrc;
    this.#lastSeq = h.sequenceNumber;
    this.#lastTs = h.timestamp;
    this.#lastSentAt = performance.now();
    this.#sentAny = true;
    this.#counters.packetsOut++;
    this.#counters.bytesOut += payload.length + 12;
    void dtls.sendRtp(payload, h);
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    this.onRtp = undefined;
    return this.#pc.close().catch(() => undefined);
  }

  #attach(tr: RTCRtpTransceiver): void {
    this.#transceiver = tr;
    const dtls = tr.dtlsTransport;
    if (dtls === this.#dtls) return;
    this.#dtls = dtls;
    // Our own receive path instead of werift's router (see the file comment).
    dtls.onRtp.allUnsubscribe();
    dtls.onRtp.subscribe((rtp: RtpPacket) => {
      const c = this.#counters;
      c.packetsIn++;
      c.bytesIn += rtp.payload.length + 12;
      this.lastReceived = performance.now();
      const h = rtp.header;
      this.onRtp?.(rtp.payload, h.payloadType, h.marker, h.sequenceNumber, h.timestamp, h.ssrc);
    });
    // The browser's receiver reports on what we send it (RFC 3550 §6.4): cumulative loss for metrics.
    dtls.onRtcp.subscribe((rtcp) => {
      if (rtcp.type !== 200 && rtcp.type !== 201) return;
      for (const r of (rtcp as { reports?: Array<{ ssrc: number; packetsLost: number }> }).reports ?? []) {
        if (r.ssrc !== this.ssrc || r.packetsLost <= this.#reportedLost) continue;
        this.#counters.lost += r.packetsLost - this.#reportedLost;
        this.#reportedLost = r.packetsLost;
      }
    });
  }

  async #localSdp(): Promise<string> {
    const pc = this.#pc;
    if (pc.iceGatheringState !== 'complete') {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          sub.unSubscribe();
          resolve();
        }, GATHER_TIMEOUT_MS);
        const sub = pc.iceGatheringStateChange.subscribe((s) => {
          if (s !== 'complete') return;
          clearTimeout(timer);
          sub.unSubscribe();
          resolve();
        });
      });
    }
    const sdp = pc.localDescription?.sdp ?? '';
    if (!sdp.includes('a=candidate:')) throw new NoCandidateError();
    return sdpFromWerift(sdp, this.#advertise);
  }
}
