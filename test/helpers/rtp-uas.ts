/**
 * A scripted plain-RTP phone over UDP for media tests: the far end a browser
 * talks to through the SBC and rtpengine. Built on {@link SipPeer}.
 *
 * - As UAS it answers INVITE with 100, 180 and 200 carrying an RTP/AVP SDP
 *   (PCMU or PCMA, whichever the offer lists first, plus telephone-event),
 *   answers re-INVITE 200 with its SDP (direction mirrored: a `sendonly` hold
 *   gets `recvonly`), BYE 200, OPTIONS 200.
 * - As UAC it REGISTERs at a registrar, places a call with its SDP to a URI
 *   through a given next hop, and sends BYE in a dialog along the route set.
 * - Each call has its own RTP socket ({@link RtpEndpoint}) that counts what
 *   arrives, echoes it back to where it came from (so a browser hears its own
 *   fake-microphone beep) and decodes RFC 4733 telephone-events into digits.
 *
 * Everything is bounded and `close()` closes every socket and timer.
 */
import { createSocket, type Socket } from 'node:dgram';
import type { SipRequest, SipResponse } from '../../src/sip/message.js';
import { parseUri } from '../../src/sip/uri.js';
import { rand, request, response, SipPeer, uacRouteSet, uasRouteSet, type Received } from './sip-peer.js';

export interface HostPort {
  address: string;
  port: number;
}

/** Calls kept per phone (old ended ones are dropped first). */
const MAX_CALLS = 64;
/** Digits kept per call. */
const MAX_DIGITS = 256;
/** SDPs kept per call (offers and answers the far end sent). */
const MAX_SDPS = 32;
/** RFC 3261 §17.1.1.2 / §13.3.1.4: retransmit every T1, doubling, over UDP. */
const T1_MS = 500;
const MAX_RETRANSMITS = 6;
/** How long a non-INVITE request waits for its final response. */
const NON_INVITE_TIMEOUT_MS = 8000;

/** RFC 4733 §3.2 event codes 0-15 as DTMF characters. */
const DTMF_EVENTS = '0123456789*#ABCD';

/**
 * One call's RTP socket: counts packets, echoes them while the negotiated
 * direction allows sending, and records telephone-events as digits.
 */
export class RtpEndpoint {
  readonly #socket: Socket;
  /** Every RTP packet received (audio and telephone-event). */
  packetsReceived = 0;
  /** Audio packets received (not telephone-event). */
  audioPacketsReceived = 0;
  /** Packets echoed back. */
  packetsSent = 0;
  /** Where the last packet came from. */
  lastSource: HostPort | undefined;
  /** Payload types that carry telephone-event (from both SDPs). */
  readonly telephoneEventPts = new Set<number>();
  /** RTP packets received per payload type (audio and events alike), to check the mapping the far end applied. */
  readonly payloadTypes = new Map<number, number>();
  /** Payload types of the packets that carried a decoded digit's first packet. */
  readonly digitPayloadTypes = new Set<number>();
  /**
   * Payload types rewritten on the echo: what we receive as K leaves as V (our
   * answer's telephone-event number differs from the offer's, so we receive one
   * and must send the other).
   */
  readonly echoPayloadTypes = new Map<number, number>();
  /** Whether our side of the SDP lets us send (sendrecv/sendonly). */
  sending = true;
  #digits = '';
  /** `ssrc:timestamp` of the event in progress: one digit per event, however many packets. */
  #lastEvent = '';
  /** Our SSRC for the echo, so the far end does not see its own SSRC come back. */
  readonly #ssrc = Math.floor(Math.random() * 0xffffffff) >>> 0;
  #closed = false;

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.on('message', (buf, rinfo) => this.#onPacket(buf, { address: rinfo.address, port: rinfo.port }));
    socket.on('error', () => undefined);
  }

