/**
 * One call to a built-in service, with the SBC as the called user agent
 * (RFC 3261 §12): the 200 with an SDP answer from the embedded relay
 * (LocalEndpoint), the 2xx retransmitted until its ACK on unreliable
 * transports, in-dialog requests answered (BYE ends it, a re-INVITE gets a
 * new answer — hold and resume), and a BYE of ours after maxSeconds, when
 * the ACK never comes, or on shutdown. The caller's flow closing ends it
 * without a BYE. Media: echo sends every packet back; tone sends its frames
 * on the shared ticker.
 */
import { randomInt } from 'node:crypto';
import type { Logger } from '../log/logger.js';
import { parseAudioSdp, codecKey } from '../media/embedded/audio-sdp.js';
import { LocalEndpoint } from '../media/embedded/local-endpoint.js';
import { RelayRefusal } from '../media/embedded/relay-refusal.js';
import type { LegFactory } from '../media/embedded/leg-factory.js';
import { contactOf, identityOf, Leg } from '../b2bua/leg.js';
import type { LegTransport } from '../b2bua/leg-transport.js';
import { Retransmitter } from '../b2bua/retransmitter.js';
import { hasSdp } from '../media/sdp.js';
import { newTag, randomToken } from '../sip/ids.js';
import type { SipRequest } from '../sip/message.js';
import { formatUri } from '../sip/uri.js';
import { createResponse } from '../sip/response.js';
import { serialize } from '../sip/serializer.js';
import type { ServerTransaction } from '../transaction/index.js';
import type { Flow } from '../transport/flow.js';
import type { FrameTicker } from './frame-ticker.js';
import type { ServiceSpec } from './service-numbers.js';
import { ToneStream } from './tone-stream.js';

const ALLOW = 'INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE';
/** Codecs echo reflects: what the relay can carry. */
const ECHO_CODECS: ReadonlySet<string> = new Set(['opus/48000', 'pcmu/8000', 'pcma/8000', 'g722/8000']);
/** Codecs tone encodes itself. */
const TONE_CODECS: ReadonlySet<string> = new Set(['pcmu/8000', 'pcma/8000']);

export type CallEnd = 'bye' | 'max-seconds' | 'no-ack' | 'inactivity' | 'cancelled' | 'flow-closed' | 'shutdown' | 'failed';

export interface ServiceCallContext {
  legs: LegTransport;
  media: LegFactory;
  ticker: FrameTicker;
  logger: Logger;
  productName?: string | undefined;
  /** Gives back the media session place taken for the call. */
  releaseSession(): void;
  /** The call is over (its dialog key, for the owner's table). */
  ended(call: ServiceCall, why: CallEnd): void;
}

export class ServiceCall {
  readonly spec: ServiceSpec;
  readonly callId: string;
  readonly localTag = newTag();
  readonly #ctx: ServiceCallContext;
  readonly #server: ServerTransaction;
  readonly #invite: SipRequest;
  readonly #source: Flow;
  readonly #leg: Leg;
  #endpoint: LocalEndpoint | undefined;
  #tone: ToneStream | undefined;
  #retransmit: Retransmitter | undefined;
  #limit: NodeJS.Timeout | undefined;
  #answered = false;
  #ended = false;
  /** The final status the INVITE got from us (0 until then). */
  #finalStatus = 0;
  /** performance.now() of the 200 or the last re-offer: silence counts from here until RTP comes. */
  #lastSignal = 0;
  #onHold = false;
  readonly startedAt = performance.now();

