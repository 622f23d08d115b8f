/**
 * An in-process werift RTCPeerConnection playing the browser's media for
 * integration tests: full ICE (controlling) on 127.0.0.1, DTLS-SRTP, BUNDLE,
 * rtcp-mux, offering Opus, PCMU and telephone-event at 48000 and 8000 as
 * Chrome does. It sends RTP with its own header through the DTLS transport
 * and counts what arrives per payload type. `close()` frees everything.
 */
import { RTCPeerConnection, RTCRtpCodecParameters, RtpHeader, type RTCRtpTransceiver } from 'werift';

export type Direction = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';

export class WeriftBrowser {
  readonly pc: RTCPeerConnection;
  readonly transceiver: RTCRtpTransceiver;
  /** Packets received per payload type. */
  readonly received = new Map<number, number>();
  /** SSRCs seen on what arrived, and the last sequence number (continuity checks). */
  readonly ssrcs = new Set<number>();
  readonly sequence: number[] = [];
  #seq = Math.floor(Math.random() * 30000);
  #ts = Math.floor(Math.random() * 1e9);
  #subscribed = false;

  constructor(codecs: RTCRtpCodecParameters[] = chromeLikeCodecs()) {
    this.pc = new RTCPeerConnection({ iceServers: [], iceAdditionalHostAddresses: ['127.0.0.1'], iceUseIpv6: false, iceUseTcp: false, bundlePolicy: 'max-bundle', codecs: { audio: codecs } });
    this.transceiver = this.pc.addTransceiver('audio', { direction: 'sendrecv' });
  }

  totalReceived(pt?: number): number {
    if (pt !== undefined) return this.received.get(pt) ?? 0;
    let n = 0;
    for (const v of this.received.values()) n += v;
    return n;
  }

  /** A complete offer (all candidates gathered). */
  async offer(direction: Direction = 'sendrecv'): Promise<string> {
    this.transceiver.setDirection(direction);
    await this.pc.setLocalDescription(await this.pc.createOffer());
    await this.#gathered();
    this.#subscribe();
    return this.pc.localDescription!.sdp;
  }

  async accept(answer: string): Promise<void> {
    await this.pc.setRemoteDescription({ type: 'answer', sdp: answer });
  }

  /** Answer an offer from the far side (the SBC re-offering, say). */
  async answer(offer: string, direction?: Direction): Promise<string> {
    await this.pc.setRemoteDescription({ type: 'offer', sdp: offer });
    if (direction !== undefined) this.transceiver.setDirection(direction);
    await this.pc.setLocalDescription(await this.pc.createAnswer());
    await this.#gathered();
    this.#subscribe();
    return this.pc.localDescription!.sdp;
  }

  connected(timeoutMs = 5000): Promise<void> {
    if (this.pc.connectionState === 'connected') return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`werift browser not connected within ${timeoutMs} ms (${this.pc.connectionState})`)), timeoutMs);
      const sub = this.pc.connectionStateChange.subscribe((s) => {
        if (s !== 'connected') return;
        clearTimeout(timer);
        sub.unSubscribe();
        resolve();
      });
    });
  }

  /** `count` audio packets of payload type `pt`, 20 ms apart. */
  async sendAudio(count: number, pt: number, intervalMs = 20): Promise<void> {
    for (let i = 0; i < count; i++) {
      this.#send(pt, Buffer.alloc(160, 0xd5), i === 0, 160);
      await sleep(intervalMs);
    }
  }

  /** One RFC 4733 event (3 packets + 3 end packets, one timestamp). */
  async sendDtmf(event: number, pt: number): Promise<void> {
    const ts = this.#ts;
    for (let i = 0; i < 6; i++) {
      const end = i >= 3;
      const payload = Buffer.from([event, (end ? 0x80 : 0) | 10, 0, (i + 1) * 160 >> 8 & 0xff]);
      payload.writeUInt16BE(Math.min(0xffff, (i + 1) * 160), 2);
      this.#send(pt, payload, i === 0, 0, ts);
      await sleep(20);
    }
    this.#ts += 960;
  }

  async close(): Promise<void> {
    await this.pc.close();
  }

  #send(pt: number, payload: Buffer, marker: boolean, tsStep: number, ts?: number): void {
    const header = new RtpHeader({ payloadType: pt, sequenceNumber: this.#seq, timestamp: ts ?? this.#ts, ssrc: this.transceiver.sender.ssrc, marker });
    this.#seq = (this.#seq + 1) & 0xffff;
    this.#ts = (this.#ts + tsStep) >>> 0;
    void this.transceiver.sender.dtlsTransport.sendRtp(payload, header);
  }

  #subscribe(): void {
    if (this.#subscribed) return;
    this.#subscribed = true;
    this.transceiver.dtlsTransport.onRtp.subscribe((rtp) => {
      const pt = rtp.header.payloadType;
      this.received.set(pt, (this.received.get(pt) ?? 0) + 1);
      this.ssrcs.add(rtp.header.ssrc);
      if (this.sequence.length < 10_000) this.sequence.push(rtp.header.sequenceNumber);
    });
  }

  async #gathered(): Promise<void> {
    if (this.pc.iceGatheringState === 'complete') return;
    await new Promise<void>((resolve) => {
      const sub = this.pc.iceGatheringStateChange.subscribe((s) => {
        if (s !== 'complete') return;
        sub.unSubscribe();
        resolve();
      });
    });
  }
}

/** Chrome's audio offer: Opus, PCMU, PCMA, telephone-event/48000 and /8000. */
export function chromeLikeCodecs(): RTCRtpCodecParameters[] {
  return [
    new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48000, channels: 2, payloadType: 111 }),
    new RTCRtpCodecParameters({ mimeType: 'audio/PCMU', clockRate: 8000, channels: 1, payloadType: 0 }),
    new RTCRtpCodecParameters({ mimeType: 'audio/PCMA', clockRate: 8000, channels: 1, payloadType: 8 }),
    new RTCRtpCodecParameters({ mimeType: 'audio/telephone-event', clockRate: 48000, channels: 1, payloadType: 110 }),
    new RTCRtpCodecParameters({ mimeType: 'audio/telephone-event', clockRate: 8000, channels: 1, payloadType: 126 }),
  ];
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