  static async open(host = '127.0.0.1'): Promise<RtpEndpoint> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, host, () => resolve());
    });
    return new RtpEndpoint(socket);
  }

  get port(): number {
    return this.#socket.address().port;
  }

  /** DTMF digits decoded from RFC 4733 events, in order (0-9, *, #, A-D). */
  get digits(): string {
    return this.#digits;
  }

  /** Closes the socket; the counters stay readable. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#socket.close();
  }

  #onPacket(buf: Buffer, from: HostPort): void {
    // RTP version 2 (RFC 3550 §5.1); RTCP (PT 200-204 in the second byte) is not counted.
    if (buf.length < 12 || buf[0]! >> 6 !== 2) return;
    const second = buf[1]!;
    if (second >= 200 && second <= 204) return;
    this.packetsReceived++;
    this.lastSource = from;
    const pt = second & 0x7f;
    this.payloadTypes.set(pt, (this.payloadTypes.get(pt) ?? 0) + 1);
    if (this.telephoneEventPts.has(pt)) this.#onTelephoneEvent(buf);
    else this.audioPacketsReceived++;
    if (this.sending && !this.#closed) {
      const echo = Buffer.from(buf);
      echo.writeUInt32BE(this.#ssrc, 8);
      const mapped = this.echoPayloadTypes.get(pt);
      if (mapped !== undefined) echo[1] = (second & 0x80) | mapped;
      this.#socket.send(echo, from.port, from.address);
      this.packetsSent++;
    }
  }

  /** RFC 4733 §2.3: event, E|R|volume, duration; all packets of one event share the timestamp. */
  #onTelephoneEvent(buf: Buffer): void {
    const headerLength = 12 + 4 * (buf[0]! & 0x0f);
    if (buf.length < headerLength + 4) return;
    const key = `${buf.readUInt32BE(8)}:${buf.readUInt32BE(4)}`;
    if (key === this.#lastEvent) return;
    this.#lastEvent = key;
    const digit = DTMF_EVENTS[buf[headerLength]!];
    if (digit === undefined) return;
    this.digitPayloadTypes.add(buf[1]! & 0x7f);
    this.#digits = (this.#digits + digit).slice(-MAX_DIGITS);
  }
}

/** What the phone knows about one call. */
export interface RtpCall {
  readonly callId: string;
  readonly direction: 'in' | 'out';
  readonly media: RtpEndpoint;
  /** `early` until a 2xx, `confirmed`, then `ended` (also for a failed outgoing call). */
  state: 'early' | 'confirmed' | 'ended';
  /** Who ended it: a BYE received (`remote`), sent (`local`), or the INVITE failed (`failed`). */
  endedBy?: 'local' | 'remote' | 'failed';
  /** Final status of our INVITE (outgoing calls). */
  finalStatus?: number;
  /** The INVITE that created the call (incoming) or the first 2xx (outgoing). */
  readonly first: Received | undefined;
  /** SDP bodies the far end sent, oldest first (offer, re-INVITE offers, answers). */
  readonly remoteSdps: string[];
  /** Resolves when the call is confirmed; rejects when the INVITE failed. */
  readonly established: Promise<void>;
  /** Resolves when the call is over, whoever ended it. */
  readonly ended: Promise<void>;
}

interface Dialog {
  callId: string;
  localTag: string;
  remoteTag: string;
  /** From/To values without tags, from our side. */
  localUri: string;
  remoteUri: string;
  remoteTarget: string;
  routeSet: string[];
  localCseq: number;
}

interface CallState extends RtpCall {
  state: RtpCall['state'];
  endedBy?: RtpCall['endedBy'];
  finalStatus?: number;
  first: Received | undefined;
  dialog: Dialog | undefined;
  sdpVersion: number;
  /** Our 2xx to the INVITE, retransmitted until the ACK (RFC 3261 §13.3.1.4). */
  okRetransmit: NodeJS.Timeout | undefined;
  lastOk: { text: string; to: HostPort } | undefined;
  /** The ACK we sent for the 2xx, resent when the 2xx is retransmitted. */
  lastAck: { text: string; to: HostPort } | undefined;
  resolveEstablished(): void;
  rejectEstablished(err: Error): void;
  resolveEnded(): void;
}

interface ClientTransaction {
  onResponse(r: Received): void;
  timer: NodeJS.Timeout | undefined;
}

export interface RtpUasOptions {
  /** User part of our Contact and From. @default "echo" */
  user?: string;
  /** Domain of our address of record. @default "example.com" */
  domain?: string;
  /**
   * Answer telephone-event with this payload type instead of the offer's (RFC
   * 3264 §6.1 says SHOULD keep it, not MUST): the far end must then send us
   * events as this one and accept ours as the offer's.
   */
  answerEventPt?: number;
}