  constructor(spec: ServiceSpec, server: ServerTransaction, req: SipRequest, source: Flow, inside: boolean, ctx: ServiceCallContext) {
    this.spec = spec;
    this.#ctx = ctx;
    this.#server = server;
    this.#invite = req;
    this.#source = source;
    this.callId = req.callId ?? '';
    const from = req.from();
    const to = req.to();
    this.#leg = new Leg({
      side: 'a',
      key: `svc-${randomToken(6)}`,
      callId: this.callId,
      localTag: this.localTag,
      ...(from?.params.get('tag') != null ? { remoteTag: from.params.get('tag')! } : {}),
      localUri: to === undefined ? (req.headers.get('to') ?? '') : identityOf(to),
      remoteUri: from === undefined ? (req.headers.get('from') ?? '') : identityOf(from),
      localCseq: randomInt(1, 20_000),
      remoteCseq: req.cseq()?.seq,
      remoteTarget: contactOf(req) ?? (from !== undefined ? formatUri(from.uri) : req.uri),
      // As a UAS the route set is the Record-Route in order (RFC 3261 §12.1.1).
      routeSet: req.headers.values('record-route'),
      hop: inside ? { kind: 'route' } : { kind: 'flow', token: ctx.legs.tokenFor(source) },
      inside,
    });
    this.#leg.firstHop = source;
  }

  /** Answer the INVITE: 200 with our SDP, media started; or a failure response. */
  async start(): Promise<void> {
    const req = this.#invite;
    if (!hasSdp(req)) {
      // A late offer would need our offer in the 200; services answer offers only.
      this.#fail(488, 'Offer Required');
      return;
    }
    const raw = req.body.toString('utf8');
    const parsed = parseAudioSdp(raw);
    if (!parsed.ok) {
      this.#ctx.logger.info({ callId: this.callId, error: parsed.error }, 'service call: unusable SDP');
      this.#fail(400, 'Malformed SDP');
      return;
    }
    let opened: { endpoint: LocalEndpoint; sdp: string };
    try {
      opened = await LocalEndpoint.answer(this.#ctx.media, parsed.value, raw, this.spec.kind === 'tone' ? TONE_CODECS : ECHO_CODECS);
    } catch (err) {
      const refusal = err instanceof RelayRefusal ? err : undefined;
      this.#ctx.logger.warn({ err, callId: this.callId, service: this.spec.name }, 'service call: no media');
      this.#fail(refusal?.status ?? 503, refusal?.message ?? 'Media Unavailable');
      return;
    }
    if (this.#ended) {
      // CANCELled (487 sent) while the leg opened.
      await opened.endpoint.close();
      return;
    }
    this.#endpoint = opened.endpoint;
    const res = createResponse(req, 200, 'OK', { toTag: this.localTag });
    res.headers.set('contact', this.#leg.contact(this.#source.listener));
    res.headers.set('allow', ALLOW);
    if (this.#ctx.productName !== undefined) res.headers.set('server', this.#ctx.productName);
    res.headers.set('content-type', 'application/sdp');
    res.body = Buffer.from(opened.sdp, 'utf8');
    this.#server.respond(res);
    this.#finalStatus = 200;
    this.#answered = true;
    this.#lastSignal = performance.now();
    this.#leg.confirmed = true;
    if (!this.#source.reliable) {
      this.#retransmit = new Retransmitter(this.#source, serialize(res), this.#ctx.legs.timers, () => this.hangUp('no-ack'));
    }
    this.#startMedia(opened.endpoint);
    this.#limit = setTimeout(() => this.hangUp('max-seconds'), this.spec.maxSeconds * 1000);
    this.#limit.unref();
    this.#ctx.logger.info({ callId: this.callId, service: this.spec.name, media: opened.endpoint.kind, codec: codecKey(opened.endpoint.audio), maxSeconds: this.spec.maxSeconds }, 'service call answered');
  }

  /** The ACK for our 2xx. */
  onAck(): void {
    this.#retransmit?.stop();
    this.#retransmit = undefined;
  }

  /** CANCEL before the 200: 487 to the INVITE (the 200 to the CANCEL is sent). */
  cancel(): void {
    if (this.#answered || this.#ended) return;
    const res = createResponse(this.#invite, 487, 'Request Terminated', { toTag: this.localTag });
    this.#server.respond(res);
    this.#finalStatus = 487;
    this.#end('cancelled');
  }

  /** An in-dialog request from the caller. */
  onRequest(server: ServerTransaction, req: SipRequest): void {
    const seq = req.cseq()?.seq;
    if (seq !== undefined && this.#leg.remoteCseq !== undefined && seq < this.#leg.remoteCseq && req.method !== 'ACK') {
      this.#reply(server, req, 500, 'CSeq Out Of Order');
      return;
    }
    if (seq !== undefined) this.#leg.remoteCseq = seq;
    switch (req.method) {
      case 'BYE':
        this.#reply(server, req, 200, 'OK');
        this.#end('bye');
        return;
      case 'INVITE':
      case 'UPDATE':
        if (hasSdp(req)) void this.#reoffer(server, req);
        else if (req.method === 'UPDATE') this.#reply(server, req, 200, 'OK');
        else this.#reply(server, req, 488, 'Offer Required');
        return;
      case 'OPTIONS':
      case 'INFO':
      case 'MESSAGE':
      case 'NOTIFY':
        this.#reply(server, req, 200, 'OK', [['Allow', ALLOW]]);
        return;
      default:
        this.#reply(server, req, 501, 'Not Implemented', [['Allow', ALLOW]]);
    }
  }

  /** End the call from our side: a BYE to the caller. */
  hangUp(why: CallEnd): void {
    if (this.#ended) return;
    if (!this.#answered) {
      this.#fail(503, 'Service Unavailable');
      return;
    }
    void this.#sendBye();
    this.#end(why);
  }

  /** The caller's flow closed (a browser tab gone): over, nobody to send a BYE to. */
  flowClosed(): void {
    this.#end('flow-closed');
  }

  /** The caller's client flow, when it is reached by one (outside). */
  get clientFlowId(): string | undefined {
    return this.#leg.hop.kind === 'flow' ? this.#source.id : undefined;
  }

  /**
   * performance.now() of the caller's last sign of life in media (RTP, or the
   * last SDP); undefined while on hold or not yet answered (no RTP expected).
   */
  get lastActivity(): number | undefined {
    if (!this.#answered || this.#onHold || this.#endpoint === undefined) return undefined;
    return Math.max(this.#endpoint.lastReceived, this.#lastSignal);
  }

  get ended(): boolean {
    return this.#ended;
  }

  get answered(): boolean {
    return this.#answered;
  }

  /** Date.now() of our 200 (the record's answer time). */
  get answeredAt(): number | undefined {
    return this.#leg.confirmedAt;
  }

  /** The final status the INVITE got from us; 0 before it got one. */
  get finalStatus(): number {
    return this.#finalStatus;
  }

  async #reoffer(server: ServerTransaction, req: SipRequest): Promise<void> {
    const endpoint = this.#endpoint;
    const raw = req.body.toString('utf8');
    const parsed = parseAudioSdp(raw);
    if (endpoint === undefined || !parsed.ok) {
      this.#reply(server, req, 488, 'Not Acceptable Here');
      return;
    }
    try {
      const sdp = await endpoint.reanswer(parsed.value, raw);
      if (this.#ended) return;
      this.#lastSignal = performance.now();
      this.#onHold = parsed.value.direction !== 'sendrecv';
      const target = contactOf(req);
      if (target !== undefined) this.#leg.remoteTarget = target;
      const res = createResponse(req, 200, 'OK', { toTag: this.localTag });
      res.headers.set('contact', this.#leg.contact(this.#source.listener));
      res.headers.set('content-type', 'application/sdp');
      res.body = Buffer.from(sdp, 'utf8');
      server.respond(res);
      if (req.method === 'INVITE' && !server.flow.reliable) {
        this.#retransmit?.stop();
        this.#retransmit = new Retransmitter(server.flow, serialize(res), this.#ctx.legs.timers, () => undefined);
      }
      this.#restartTone(endpoint);
    } catch (err) {
      const refusal = err instanceof RelayRefusal ? err : undefined;
      this.#reply(server, req, refusal?.status ?? 488, refusal?.message ?? 'Not Acceptable Here');
    }
  }

  #startMedia(endpoint: LocalEndpoint): void {
    if (this.spec.kind === 'echo') {
      // Our own stream back: a different SSRC (derived, so a new caller source is a new source of ours too).
      const salt = randomInt(1, 2 ** 32 - 1);
      endpoint.onRtp = (payload, pt, marker, seq, ts, ssrc) => endpoint.sendRtp(payload, pt, marker, seq, ts, (ssrc ^ salt) >>> 0);
      return;
    }
    endpoint.onRtp = undefined;
    this.#restartTone(endpoint);
  }

  /** The tone in the codec answered last (a re-INVITE may change PCMU ⇄ PCMA). */
  #restartTone(endpoint: LocalEndpoint): void {
    if (this.spec.kind !== 'tone') return;
    const audio = endpoint.audio;
    const codec = audio.name.toLowerCase() === 'pcma' ? 'pcma' : 'pcmu';
    const old = this.#tone;
    if (old !== undefined && old.pt === audio.pt) return;
    if (old !== undefined) this.#ctx.ticker.remove(old);
    const tone = new ToneStream(this.spec.hz, codec, audio.pt, (p, pt, m, seq, ts, ssrc) => endpoint.sendRtp(p, pt, m, seq, ts, ssrc));
    this.#tone = tone;
    this.#ctx.ticker.add(tone);
  }

  async #sendBye(): Promise<void> {
    try {
      const flow = await this.#ctx.legs.flowFor(this.#leg);
      if (flow === undefined) return;
      const bye = this.#leg.request('BYE');
      this.#ctx.legs.send(bye, flow, { onResponse: () => undefined, onTimeout: () => undefined, onTransportError: () => undefined });
    } catch (err) {
      this.#ctx.logger.warn({ err, callId: this.callId }, 'service call: BYE not sent');
    }
  }

  #reply(server: ServerTransaction, req: SipRequest, status: number, reason: string, headers: Array<[string, string]> = []): void {
    const res = createResponse(req, status, reason, { toTag: this.localTag, headers });
    if (this.#ctx.productName !== undefined) res.headers.set('server', this.#ctx.productName);
    server.respond(res);
  }

  #fail(status: number, reason: string): void {
    if (this.#ended) return;
    const headers: Array<[string, string]> = status === 503 ? [['Retry-After', '10']] : [];
    this.#reply(this.#server, this.#invite, status, reason, headers);
    this.#finalStatus = status;
    this.#end('failed');
  }

  #end(why: CallEnd): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#retransmit?.stop();
    if (this.#limit !== undefined) clearTimeout(this.#limit);
    if (this.#tone !== undefined) this.#ctx.ticker.remove(this.#tone);
    const endpoint = this.#endpoint;
    this.#endpoint = undefined;
    if (endpoint !== undefined) {
      endpoint.onRtp = undefined;
      void endpoint.close().catch(() => undefined);
    }
    this.#ctx.releaseSession();
    this.#ctx.logger.info({ callId: this.callId, service: this.spec.name, why, seconds: Math.round((performance.now() - this.startedAt) / 1000) }, 'service call ended');
    this.#ctx.ended(this, why);
  }
}
