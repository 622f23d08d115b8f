/**
 * A browser-shaped phone without a browser, for tests and benches that need
 * many WebRTC calls quickly: SIP over WebSocket (one connection per phone)
 * with a werift RTCPeerConnection per call (ICE, DTLS-SRTP, rtcp-mux,
 * BUNDLE), audio only. It offers (calls out) or answers (calls in); it sends
 * RTP on demand and counts what arrives. Chromium remains the peer that
 * proves the relay works with a real browser (PEERS.md, werift); this one is
 * for counting sockets and for load.
 *
 * Over WS nothing is retransmitted (RFC 3261 §17.1.1.2: reliable transport).
 * `close()` closes every peer connection and the WebSocket.
 */
import { RTCPeerConnection, RTCRtpCodecParameters, RtpHeader, RtpPacket, type RTCRtpTransceiver } from 'werift';
import type { SipRequest, SipResponse } from '../../src/sip/message.js';
import { rand, request, response, SipPeer, uacRouteSet, uasRouteSet, type Received } from './sip-peer.js';

/** PCMU and telephone-event (payload type `eventPt`), the codecs every plain phone can do. */
export function audioCodecs(eventPt = 101): RTCRtpCodecParameters[] {
  return [
    new RTCRtpCodecParameters({ mimeType: 'audio/PCMU', clockRate: 8000, channels: 1, payloadType: 0 }),
    new RTCRtpCodecParameters({ mimeType: 'audio/telephone-event', clockRate: 8000, channels: 1, payloadType: eventPt, parameters: '0-16' }),
  ];
}

/** RFC 4733 §3.2 event codes 0-15 as DTMF characters. */
const DTMF_EVENTS = '0123456789*#ABCD';
/** Received packets' headers kept per call, for continuity checks. */
const MAX_HEADERS_KEPT = 20_000;

/** What a received packet's header said. */
export interface ReceivedHeader {
  payloadType: number;
  ssrc: number;
  sequenceNumber: number;
  timestamp: number;
}

/** ms to wait for ICE gathering (host candidates on loopback take a few ms). */
const GATHER_TIMEOUT_MS = 5000;

interface Dialog {
  callId: string;
  localTag: string;
  remoteTag: string;
  localUri: string;
  remoteUri: string;
  remoteTarget: string;
  routeSet: string[];
  cseq: number;
}

/** One call: its peer connection, counters and the SIP dialog. */
export class WeriftCall {
  readonly pc: RTCPeerConnection;
  readonly callId: string;
  /** RTP packets that arrived (decrypted) on the call's audio track. */
  packetsReceived = 0;
  packetsSent = 0;
  /** Called for each RTP packet received, after counting. */
  onRtp: ((rtp: RtpPacket) => void) | undefined;
  /** Packets received per payload type. */
  readonly payloadTypes = new Map<number, number>();
  /** Headers of the packets received, oldest first (bounded); only when `keepHeaders` is set. */
  readonly headers: ReceivedHeader[] = [];
  keepHeaders = false;
  /** The SDP the far side sent (answer, or offer for an incoming call). */
  remoteSdp = '';
  /** Set when the far end sent BYE. */
  endedByRemote = false;
  dialog: Dialog | undefined;
  readonly #transceiver: RTCRtpTransceiver;
  #seq = Math.floor(Math.random() * 0xffff);
  #timestamp = (Math.random() * 0xffffffff) >>> 0;
  #closed = false;
  readonly ended: Promise<void>;
  #resolveEnded!: () => void;

