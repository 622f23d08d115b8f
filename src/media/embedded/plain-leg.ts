/**
 * The plain-RTP side of a call: a UDP socket pair (RTP on the even port, RTCP
 * on the next, or RTCP on the RTP port with rtcp-mux). Symmetric RTP (RFC
 * 4961): we send to where the party's RTP comes from, latched on the first
 * packet, so phones behind NAT work; a packet from the address its SDP names
 * takes the latch back. Datagrams from anyone else, and anything that is not
 * RTP version 2, are counted and dropped.
 */
import { createSocket, type Socket } from 'node:dgram';
import type { MediaLeg, RtpSink, SideCounters } from './media-leg.js';

/** RTCP packet types SR..APP (RFC 3550 §12.1) as the second byte, for rtcp-mux demultiplexing (RFC 5761 §4). */
function isRtcpType(b: number): boolean {
  return b >= 192 && b <= 223;
}

export interface PlainRemote {
  address: string;
  port: number;
  rtcpPort: number | undefined;
  rtcpMux: boolean;
}

export class PlainLeg implements MediaLeg {
  readonly kind = 'plain' as const;
  readonly port: number;
  onRtp: RtpSink | undefined;
  lastReceived = 0;
  readonly #rtp: Socket;
  readonly #rtcp: Socket;
  readonly #counters: SideCounters;
  #remote: PlainRemote | undefined;
  /** Latched source (symmetric RTP). */
  #latchedAddress: string | undefined;
  #latchedPort = 0;
  /** Highest cumulative loss seen in the party's receiver reports. */
  #reportedLost = 0;
  // What the sender report (RFC 3550 §6.4.1) says about our stream toward the party.
  #sentPackets = 0;
  #sentOctets = 0;
  #lastSsrc = -1;
  #lastTs = 0;
  #closed = false;

