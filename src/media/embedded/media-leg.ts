/** What a session needs from one side's media, WebRTC or plain RTP. */

/** Receives one RTP packet's fields; `payload` is only valid during the call. */
export type RtpSink = (payload: Buffer, pt: number, marker: boolean, seq: number, ts: number, ssrc: number) => void;

/** Counters one side kind (webrtc or plain) shares across its legs; flushed into metrics by the relay. */
export class SideCounters {
  packetsIn = 0;
  bytesIn = 0;
  packetsOut = 0;
  bytesOut = 0;
  /** Datagrams from a source other than the latched one. */
  foreignSource = 0;
  /** Datagrams that are not RTP/RTCP. */
  malformed = 0;
  /** RTP with a payload type the other side was not offered. */
  unknownPayloadType = 0;
  /** Packets the far end reported lost (RTCP receiver reports). */
  lost = 0;
  /** RFC 4733 events received from this side. */
  dtmfEvents = 0;
}

export interface MediaLeg {
  readonly kind: 'webrtc' | 'plain';
  /** The even port of our pair. */
  readonly port: number;
  /** Where received RTP goes. */
  onRtp: RtpSink | undefined;
  /** performance.now() of the last RTP received, 0 for none. */
  readonly lastReceived: number;
  sendRtp(payload: Buffer, pt: number, marker: boolean, seq: number, ts: number, ssrc: number): void;
  /** Frees sockets (and the peer connection); idempotent. */
  close(): Promise<void>;
}