  constructor(callId: string, pc: RTCPeerConnection, transceiver: RTCRtpTransceiver) {
    this.callId = callId;
    this.pc = pc;
    this.#transceiver = transceiver;
    this.ended = new Promise((resolve) => { this.#resolveEnded = resolve; });
    const listen = (track: { onReceiveRtp: { subscribe(f: (rtp: RtpPacket) => void): unknown } }): void => {
      track.onReceiveRtp.subscribe((rtp) => {
        this.packetsReceived++;
        const h = rtp.header;
        this.payloadTypes.set(h.payloadType, (this.payloadTypes.get(h.payloadType) ?? 0) + 1);
        if (this.keepHeaders && this.headers.length < MAX_HEADERS_KEPT) {
          this.headers.push({ payloadType: h.payloadType, ssrc: h.ssrc, sequenceNumber: h.sequenceNumber, timestamp: h.timestamp });
        }
        this.onRtp?.(rtp);
      });
    };
    // An answerer's track exists once the offer is applied, before this object does.
    for (const track of transceiver.receiver.tracks) listen(track);
    transceiver.onTrack.subscribe((track) => listen(track));
  }

  /** Resolves when DTLS is up (connectionState `connected`); rejects on failure or after `timeoutMs`. */
  connected(timeoutMs = 10_000): Promise<void> {
    if (this.pc.connectionState === 'connected') return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        sub.unSubscribe();
        reject(new Error(`call ${this.callId}: WebRTC not connected within ${timeoutMs} ms (ice ${this.pc.iceConnectionState}, dtls ${this.pc.connectionState})`));
      }, timeoutMs);
      const sub = this.pc.connectionStateChange.subscribe((state) => {
        if (state === 'connected') {
          clearTimeout(timer);
          sub.unSubscribe();
          resolve();
        } else if (state === 'failed' || state === 'closed') {
          clearTimeout(timer);
          sub.unSubscribe();
          reject(new Error(`call ${this.callId}: WebRTC ${state}`));
        }
      });
    });
  }

  /** One 20 ms PCMU packet carrying `payload` (160 bytes when omitted). */
  send(payload: Buffer = Buffer.alloc(160, 0xff)): void {
    if (this.#closed) return;
    this.#seq = (this.#seq + 1) & 0xffff;
    this.#timestamp = (this.#timestamp + 160) >>> 0;
    const sender = this.#transceiver.sender;
    this.packetsSent++;
    // The lean path (as the relay sends): our header as is, with the SSRC our SDP signalled;
    // sender.sendRtp would re-serialize through werift's own sender state first.
    const header = new RtpHeader({ payloadType: 0, sequenceNumber: this.#seq, timestamp: this.#timestamp, ssrc: sender.ssrc, marker: false });
    const dtls = sender.dtlsTransport;
    if (dtls !== undefined && this.pc.connectionState === 'connected') {
      dtls.sendRtp(payload, header).catch(() => undefined);
    } else {
      sender.sendRtp(new RtpPacket(header, payload)).catch(() => undefined);
    }
  }

  /**
   * One DTMF digit as RFC 4733 telephone-event with payload type `pt`: three
   * packets of one event (same timestamp), the last with the E bit, 20 ms apart.
   */
  async sendEvent(digit: string, pt: number): Promise<void> {
    const code = DTMF_EVENTS.indexOf(digit.toUpperCase());
    if (code < 0) throw new Error(`not a DTMF digit: ${digit}`);
    const sender = this.#transceiver.sender;
    const dtls = sender.dtlsTransport;
    if (dtls === undefined) throw new Error('not connected');
    this.#timestamp = (this.#timestamp + 160) >>> 0;
    for (let i = 0; i < 3; i++) {
      this.#seq = (this.#seq + 1) & 0xffff;
      const payload = Buffer.alloc(4);
      payload[0] = code;
      payload[1] = (i === 2 ? 0x80 : 0) | 10; // E bit on the last; volume -10 dBm0
      payload.writeUInt16BE(160 * (i + 1), 2);
      const header = new RtpHeader({ payloadType: pt, sequenceNumber: this.#seq, timestamp: this.#timestamp, ssrc: sender.ssrc, marker: i === 0 });
      this.packetsSent++;
      await dtls.sendRtp(payload, header).catch(() => undefined);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  markEnded(byRemote: boolean): void {
    if (byRemote) this.endedByRemote = true;
    this.#resolveEnded();
  }

  /** Closes the peer connection (idempotent). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#resolveEnded();
    await this.pc.close().catch(() => undefined);
  }
}

export interface WeriftPhoneOptions {
  /** Our user part. @default a random one */
  user?: string;
  /** Address werift gathers host candidates on. @default 127.0.0.1 */
  address?: string;
  /** Payload type we offer telephone-event/8000 with. @default 101 */
  eventPt?: number;
}

/** A WebRTC phone on one WebSocket to the SBC; see the file comment. */
export class WeriftPhone {
  readonly peer: SipPeer;
  readonly user: string;
  readonly #address: string;
  readonly #eventPt: number;
  readonly #calls = new Map<string, WeriftCall>();
  /** Incoming calls answered, waiting for nextIncomingCall(). */
  readonly #incoming: WeriftCall[] = [];
  #incomingWaiters: Array<(c: WeriftCall) => void> = [];
  #closed = false;

  private constructor(peer: SipPeer, options: WeriftPhoneOptions) {
    this.peer = peer;
    this.user = options.user ?? `w${rand(4)}`;
    this.#address = options.address ?? '127.0.0.1';
    this.#eventPt = options.eventPt ?? 101;
    peer.onMessage = (r) => this.#onMessage(r);
  }

  static async connect(url: string, options: WeriftPhoneOptions = {}): Promise<WeriftPhone> {
    return new WeriftPhone(await SipPeer.ws(url), options);
  }

  get contact(): string {
    return `<sip:${this.user}@${this.user}.invalid;transport=ws>`;
  }

  /** Calls in progress (not yet ended). */
  get openCalls(): number {
    return this.#calls.size;
  }

  /** REGISTER our WS Contact for `aor` (through the SBC, Path added there); resolves with the final status. */
  async register(aor: string, expires = 600): Promise<number> {
    const callId = rand(8);
    this.peer.send(request({
      method: 'REGISTER', uri: `sip:${aor.replace(/^sip:[^@]*@/, '')}`, sentBy: `${this.user}.invalid`, viaTransport: 'WS', callId,
      from: `<${aor}>`, to: `<${aor}>`, contact: `${this.contact};expires=${expires}`, headers: ['Supported: path, outbound'],
    }));
    const res = await this.peer.next((r) => r.msg.kind === 'response' && r.msg.callId === callId && r.msg.status >= 200, 10_000);
    return (res.msg as SipResponse).status;
  }

  /** INVITE `target` with a werift offer; resolves once the 2xx is ACKed and its answer applied. */
  async call(target: string, options: { timeoutMs?: number } = {}): Promise<WeriftCall> {
    const pc = this.#newPeerConnection();
    const transceiver = pc.addTransceiver('audio', { direction: 'sendrecv' });
    const callId = rand(8);
    const call = new WeriftCall(callId, pc, transceiver);
    this.#calls.set(callId, call);
    try {
      await pc.setLocalDescription(await pc.createOffer());
      await gathered(pc);
      const offer = pc.localDescription?.sdp ?? '';
      const localTag = rand(4);
      const localUri = `<sip:${this.user}@example.com>`;
      const remoteUri = `<${target}>`;
      this.peer.send(request({
        method: 'INVITE', uri: target, sentBy: `${this.user}.invalid`, viaTransport: 'WS', callId, fromTag: localTag, cseq: 1,
        from: localUri, to: remoteUri, contact: this.contact, body: offer,
      }));
      const final = await this.peer.next((r) => r.msg.kind === 'response' && r.msg.callId === callId && r.msg.cseq()?.method === 'INVITE' && r.msg.status >= 200, options.timeoutMs ?? 15_000);
      const res = final.msg as SipResponse;
      if (res.status >= 300) {
        // The ACK for a failure is the SBC's business hop by hop; over WS it is still sent (RFC 3261 §17.1.1.3).
        this.peer.send(request({ method: 'ACK', uri: target, sentBy: `${this.user}.invalid`, viaTransport: 'WS', branch: res.topVia()?.params.get('branch') ?? undefined, callId, fromTag: localTag, cseq: 1, from: localUri, to: res.headers.get('to') ?? remoteUri }));
        throw new Error(`INVITE ${target}: ${res.status} ${res.reason}`);
      }
      call.dialog = {
        callId, localTag, remoteTag: res.to()?.params.get('tag') ?? '', localUri, remoteUri,
        remoteTarget: contactUri(res.headers.get('contact')) ?? target, routeSet: uacRouteSet(res), cseq: 1,
      };
      this.peer.send(this.#inDialog('ACK', call.dialog, 1));
      call.remoteSdp = res.body.toString('utf8');
      await pc.setRemoteDescription({ type: 'answer', sdp: call.remoteSdp });
      return call;
    } catch (err) {
      this.#calls.delete(callId);
      await call.close();
      throw err;
    }
  }

  /**
   * A re-INVITE in `call` with a fresh offer from the same peer connection
   * (`direction` for hold); resolves with the answer once it is applied and ACKed.
   */
  async reinvite(call: WeriftCall, direction: 'sendrecv' | 'sendonly' | 'inactive' = 'sendrecv', timeoutMs = 10_000): Promise<string> {
    const dialog = call.dialog;
    if (dialog === undefined) throw new Error(`no dialog for call ${call.callId}`);
    const transceiver = call.pc.getTransceivers()[0];
    transceiver?.setDirection(direction);
    await call.pc.setLocalDescription(await call.pc.createOffer());
    dialog.cseq += 1;
    const cseq = dialog.cseq;
    this.peer.send(this.#inDialog('INVITE', dialog, cseq, { contact: this.contact, body: call.pc.localDescription?.sdp ?? '' }));
    const final = await this.peer.next((r) => r.msg.kind === 'response' && r.msg.callId === call.callId && r.msg.cseq()?.seq === cseq && r.msg.status >= 200, timeoutMs);
    const res = final.msg as SipResponse;
    this.peer.send(this.#inDialog('ACK', dialog, cseq));
    if (res.status !== 200) throw new Error(`re-INVITE: ${res.status} ${res.reason}`);
    const answer = res.body.toString('utf8');
    await call.pc.setRemoteDescription({ type: 'answer', sdp: answer });
    return answer;
  }

  /** The next incoming call, answered with a werift answer (including one that already arrived). */
  nextIncomingCall(timeoutMs = 10_000): Promise<WeriftCall> {
    const waiting = this.#incoming.shift();
    if (waiting !== undefined) return Promise.resolve(waiting);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#incomingWaiters = this.#incomingWaiters.filter((w) => w !== take);
        reject(new Error(`${this.user}: no incoming INVITE within ${timeoutMs} ms`));
      }, timeoutMs);
      const take = (c: WeriftCall): void => {
        clearTimeout(timer);
        resolve(c);
      };
      this.#incomingWaiters.push(take);
    });
  }

  /** BYE in `call`; resolves with the final status and closes the peer connection. */
  async hangup(call: WeriftCall, timeoutMs = 10_000): Promise<number> {
    const dialog = call.dialog;
    this.#calls.delete(call.callId);
    if (dialog === undefined) {
      await call.close();
      return 0;
    }
    dialog.cseq += 1;
    const text = this.#inDialog('BYE', dialog);
    this.peer.send(text);
    try {
      const res = await this.peer.next((r) => r.msg.kind === 'response' && r.msg.callId === call.callId && r.msg.cseq()?.method === 'BYE' && r.msg.status >= 200, timeoutMs);
      return (res.msg as SipResponse).status;
    } finally {
      call.markEnded(false);
      await call.close();
    }
  }

  /** Closes every call and the WebSocket. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const calls = [...this.#calls.values(), ...this.#incoming];
    this.#calls.clear();
    this.#incoming.length = 0;
    await Promise.all(calls.map((c) => c.close()));
    this.peer.close();
  }

  #newPeerConnection(): RTCPeerConnection {
    return new RTCPeerConnection({
      iceServers: [],
      iceAdditionalHostAddresses: [this.#address],
      iceUseIpv6: false,
      iceUseTcp: false,
      bundlePolicy: 'max-bundle',
      codecs: { audio: audioCodecs(this.#eventPt), video: [] },
    } as ConstructorParameters<typeof RTCPeerConnection>[0]);
  }

  #inDialog(method: string, dialog: Dialog, cseq = dialog.cseq, extra: { contact?: string; body?: string } = {}): string {
    return request({
      method, uri: dialog.remoteTarget, sentBy: `${this.user}.invalid`, viaTransport: 'WS', callId: dialog.callId, cseq,
      from: dialog.localUri, fromTag: dialog.localTag, to: dialog.remoteUri, toTag: dialog.remoteTag,
      headers: dialog.routeSet.map((route) => `Route: ${route}`), ...extra,
    });
  }

  #onMessage(r: Received): void {
    if (this.#closed || r.msg.kind !== 'request') return;
    const req = r.msg;
    switch (req.method) {
      case 'BYE': {
        const call = this.#calls.get(req.callId ?? '');
        this.peer.send(response(req, call === undefined ? 481 : 200, call === undefined ? 'Call/Transaction Does Not Exist' : 'OK'));
        if (call !== undefined) {
          this.#calls.delete(call.callId);
          call.markEnded(true);
          void call.close();
        }
        return;
      }
      case 'INVITE':
        void this.#onInvite(req).catch(() => this.peer.send(response(req, 500, 'Server Internal Error', { toTag: rand(4) })));
        return;
      case 'ACK':
        return;
      case 'OPTIONS':
        this.peer.send(response(req, 200, 'OK', { toTag: rand(4) }));
        return;
      default:
        this.peer.send(response(req, 405, 'Method Not Allowed', { toTag: rand(4) }));
    }
  }

  async #onInvite(req: SipRequest): Promise<void> {
    const callId = req.callId ?? '';
    const existing = this.#calls.get(callId);
    const sdp = req.body.toString('utf8');
    if (existing !== undefined && req.to()?.params.get('tag') !== undefined) {
      // re-INVITE: answer with the same peer connection.
      await existing.pc.setRemoteDescription({ type: 'offer', sdp });
      const answer = await existing.pc.createAnswer();
      await existing.pc.setLocalDescription(answer);
      this.peer.send(response(req, 200, 'OK', { toTag: existing.dialog?.localTag ?? rand(4), headers: [`Contact: ${this.contact}`], body: existing.pc.localDescription?.sdp ?? '' }));
      return;
    }
    this.peer.send(response(req, 100, 'Trying'));
    const pc = this.#newPeerConnection();
    await pc.setRemoteDescription({ type: 'offer', sdp });
    const transceiver = pc.getTransceivers()[0];
    if (transceiver === undefined) {
      await pc.close();
      this.peer.send(response(req, 488, 'Not Acceptable Here', { toTag: rand(4) }));
      return;
    }
    // A remote-created transceiver answers recvonly unless told otherwise (PEERS.md, werift).
    transceiver.setDirection('sendrecv');
    const call = new WeriftCall(callId, pc, transceiver);
    call.remoteSdp = sdp;
    const localTag = rand(4);
    call.dialog = {
      callId, localTag, remoteTag: req.from()?.params.get('tag') ?? '',
      localUri: req.headers.get('to') ?? '', remoteUri: (req.headers.get('from') ?? '').replace(/;tag=[^;]*/, ''),
      remoteTarget: contactUri(req.headers.get('contact')) ?? '', routeSet: uasRouteSet(req), cseq: 0,
    };
    this.#calls.set(callId, call);
    await pc.setLocalDescription(await pc.createAnswer());
    await gathered(pc);
    this.peer.send(response(req, 200, 'OK', { toTag: localTag, headers: [`Contact: ${this.contact}`], body: pc.localDescription?.sdp ?? '' }));
    const waiter = this.#incomingWaiters.shift();
    if (waiter !== undefined) waiter(call);
    else this.#incoming.push(call);
  }
}

/** Resolves when werift has gathered its host candidates (they are in localDescription then). */
async function gathered(pc: RTCPeerConnection): Promise<void> {
  if (pc.iceGatheringState === 'complete') return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(done, GATHER_TIMEOUT_MS);
    const sub = pc.iceGatheringStateChange.subscribe((state) => {
      if (state === 'complete') done();
    });
    function done(): void {
      clearTimeout(timer);
      sub.unSubscribe();
      resolve();
    }
  });
}

function contactUri(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const angle = /<([^>]+)>/.exec(value);
  return angle ? angle[1] : value.split(';')[0]?.trim();
}