  private constructor(port: number, rtp: Socket, rtcp: Socket, counters: SideCounters) {
    this.port = port;
    this.#rtp = rtp;
    this.#rtcp = rtcp;
    this.#counters = counters;
    rtp.on('message', (buf, rinfo) => this.#onRtpDatagram(buf, rinfo.address, rinfo.port));
    rtcp.on('message', (buf) => this.#onRtcp(buf));
    // A send to an unreachable port, say: nothing to do but carry on.
    rtp.on('error', () => undefined);
    rtcp.on('error', () => undefined);
  }

  /** Bind `port` and `port + 1` on `address`; rejects (both closed) when either is taken. */
  static async open(address: string, port: number, counters: SideCounters): Promise<PlainLeg> {
    const rtp = createSocket({ type: 'udp4', reuseAddr: false });
    const rtcp = createSocket({ type: 'udp4', reuseAddr: false });
    try {
      await Promise.all([bind(rtp, address, port), bind(rtcp, address, port + 1)]);
    } catch (err) {
      closeQuietly(rtp);
      closeQuietly(rtcp);
      throw err;
    }
    return new PlainLeg(port, rtp, rtcp, counters);
  }

  /** Where the party's SDP says to send; a changed address drops the latch (re-INVITE with a new address). */
  setRemote(remote: PlainRemote): void {
    const old = this.#remote;
    if (old === undefined || old.address !== remote.address || old.port !== remote.port) this.#latchedAddress = undefined;
    this.#remote = remote;
  }

  get remote(): PlainRemote | undefined {
    return this.#remote;
  }

  sendRtp(payload: Buffer, pt: number, marker: boolean, seq: number, ts: number, ssrc: number): void {
    if (this.#closed) return;
    const address = this.#latchedAddress ?? this.#remote?.address;
    const port = this.#latchedAddress !== undefined ? this.#latchedPort : this.#remote?.port;
    if (address === undefined || port === undefined || port === 0 || address === '0.0.0.0') return;
    const out = Buffer.allocUnsafe(12 + payload.length);
    out[0] = 0x80;
    out[1] = (marker ? 0x80 : 0) | pt;
    out.writeUInt16BE(seq & 0xffff, 2);
    out.writeUInt32BE(ts >>> 0, 4);
    out.writeUInt32BE(ssrc >>> 0, 8);
    payload.copy(out, 12);
    this.#sentPackets++;
    this.#sentOctets += payload.length;
    this.#lastSsrc = ssrc >>> 0;
    this.#lastTs = ts >>> 0;
    this.#counters.packetsOut++;
    this.#counters.bytesOut += out.length;
    this.#rtp.send(out, port, address);
  }

  /**
   * A minimal RTCP sender report for what we sent since the call began
   * (RFC 3550 §6.4.1, no report blocks): phones and gateways that watch
   * RTCP see a live stream. Sent on the RTCP port, or the RTP port with
   * rtcp-mux; nothing before we have sent RTP.
   */
  sendReport(): void {
    if (this.#closed || this.#lastSsrc < 0) return;
    const r = this.#remote;
    const address = this.#latchedAddress ?? r?.address;
    if (address === undefined || r === undefined || r.port === 0 || address === '0.0.0.0') return;
    const rtpPort = this.#latchedAddress !== undefined ? this.#latchedPort : r.port;
    const port = r.rtcpMux ? rtpPort : this.#latchedAddress !== undefined ? rtpPort + 1 : (r.rtcpPort ?? r.port + 1);
    const sr = Buffer.alloc(28);
    sr[0] = 0x80;
    sr[1] = 200;
    sr.writeUInt16BE(6, 2);
    sr.writeUInt32BE(this.#lastSsrc, 4);
    const ms = Date.now() + 2_208_988_800_000; // NTP epoch 1900
    sr.writeUInt32BE(Math.floor(ms / 1000) >>> 0, 8);
    sr.writeUInt32BE(Math.floor(((ms % 1000) / 1000) * 0x100000000) >>> 0, 12);
    sr.writeUInt32BE(this.#lastTs, 16);
    sr.writeUInt32BE(this.#sentPackets >>> 0, 20);
    sr.writeUInt32BE(this.#sentOctets >>> 0, 24);
    (r.rtcpMux ? this.#rtp : this.#rtcp).send(sr, port, address);
  }

  #onRtpDatagram(buf: Buffer, address: string, port: number): void {
    const c = this.#counters;
    if (buf.length < 12 || buf[0]! >> 6 !== 2) {
      c.malformed++;
      return;
    }
    if (isRtcpType(buf[1]!)) {
      // rtcp-mux: RTCP on the RTP port.
      this.#onRtcp(buf);
      return;
    }
    if (this.#latchedAddress === undefined) {
      this.#latchedAddress = address;
      this.#latchedPort = port;
    } else if (this.#latchedAddress !== address || this.#latchedPort !== port) {
      const r = this.#remote;
      if (r !== undefined && r.address === address && r.port === port) {
        this.#latchedAddress = address;
        this.#latchedPort = port;
      } else {
        c.foreignSource++;
        return;
      }
    }
    let offset = 12 + 4 * (buf[0]! & 0x0f);
    if ((buf[0]! & 0x10) !== 0) {
      if (buf.length < offset + 4) {
        c.malformed++;
        return;
      }
      offset += 4 + 4 * buf.readUInt16BE(offset + 2);
    }
    let end = buf.length;
    if ((buf[0]! & 0x20) !== 0) end -= buf[end - 1]!;
    if (end < offset) {
      c.malformed++;
      return;
    }
    c.packetsIn++;
    c.bytesIn += buf.length;
    this.lastReceived = performance.now();
    const second = buf[1]!;
    this.onRtp?.(buf.subarray(offset, end), second & 0x7f, (second & 0x80) !== 0, buf.readUInt16BE(2), buf.readUInt32BE(4), buf.readUInt32BE(8));
  }

  /** Receiver report blocks (RFC 3550 §6.4): the party's cumulative loss of what we sent. */
  #onRtcp(buf: Buffer): void {
    let off = 0;
    let worst = -1;
    while (off + 8 <= buf.length) {
      const b0 = buf[off]!;
      if (b0 >> 6 !== 2) break;
      const type = buf[off + 1]!;
      const length = (buf.readUInt16BE(off + 2) + 1) * 4;
      if (off + length > buf.length) break;
      const count = b0 & 0x1f;
      const first = type === 200 ? off + 28 : type === 201 ? off + 8 : -1;
      if (first >= 0) {
        for (let i = 0; i < count && first + 24 * (i + 1) <= off + length; i++) {
          const lost = buf.readUIntBE(first + 24 * i + 5, 3);
          if (lost < 0x800000 && lost > worst) worst = lost;
        }
      }
      off += length;
    }
    if (worst > this.#reportedLost) {
      this.#counters.lost += worst - this.#reportedLost;
      this.#reportedLost = worst;
    }
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    this.onRtp = undefined;
    return Promise.all([closeSocket(this.#rtp), closeSocket(this.#rtcp)]).then(() => undefined);
  }
}

function bind(socket: Socket, address: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    socket.once('error', onError);
    socket.bind(port, address, () => {
      socket.off('error', onError);
      resolve();
    });
  });
}

function closeSocket(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    try {
      socket.close(() => resolve());
    } catch {
      resolve();
    }
  });
}

function closeQuietly(socket: Socket): void {
  try {
    socket.close();
  } catch {
    // never bound
  }
}