/** A plain-RTP phone over UDP on 127.0.0.1; see the file comment. */
export class RtpUas {
  readonly peer: SipPeer;
  readonly user: string;
  readonly domain: string;
  readonly #answerEventPt: number | undefined;
  readonly #calls = new Map<string, CallState>();
  readonly #transactions = new Map<string, ClientTransaction>();
  readonly #incoming: CallState[] = [];
  /** Call-IDs of initial INVITEs whose RTP socket is being opened. */
  readonly #binding = new Set<string>();
  #incomingWaiters: Array<(c: RtpCall) => void> = [];
  #closed = false;

  private constructor(peer: SipPeer, options: RtpUasOptions) {
    this.peer = peer;
    this.user = options.user ?? 'echo';
    this.domain = options.domain ?? 'example.com';
    this.#answerEventPt = options.answerEventPt;
    peer.onMessage = (r) => this.#onMessage(r);
  }

  static async start(options: RtpUasOptions = {}): Promise<RtpUas> {
    return new RtpUas(await SipPeer.udp(), options);
  }

  /** `sip:user@domain` */
  get aor(): string {
    return `sip:${this.user}@${this.domain}`;
  }

  get sentBy(): string {
    return `${this.peer.address.address}:${this.peer.address.port}`;
  }

  /** Our Contact URI. */
  get contactUri(): string {
    return `sip:${this.user}@${this.sentBy};transport=udp`;
  }

  /** Every call so far (bounded), oldest first. */
  calls(): RtpCall[] {
    return [...this.#calls.values()];
  }

  call(callId: string): RtpCall | undefined {
    return this.#calls.get(callId);
  }

  /** The next incoming call (answered automatically), including one that already arrived. */
  nextIncomingCall(timeoutMs = 10_000): Promise<RtpCall> {
    const waiting = this.#incoming.shift();
    if (waiting !== undefined) return Promise.resolve(waiting);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#incomingWaiters = this.#incomingWaiters.filter((w) => w !== take);
        reject(new Error(`${this.aor}: no incoming INVITE within ${timeoutMs} ms; SIP seen: ${this.#seen()}`));
      }, timeoutMs);
      const take = (c: RtpCall): void => {
        clearTimeout(timer);
        resolve(c);
      };
      this.#incomingWaiters.push(take);
    });
  }

  /** REGISTER our Contact for {@link aor} at `registrar`; resolves on 200, rejects otherwise. */
  async register(registrar: HostPort, expires = 300): Promise<SipResponse> {
    const res = await this.#nonInvite(request({
      method: 'REGISTER', uri: `sip:${this.domain}`, sentBy: this.sentBy, callId: rand(8),
      from: `<${this.aor}>`, to: `<${this.aor}>`, contact: `<${this.contactUri}>`,
      headers: [`Expires: ${expires}`],
    }), registrar);
    if (res.status !== 200) throw new Error(`REGISTER ${this.aor} at ${registrar.address}:${registrar.port}: ${res.status} ${res.reason}`);
    return res;
  }

  /**
   * Call `target` with our SDP (PCMU + telephone-event 101), sending the
   * INVITE to `nextHop`. Returns at once; `established` settles with the
   * final response, the ACK for a 2xx goes along the learnt route set.
   */
  async invite(target: string, nextHop: HostPort, options: { from?: string; to?: string } = {}): Promise<RtpCall> {
    const media = await RtpEndpoint.open();
    media.telephoneEventPts.add(101);
    const callId = rand(8);
    const localTag = rand(4);
    const localUri = options.from ?? `<${this.aor}>`;
    const remoteUri = options.to ?? `<${target}>`;
    const call = this.#newCall(callId, 'out', media, undefined);
    const branch = `z9hG4bK${rand()}`;
    const text = request({
      method: 'INVITE', uri: target, sentBy: this.sentBy, branch, callId, fromTag: localTag, cseq: 1,
      from: localUri, to: remoteUri, contact: `<${this.contactUri}>`,
      body: sdp({ port: media.port, version: call.sdpVersion++, pt: 0, eventPt: 101, direction: 'sendrecv' }),
    });
    this.#clientTransaction(branch, text, nextHop, (r) => {
      const res = r.msg as SipResponse;
      if (res.status < 200) return true;
      call.finalStatus = res.status;
      this.#recordSdp(call, res);
      if (res.status >= 300) {
        // Hop-by-hop ACK for a failure (RFC 3261 §17.1.1.3): same branch, To with the tag.
        this.peer.send(request({
          method: 'ACK', uri: target, sentBy: this.sentBy, branch, callId, fromTag: localTag, cseq: 1,
          from: localUri, to: res.headers.get('to') ?? remoteUri,
        }), nextHop);
        this.#end(call, 'failed');
        call.rejectEstablished(new Error(`INVITE ${target} failed: ${res.status} ${res.reason}`));
        return false;
      }
      call.first = r;
      call.dialog = {
        callId, localTag, remoteTag: res.to()?.params.get('tag') ?? '',
        localUri, remoteUri,
        remoteTarget: contactUri(res.headers.get('contact')) ?? target,
        routeSet: uacRouteSet(res), localCseq: 1,
      };
      this.#ack(call, nextHop);
      call.state = 'confirmed';
      call.resolveEstablished();
      return false;
    }, 60_000, (err) => {
      this.#end(call, 'failed');
      call.rejectEstablished(err);
    });
    return call;
  }

  /** BYE in `call` along its route set; resolves with the final response. */
  async hangup(call: RtpCall): Promise<SipResponse> {
    const state = this.#calls.get(call.callId);
    const dialog = state?.dialog;
    if (state === undefined || dialog === undefined) throw new Error(`no dialog for call ${call.callId}`);
    dialog.localCseq += 1;
    const res = await this.#nonInvite(this.#inDialog('BYE', dialog), this.#nextHopOf(dialog));
    this.#end(state, 'local');
    return res;
  }

  /** Drops ended calls and the SIP messages kept so far (for memory measurements over many calls). */
  forgetEnded(): void {
    for (const [id, call] of this.#calls) if (call.state === 'ended') this.#calls.delete(id);
    this.peer.forget();
  }

  /** Closes every call's RTP socket, the SIP socket and every timer. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const tx of this.#transactions.values()) clearTimeout(tx.timer);
    this.#transactions.clear();
    for (const call of this.#calls.values()) {
      clearTimeout(call.okRetransmit);
      call.media.close();
    }
    this.#incomingWaiters = [];
    this.peer.close();
  }

  #onMessage(r: Received): void {
    if (this.#closed) return;
    const msg = r.msg;
    if (msg.kind === 'response') {
      const branch = msg.topVia()?.params.get('branch') ?? '';
      const tx = this.#transactions.get(branch);
      if (tx !== undefined) {
        tx.onResponse(r);
        return;
      }
      // A retransmitted 2xx after our ACK: ACK again (RFC 3261 §13.2.2.4).
      const call = this.#calls.get(msg.callId ?? '');
      if (msg.cseq()?.method === 'INVITE' && msg.status >= 200 && msg.status < 300 && call?.lastAck !== undefined) {
        this.peer.send(call.lastAck.text, call.lastAck.to);
      }
      return;
    }
    switch (msg.method) {
      case 'INVITE':
        void this.#onInvite(msg, r);
        return;
      case 'ACK': {
        const call = this.#calls.get(msg.callId ?? '');
        if (call !== undefined) {
          clearTimeout(call.okRetransmit);
          call.okRetransmit = undefined;
          if (call.state === 'early') {
            call.state = 'confirmed';
            call.resolveEstablished();
          }
        }
        return;
      }
      case 'BYE': {
        const call = this.#calls.get(msg.callId ?? '');
        this.peer.send(response(msg, call === undefined ? 481 : 200, call === undefined ? 'Call/Transaction Does Not Exist' : 'OK'), r.from);
        if (call !== undefined) this.#end(call, 'remote');
        return;
      }
      case 'CANCEL':
        this.peer.send(response(msg, 200, 'OK'), r.from);
        return;
      case 'OPTIONS':
        this.peer.send(response(msg, 200, 'OK', { toTag: rand(4) }), r.from);
        return;
      default:
        this.peer.send(response(msg, 405, 'Method Not Allowed', { toTag: rand(4), headers: ['Allow: INVITE, ACK, BYE, CANCEL, OPTIONS'] }), r.from);
    }
  }

  async #onInvite(req: SipRequest, r: Received): Promise<void> {
    const callId = req.callId ?? '';
    const existing = this.#calls.get(callId);
    const toTag = req.to()?.params.get('tag');
    if (existing !== undefined && toTag === undefined) {
      // A retransmitted initial INVITE: repeat our 2xx.
      if (existing.lastOk !== undefined) this.peer.send(existing.lastOk.text, r.from);
      return;
    }
    const offer = parseSdp(req.body.toString('utf8'));
    if (offer === undefined || offer.pt === undefined) {
      this.peer.send(response(req, 488, 'Not Acceptable Here', { toTag: existing?.dialog?.localTag ?? rand(4) }), r.from);
      return;
    }
    if (existing !== undefined) {
      // re-INVITE in a dialog we know (hold/unhold, or a refresh).
      this.#recordSdp(existing, req);
      if (offer.eventPt !== undefined) existing.media.telephoneEventPts.add(offer.eventPt);
      const direction = answerDirection(offer.direction);
      existing.media.sending = direction === 'sendrecv' || direction === 'sendonly';
      const body = sdp({ port: existing.media.port, version: existing.sdpVersion++, pt: offer.pt, eventPt: existing.media.echoPayloadTypes.size > 0 && this.#answerEventPt !== undefined ? this.#answerEventPt : offer.eventPt, direction });
      this.#sendOk(existing, req, r.from, body);
      return;
    }
    // A retransmission arriving while the RTP socket binds is absorbed here.
    if (this.#binding.has(callId)) return;
    this.peer.send(response(req, 100, 'Trying'), r.from);
    this.#binding.add(callId);
    const media = await RtpEndpoint.open().finally(() => this.#binding.delete(callId));
    if (this.#closed) {
      media.close();
      return;
    }
    if (offer.eventPt !== undefined) media.telephoneEventPts.add(offer.eventPt);
    const localTag = rand(4);
    const call = this.#newCall(callId, 'in', media, r);
    this.#recordSdp(call, req);
    call.dialog = {
      callId, localTag, remoteTag: req.from()?.params.get('tag') ?? '',
      localUri: req.headers.get('to') ?? `<${this.aor}>`,
      remoteUri: (req.headers.get('from') ?? '').replace(/;tag=[^;]*/, ''),
      remoteTarget: contactUri(req.headers.get('contact')) ?? '',
      routeSet: uasRouteSet(req), localCseq: 0,
    };
    const direction = answerDirection(offer.direction);
    media.sending = direction === 'sendrecv' || direction === 'sendonly';
    let eventPt = offer.eventPt;
    if (eventPt !== undefined && this.#answerEventPt !== undefined && this.#answerEventPt !== eventPt) {
      media.telephoneEventPts.add(this.#answerEventPt);
      media.echoPayloadTypes.set(this.#answerEventPt, eventPt);
      eventPt = this.#answerEventPt;
    }
    this.peer.send(response(req, 180, 'Ringing', { toTag: localTag, headers: [`Contact: <${this.contactUri}>`] }), r.from);
    this.#sendOk(call, req, r.from, sdp({ port: media.port, version: call.sdpVersion++, pt: offer.pt, eventPt, direction }));
    const waiter = this.#incomingWaiters.shift();
    if (waiter !== undefined) waiter(call);
    else if (this.#incoming.length < MAX_CALLS) this.#incoming.push(call);
  }

  /** 200 with our SDP, retransmitted until the ACK arrives. */
  #sendOk(call: CallState, req: SipRequest, to: HostPort, body: string): void {
    const text = response(req, 200, 'OK', { toTag: call.dialog?.localTag ?? rand(4), headers: [`Contact: <${this.contactUri}>`], body });
    call.lastOk = { text, to };
    this.peer.send(text, to);
    clearTimeout(call.okRetransmit);
    let interval = T1_MS;
    let sent = 0;
    const again = (): void => {
      if (this.#closed || ++sent > MAX_RETRANSMITS) return;
      this.peer.send(text, to);
      interval = Math.min(interval * 2, 4000);
      call.okRetransmit = setTimeout(again, interval);
    };
    call.okRetransmit = setTimeout(again, interval);
  }

  #ack(call: CallState, fallbackHop: HostPort): void {
    const dialog = call.dialog!;
    const text = this.#inDialog('ACK', dialog, 1);
    const to = dialog.routeSet.length > 0 || dialog.remoteTarget !== '' ? this.#nextHopOf(dialog) : fallbackHop;
    call.lastAck = { text, to };
    this.peer.send(text, to);
  }

  /** A request in `dialog` (RFC 3261 §12.2.1.1): Request-URI = remote target, Route = route set. */
  #inDialog(method: string, dialog: Dialog, cseq = dialog.localCseq): string {
    return request({
      method, uri: dialog.remoteTarget, sentBy: this.sentBy, callId: dialog.callId, cseq,
      from: dialog.localUri, fromTag: dialog.localTag, to: dialog.remoteUri, toTag: dialog.remoteTag,
      headers: dialog.routeSet.map((route) => `Route: ${route}`),
    });
  }

  /** The first Route (loose routing) or else the remote target. */
  #nextHopOf(dialog: Dialog): HostPort {
    const first = dialog.routeSet[0];
    const uriText = first !== undefined ? first.replace(/^[^<]*</, '').replace(/>.*$/, '') : dialog.remoteTarget;
    const parsed = parseUri(uriText);
    if (!parsed.ok) throw new Error(`cannot route to ${uriText}`);
    return { address: parsed.value.host, port: parsed.value.port ?? 5060 };
  }

  /** Send a non-INVITE request and wait for its final response. */
  #nonInvite(text: string, to: HostPort): Promise<SipResponse> {
    const branch = /branch=([^;\r]+)/.exec(text)?.[1] ?? '';
    return new Promise((resolve, reject) => {
      this.#clientTransaction(branch, text, to, (r) => {
        const res = r.msg as SipResponse;
        if (res.status < 200) return true;
        resolve(res);
        return false;
      }, NON_INVITE_TIMEOUT_MS, (err) => reject(err));
    });
  }

  /**
   * Send `text` and retransmit it every T1 (doubling) until a response; hand
   * every response to `onResponse` until it returns false or `timeoutMs` passes.
   */
  #clientTransaction(branch: string, text: string, to: HostPort, onResponse: (r: Received) => boolean, timeoutMs: number, onTimeout?: (err: Error) => void): void {
    let answered = false;
    let interval = T1_MS;
    let sent = 0;
    const started = Date.now();
    const firstLine = text.slice(0, text.indexOf('\r\n'));
    const tx: ClientTransaction = {
      timer: undefined,
      onResponse: (r) => {
        answered = true;
        if (!onResponse(r)) {
          clearTimeout(tx.timer);
          this.#transactions.delete(branch);
        }
      },
    };
    const tick = (): void => {
      if (this.#closed) return;
      if (Date.now() - started >= timeoutMs) {
        this.#transactions.delete(branch);
        onTimeout?.(new Error(`${firstLine}: no final response within ${timeoutMs} ms; SIP seen: ${this.#seen()}`));
        return;
      }
      if (!answered && sent++ < MAX_RETRANSMITS) this.peer.send(text, to);
      interval = Math.min(interval * 2, 4000);
      tx.timer = setTimeout(tick, answered ? Math.max(0, timeoutMs - (Date.now() - started)) : interval);
    };
    this.#transactions.set(branch, tx);
    this.peer.send(text, to);
    sent++;
    tx.timer = setTimeout(tick, interval);
  }

  #newCall(callId: string, direction: 'in' | 'out', media: RtpEndpoint, first: Received | undefined): CallState {
    let resolveEstablished!: () => void;
    let rejectEstablished!: (err: Error) => void;
    let resolveEnded!: () => void;
    const established = new Promise<void>((resolve, reject) => {
      resolveEstablished = resolve;
      rejectEstablished = reject;
    });
    // A test that never awaits a failed call must not get an unhandled rejection.
    established.catch(() => undefined);
    const ended = new Promise<void>((resolve) => { resolveEnded = resolve; });
    const call: CallState = {
      callId, direction, media, first, state: 'early', remoteSdps: [], established, ended,
      dialog: undefined, sdpVersion: 1, okRetransmit: undefined, lastOk: undefined, lastAck: undefined,
      resolveEstablished, rejectEstablished, resolveEnded,
    };
    if (this.#calls.size >= MAX_CALLS) {
      const oldest = [...this.#calls.values()].find((c) => c.state === 'ended');
      if (oldest !== undefined) this.#calls.delete(oldest.callId);
    }
    this.#calls.set(callId, call);
    return call;
  }

  #recordSdp(call: CallState, msg: SipRequest | SipResponse): void {
    if (msg.body.length === 0 || call.remoteSdps.length >= MAX_SDPS) return;
    const text = msg.body.toString('utf8');
    call.remoteSdps.push(text);
    const eventPt = parseSdp(text)?.eventPt;
    if (eventPt !== undefined) call.media.telephoneEventPts.add(eventPt);
  }

  #end(call: CallState, by: 'local' | 'remote' | 'failed'): void {
    if (call.state === 'ended') return;
    call.state = 'ended';
    call.endedBy = by;
    clearTimeout(call.okRetransmit);
    call.okRetransmit = undefined;
    call.media.close();
    call.resolveEnded();
  }

  #seen(): string {
    return this.peer.received.slice(-20).map((r) => r.raw.slice(0, r.raw.indexOf('\r\n'))).join(' | ');
  }
}

type Direction = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';

interface AudioOffer {
  /** The first of PCMU (0) / PCMA (8) in the m=audio format list. */
  pt: number | undefined;
  /** The telephone-event/8000 payload type, if offered. */
  eventPt: number | undefined;
  direction: Direction;
}

/** The parts of an SDP's first audio stream we act on. */
export function parseSdp(text: string): AudioOffer | undefined {
  const lines = text.split(/\r?\n/);
  const m = lines.findIndex((l) => l.startsWith('m=audio '));
  if (m < 0) return undefined;
  const formats = lines[m]!.split(' ').slice(3).map(Number);
  const media = lines.slice(m + 1);
  const end = media.findIndex((l) => l.startsWith('m='));
  const section = end < 0 ? media : media.slice(0, end);
  const event = section.map((l) => /^a=rtpmap:(\d+) telephone-event\/8000\b/i.exec(l)).find((x) => x !== null);
  const direction = (section.find((l) => /^a=(sendrecv|sendonly|recvonly|inactive)$/.test(l))?.slice(2) ?? 'sendrecv') as Direction;
  return { pt: formats.find((f) => f === 0 || f === 8), eventPt: event ? Number(event[1]) : undefined, direction };
}

/** RFC 3264 §6.1: the answer's direction for an offered one. */
function answerDirection(offered: Direction): Direction {
  if (offered === 'sendonly') return 'recvonly';
  if (offered === 'recvonly') return 'sendonly';
  return offered;
}

function sdp(o: { port: number; version: number; pt: number; eventPt: number | undefined; direction: Direction }): string {
  const codec = o.pt === 8 ? 'PCMA' : 'PCMU';
  const formats = o.eventPt === undefined ? `${o.pt}` : `${o.pt} ${o.eventPt}`;
  return [
    'v=0',
    `o=rtp-uas 4242 ${o.version} IN IP4 127.0.0.1`,
    's=-',
    'c=IN IP4 127.0.0.1',
    't=0 0',
    `m=audio ${o.port} RTP/AVP ${formats}`,
    `a=rtpmap:${o.pt} ${codec}/8000`,
    ...(o.eventPt === undefined ? [] : [`a=rtpmap:${o.eventPt} telephone-event/8000`, `a=fmtp:${o.eventPt} 0-16`]),
    'a=ptime:20',
    `a=${o.direction}`,
    '',
  ].join('\r\n');
}

/** The URI inside a Contact value (`<sip:…>;params` or a bare addr-spec). */
function contactUri(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const angle = /<([^>]+)>/.exec(value);
  return angle ? angle[1] : value.split(';')[0]?.trim();
}
