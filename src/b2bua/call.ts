/**
 * One B2BUA call: the A leg (the dialog the caller made with us), the B leg
 * (the dialog we made with the callee) and the media between them. Every
 * request that arrives on one leg is answered on that leg and, when it means
 * something to the far end, re-issued on the other in that leg's own terms.
 *
 *   INVITE on A ──► calling ──(1xx relayed)──► early ──(2xx relayed)──► answered ──(ACK on A)──► confirmed
 *        │             │ CANCEL on A: 200 (pipeline), CANCEL on B, 487 on A ──────────────────────┐
 *        │             │ non-2xx from B: mapped to A ────────────────────────────────────────────┤
 *        │                                              BYE on either leg: 200 there, BYE on the other ┤
 *        │                                              no ACK for our 2xx within 64·T1: BYE both ─────┤
 *        └───────────────────────────────────────────────────────────────────────────────────────► ended
 *
 * The media engine sees every SDP in A-leg terms (A's Call-ID and tags, the
 * flows each SDP travels between), so one engine session serves both legs
 * even though their Call-IDs differ (DESIGN.md, media/media-control.ts).
 */
import type { Logger } from '../log/logger.js';
import type { MediaHooks } from '../media/media-control.js';
import { hasSdp } from '../media/sdp.js';
import type { Dispatcher, Target } from '../routing/index.js';
import { newTag, randomToken } from '../sip/ids.js';
import { formatUri } from '../sip/uri.js';
import type { SipRequest, SipResponse } from '../sip/message.js';
import { createResponse } from '../sip/response.js';
import { serialize } from '../sip/serializer.js';
import type { ClientTransaction, InviteClientTransaction, ServerTransaction } from '../transaction/index.js';
import type { Flow } from '../transport/flow.js';
import type { DialogRecords } from './dialog-records.js';
import { translateReferTo, translateReplaces, type DialogLookup } from './dialog-translation.js';
import { copyEndToEnd } from './header-policy.js';
import { contactOf, identityOf, Leg, type LegHop } from './leg.js';
import type { LegTransport } from './leg-transport.js';
import { AckExchange } from './ack-exchange.js';
import { OutboundRequest, type Candidate } from './outbound-request.js';
import { Retransmitter } from './retransmitter.js';

/** Prefix of our leg keys (Contact user parts), so requests for ended legs are recognised as ours. */
export const LEG_KEY_PREFIX = 'b2b';

/** What a call needs from the B2BUA around it. */
export interface CallContext {
  legs: LegTransport;
  media: MediaHooks | undefined;
  records: DialogRecords;
  dispatcher: Dispatcher;
  logger: Logger;
  productName: string | undefined;
  failoverTimeoutMs: number;
  flowFailedStatus: number;
  lookupDialog: DialogLookup;
  /** The real party behind one of our leg Contacts (for Refer-To), if the URI is one. */
  legTarget(uri: string): string | undefined;
  /** Index a leg so in-dialog requests find it. */
  register(leg: Leg, call: Call): void;
  /** The call is over: drop its legs from every index. */
  ended(call: Call): void;
}

/** Where the B leg of a new call goes. */
export type BRoute =
  | { kind: 'flow'; flow: Flow }
  | { kind: 'targets'; targets: Target[] }
  | { kind: 'uri' };

export type CallState = 'calling' | 'early' | 'answered' | 'confirmed' | 'ended';

/** A reliable provisional we sent on A (RFC 3262), mapped to B's. */
interface ReliableProvisional {
  bRseq: number;
  retransmitter: Retransmitter | undefined;
}

const TARGET_REFRESH: ReadonlySet<string> = new Set(['INVITE', 'UPDATE', 'SUBSCRIBE', 'NOTIFY', 'REFER']);
const MAX_RELIABLE = 64;

export class Call {
  readonly a: Leg;
  readonly b: Leg;
  readonly createdAt = Date.now();
  readonly #ctx: CallContext;
  readonly #log: Logger;
  readonly #invite: ServerTransaction;
  readonly #aInvite: SipRequest;
  readonly #aFlow: Flow;
  #route: BRoute;
  #state: CallState = 'calling';
  #out: OutboundRequest | undefined;
  /** The B-leg INVITE of the attempt in progress (CSeq and SDP for its ACK). */
  #bInvite: SipRequest | undefined;
  #bFlow: Flow | undefined;
  /** 2xx retransmissions until their ACK, and our ACKs kept for retransmitted 2xx. */
  readonly #acks: AckExchange;
  readonly #reliable = new Map<number, ReliableProvisional>();
  /** An INVITE transaction in progress per leg (arriving or sent), for glare (RFC 3261 §14.2). */
  readonly #inviteBusy = new Set<Leg>();
  /** A-leg responses to the initial INVITE leave in arrival order, even when one waits for the media engine. */
  #relayChain: Promise<void> = Promise.resolve();

  constructor(ctx: CallContext, invite: ServerTransaction, req: SipRequest, source: Flow, inside: boolean, route: BRoute) {
    this.#ctx = ctx;
    this.#invite = invite;
    this.#aInvite = req;
    this.#aFlow = source;
    this.#route = route;
    const from = req.from();
    const to = req.to();
    const fromUri = from === undefined ? (req.headers.get('from') ?? '') : identityOf(from);
    const toUri = to === undefined ? (req.headers.get('to') ?? '') : identityOf(to);
    this.a = new Leg({
      side: 'a',
      key: newLegKey(),
      callId: req.callId ?? '',
      localTag: newTag(),
      remoteTag: from?.params.get('tag') ?? undefined,
      localUri: toUri,
      remoteUri: fromUri,
      localCseq: initialCseq(),
      remoteCseq: req.cseq()?.seq,
      remoteTarget: contactOf(req) ?? (from !== undefined ? formatUri(from.uri) : req.uri),
      routeSet: req.headers.values('record-route'),
      hop: inside ? { kind: 'route' } : { kind: 'flow', token: ctx.legs.tokenFor(source) },
      inside,
    });
    const bHop: LegHop = route.kind === 'flow' ? { kind: 'flow', token: ctx.legs.tokenFor(route.flow) } : { kind: 'route' };
    this.b = new Leg({
      side: 'b',
      key: newLegKey(),
      callId: randomToken(16),
      localTag: newTag(),
      localUri: fromUri,
      remoteUri: toUri,
      localCseq: initialCseq(),
      remoteTarget: req.uri,
      // Routes left after ours were popped: an inside request that names its next hop.
      routeSet: route.kind === 'uri' ? req.headers.values('route') : [],
      hop: bHop,
      inside: route.kind !== 'flow',
    });
    this.#log = ctx.logger.child({ callId: this.a.callId, bCallId: this.b.callId });
    this.#acks = new AckExchange(ctx.legs, ctx.media, this.a);
  }

  get state(): CallState {
    return this.#state;
  }

  /** The client flows this call depends on (a closed WebSocket ends it). */
  clientFlows(): Flow[] {
    const out: Flow[] = [];
    if (this.a.hop.kind === 'flow') out.push(this.#aFlow);
    if (this.#route.kind === 'flow') out.push(this.#route.flow);
    return out;
  }

  /** Start the B leg: our INVITE to the first candidate that answers. */
  start(): void {
    this.#ctx.register(this.a, this);
    this.#ctx.register(this.b, this);
    this.#ctx.records.save(this.a, this.b);
    this.#ctx.records.save(this.b, this.a);
    const route = this.#route;
    const candidates: Candidate[] = route.kind === 'targets'
      ? route.targets.map((t) => ({ label: t.uri, target: t, flow: () => this.#ctx.legs.flowToTarget(t) }))
      : route.kind === 'flow'
        ? [{ label: `flow:${route.flow.id}`, flow: async () => (route.flow.closed ? undefined : route.flow) }]
        : [{ label: this.b.nextHopUri(), flow: () => this.#ctx.legs.flowFor(this.b) }];
    this.#out = new OutboundRequest({
      candidates,
      failover: route.kind === 'targets',
      failoverTimeoutMs: this.#ctx.failoverTimeoutMs,
      unreachableStatus: route.kind === 'flow' ? this.#ctx.flowFailedStatus : 503,
      dispatcher: this.#ctx.dispatcher,
      logger: this.#log,
      build: (flow) => this.#buildBInvite(flow),
      send: (req, flow, user) => this.#ctx.legs.send(req, flow, user, { timerC: true }),
      onResponse: (res, tx) => this.#onBInviteResponse(res, tx),
      onGiveUp: (status, reason) => this.#failA(status, reason),
    });
    this.#out.start();
  }

  async #buildBInvite(flow: Flow): Promise<SipRequest> {
    const a = this.#aInvite;
    const req = this.b.request('INVITE');
    const mf = a.maxForwards();
    req.headers.set('max-forwards', String(mf === undefined ? 70 : mf - 1));
    req.headers.append('contact', this.b.contact(flow.listener));
    copyEndToEnd(a, req);
    this.#translateDialogHeaders(a, req);
    if (this.#ctx.media !== undefined && hasSdp(a)) {
      // The engine works on A's identifiers; the copy keeps A's own SDP for a retry on the next target.
      const probe = a.clone();
      await this.#ctx.media.request(probe, this.#aFlow, flow);
      req.body = probe.body;
    }
    this.#bInvite = req;
    this.#bFlow = flow;
    this.b.firstHop = flow;
    return req;
  }

  // ── the initial INVITE's responses ─────────────────────────────────────

  #onBInviteResponse(res: SipResponse, tx: ClientTransaction): void {
    const status = res.status;
    const tag = res.to()?.params.get('tag') ?? undefined;
    if (status >= 200 && status < 300) {
      this.#onBInviteSuccess(res, tx, tag);
      return;
    }
    if (this.#pastEarly()) return;
    if (status < 200) {
      if (tag !== undefined && (this.b.remoteTag === undefined || this.b.remoteTag === tag)) {
        this.b.remoteTag = tag;
        this.#learnTarget(this.b, res, true);
      }
      this.#state = 'early';
      this.#queueToA(async () => this.#relayProvisional(res, tx));
      return;
    }
    this.#queueToA(async () => {
      if (this.#state === 'ended' || this.#invite.state === 'terminated') return;
      const aRes = createResponse(this.#aInvite, status === 503 ? 500 : status, status === 503 ? 'Server Internal Error' : res.reason, { toTag: this.a.localTag });
      copyEndToEnd(res, aRes);
      this.#respond(this.#invite, aRes);
      this.#end('rejected');
    });
  }

  async #relayProvisional(res: SipResponse, tx: ClientTransaction): Promise<void> {
    if (this.#pastEarly()) return;
    const aRes = this.#dialogResponse(res);
    const bRseq = Number(res.headers.get('rseq'));
    const reliable = res.optionTags('require').includes('100rel') && Number.isInteger(bRseq) && bRseq > 0;
    let aRseq = 0;
    if (reliable) {
      // RFC 3262 §3: our own RSeq space on A, mapped back when A's PRACK comes.
      aRseq = this.a.rseq++;
      aRes.headers.set('rseq', String(aRseq));
    }
    if (hasSdp(aRes)) await this.#ctx.media?.response(aRes, this.#aInvite, tx.flow, this.#aFlow);
    if (this.#pastEarly()) return;
    this.#respond(this.#invite, aRes);
    if (reliable && this.#reliable.size < MAX_RELIABLE) {
      const retransmitter = this.#aFlow.reliable ? undefined : new Retransmitter(this.#aFlow, serialize(aRes), this.#ctx.legs.timers, () => undefined);
      this.#reliable.set(aRseq, { bRseq, retransmitter });
    }
    this.#ctx.records.save(this.a, this.b);
    this.#ctx.records.save(this.b, this.a);
  }

  #onBInviteSuccess(res: SipResponse, tx: ClientTransaction, tag: string | undefined): void {
    const b = this.b;
    if (b.confirmed && tag === b.remoteTag) {
      // A retransmitted 2xx: our ACK got lost (RFC 3261 §13.2.2.4).
      this.#acks.resend(b, res.cseq()?.seq ?? 0);
      return;
    }
    if (b.confirmed || this.#state === 'ended') {
      // Another fork answered, or the call is already over (CANCEL raced the 2xx): ACK and BYE that dialog.
      void this.#ackAndBye(res, tx);
      return;
    }
    b.remoteTag = tag;
    this.#learnTarget(b, res, true);
    b.confirmed = true;
    this.#state = 'answered';
    for (const r of this.#reliable.values()) r.retransmitter?.stop();
    const bInvite = this.#bInvite;
    const bSeq = res.cseq()?.seq ?? 0;
    const lateOffer = bInvite === undefined || !hasSdp(bInvite);
    // With the offer in our INVITE the ACK carries nothing: B need not wait for A.
    if (!lateOffer) void this.#acks.send(this.b, bSeq, undefined);
    this.#queueToA(async () => {
      const aRes = this.#dialogResponse(res);
      if (hasSdp(aRes)) await this.#ctx.media?.response(aRes, this.#aInvite, tx.flow, this.#aFlow);
      if (this.#state === 'ended') return;
      this.a.confirmed = true;
      this.#send2xx(this.#invite, aRes, this.a, bSeq, lateOffer);
      this.#ctx.records.save(this.a, this.b);
      this.#ctx.records.save(this.b, this.a);
    });
  }

  /**
   * B's 1xx/2xx as A's: our tag and Contact, and the INVITE's Record-Route
   * copied back so the proxies on A's path stay on it (RFC 3261 §12.1.1).
   */
  #dialogResponse(res: SipResponse): SipResponse {
    const aRes = createResponse(this.#aInvite, res.status, res.reason, { toTag: this.a.localTag });
    for (const rr of this.#aInvite.headers.getAll('record-route')) aRes.headers.append('record-route', rr);
    copyEndToEnd(res, aRes);
    aRes.headers.append('contact', this.a.contact(this.#aFlow.listener));
    return aRes;
  }

  /** CANCEL from A (the pipeline already answered it 200): CANCEL on B, 487 on A. */
  cancel(): void {
    if (this.#state !== 'calling' && this.#state !== 'early') return;
    this.#out?.cancel();
    this.#respond(this.#invite, createResponse(this.#aInvite, 487, 'Request Terminated', { toTag: this.a.localTag }));
    this.#end('canceled');
  }

  /** B gave no usable answer: A's INVITE ends with our status. */
  #failA(status: number, reason?: string): void {
    this.#queueToA(async () => {
      if (this.#state === 'ended') return;
      this.#respond(this.#invite, createResponse(this.#aInvite, status, reason, { toTag: this.a.localTag }));
      this.#end('failed');
    });
  }

  // ── in-dialog requests ─────────────────────────────────────────────────

  /** A request in one of our dialogs, arriving on leg `from`. */
  onRequest(server: ServerTransaction, req: SipRequest, from: Leg): void {
    const seq = req.cseq()?.seq ?? 0;
    if (from.remoteCseq !== undefined && seq <= from.remoteCseq && req.method !== 'PRACK') {
      // RFC 3261 §12.2.2: a lower CSeq than the last one is out of order.
      this.#respond(server, createResponse(req, 500, 'Server Internal Error (CSeq out of order)', { headers: [['Retry-After', '1']] }));
      return;
    }
    from.remoteCseq = seq;
    this.#ctx.records.touch(from);
    if (req.method === 'BYE') {
      this.#respond(server, createResponse(req, 200, 'OK'));
      this.hangUp(from);
      return;
    }
    if (this.#state === 'ended') {
      this.#respond(server, createResponse(req, 481, 'Call/Transaction Does Not Exist'));
      return;
    }
    if (req.method === 'INVITE' && (this.#inviteBusy.has(from) || this.#inviteBusy.has(this.#peer(from)) || this.#state === 'calling' || this.#state === 'early')) {
      // RFC 3261 §14.2: one INVITE transaction at a time in each direction.
      this.#respond(server, createResponse(req, 491, 'Request Pending'));
      return;
    }
    if (TARGET_REFRESH.has(req.method)) {
      const contact = contactOf(req);
      if (contact !== undefined && from.hop.kind === 'route') from.remoteTarget = contact;
    }
    void this.#relayRequest(server, req, from).catch((err: unknown) => {
      this.#log.error({ err, method: req.method }, 'in-dialog relay failed');
      this.#respond(server, createResponse(req, 500, 'Server Internal Error'));
    });
  }

  async #relayRequest(server: ServerTransaction, req: SipRequest, x: Leg): Promise<void> {
    const y = this.#peer(x);
    const method = req.method;
    let rseqEntry: ReliableProvisional | undefined;
    let rack: string | undefined;
    if (method === 'PRACK') {
      // RFC 3262 §7.2: RAck names A's reliable provisional; B knows its own RSeq and CSeq.
      const [rseqText] = (req.headers.get('rack') ?? '').trim().split(/\s+/);
      rseqEntry = x === this.a ? this.#reliable.get(Number(rseqText)) : undefined;
      if (rseqEntry === undefined) {
        this.#respond(server, createResponse(req, 481, 'Call/Transaction Does Not Exist'));
        return;
      }
      rseqEntry.retransmitter?.stop();
      rack = `${rseqEntry.bRseq} ${this.#bInvite?.cseq()?.seq ?? 0} INVITE`;
    }
    const flow = await this.#ctx.legs.flowFor(y);
    if (flow === undefined) {
      this.#respond(server, createResponse(req, this.#ctx.legs.unreachableStatus(y)));
      return;
    }
    const out = y.request(method);
    if (TARGET_REFRESH.has(method)) out.headers.append('contact', y.contact(flow.listener));
    copyEndToEnd(req, out);
    if (rack !== undefined) out.headers.set('rack', rack);
    this.#translateDialogHeaders(req, out);
    if (this.#ctx.media !== undefined && hasSdp(req)) {
      try {
        if (x === this.a) {
          const probe = req.clone();
          await this.#ctx.media.request(probe, server.flow, flow);
          out.body = probe.body;
        } else {
          await this.#ctx.media.request(out, server.flow, flow);
        }
      } catch (err) {
        const status = (err as { status?: unknown }).status;
        this.#respond(server, createResponse(req, typeof status === 'number' ? status : 500));
        return;
      }
    }
    if (this.#state === 'ended') {
      this.#respond(server, createResponse(req, 481, 'Call/Transaction Does Not Exist'));
      return;
    }
    if (method === 'INVITE') {
      this.#inviteBusy.add(x);
      this.#inviteBusy.add(y);
    }
    let chain: Promise<void> = Promise.resolve();
    let answered = false;
    const finish = (): void => {
      if (method !== 'INVITE') return;
      this.#inviteBusy.delete(x);
      this.#inviteBusy.delete(y);
    };
    this.#ctx.legs.send(out, flow, {
      onResponse: (res, tx) => {
        if (res.status === 100) return;
        if (method === 'INVITE' && res.status >= 200 && res.status < 300 && answered) {
          this.#acks.resend(y, res.cseq()?.seq ?? 0);
          return;
        }
        if (res.status >= 200) answered = true;
        chain = chain.then(() => this.#relayResponse(server, req, x, out, res, tx.flow)).catch((err: unknown) => this.#log.error({ err }, 'response relay failed'));
        if (res.status >= 200) void chain.then(finish);
      },
      onTimeout: () => {
        finish();
        this.#respond(server, createResponse(req, 408, 'Request Timeout'));
      },
      onTransportError: () => {
        finish();
        this.#respond(server, createResponse(req, this.#ctx.legs.unreachableStatus(y)));
      },
    });
  }

  /** A response from leg y to a request we relayed from leg x. */
  async #relayResponse(server: ServerTransaction, req: SipRequest, x: Leg, out: SipRequest, res: SipResponse, yFlow: Flow): Promise<void> {
    const y = this.#peer(x);
    const method = req.method;
    const xRes = createResponse(req, res.status, res.reason);
    copyEndToEnd(res, xRes);
    const success = res.status >= 200 && res.status < 300;
    if (success && TARGET_REFRESH.has(method)) {
      xRes.headers.append('contact', x.contact(server.flow.listener));
      const contact = contactOf(res);
      if (contact !== undefined && y.hop.kind === 'route') y.remoteTarget = contact;
    }
    if (this.#ctx.media !== undefined && res.status < 300 && hasSdp(res) && (method === 'INVITE' || method === 'UPDATE')) {
      if (x === this.a) {
        await this.#ctx.media.response(xRes, req, yFlow, server.flow);
      } else {
        await this.#ctx.media.response(res, out, yFlow, server.flow);
        xRes.body = res.body;
      }
    }
    if (method === 'INVITE' && success) {
      const lateOffer = !hasSdp(out);
      this.#send2xx(server, xRes, x, out.cseq()?.seq ?? 0, lateOffer);
      if (!lateOffer) void this.#acks.send(y, out.cseq()?.seq ?? 0, undefined);
      return;
    }
    this.#respond(server, xRes);
  }

  // ── ACK ────────────────────────────────────────────────────────────────

  /** An ACK for a 2xx we sent on leg `from`. */
  onAck(ack: SipRequest, from: Leg, source: Flow): void {
    const pending = this.#acks.acknowledged(ack, from);
    if (pending === undefined) return;
    if (from === this.a && this.#state === 'answered') this.#state = 'confirmed';
    // Late offer: this ACK carries the answer, which the other side is still waiting for.
    if (pending.lateOffer) void this.#acks.send(this.#peer(from), pending.peerSeq, { ack, from, source });
  }

  /** Send a 2xx to an INVITE on `leg`; retransmit it on UDP until the ACK (RFC 3261 §13.3.1.4). */
  #send2xx(server: ServerTransaction, res: SipResponse, leg: Leg, peerSeq: number, lateOffer: boolean): void {
    this.#respond(server, res);
    this.#acks.await2xx(server.flow, res, leg, peerSeq, lateOffer, () => {
      this.#log.info({ leg: leg.side }, 'no ACK for our 2xx: ending the call');
      this.hangUp(undefined);
    });
  }

  // ── teardown ───────────────────────────────────────────────────────────

  /**
   * End the call from `from`'s side (BYE received there; undefined: our own
   * decision, with `reason` as the BYE's Reason header): BYE every other
   * established leg; a caller still waiting gets 487.
   */
  hangUp(from: Leg | undefined, reason?: string): void {
    if (this.#state === 'ended') return;
    if (this.#state === 'calling' || this.#state === 'early') {
      this.#out?.cancel();
      this.#respond(this.#invite, createResponse(this.#aInvite, 487, 'Request Terminated', { toTag: this.a.localTag }));
    }
    for (const leg of [this.a, this.b]) {
      if (leg === from || !leg.confirmed) continue;
      void this.#sendBye(leg, reason);
    }
    this.#end(from === undefined ? 'ended by us' : `BYE on ${from.side}`);
  }

  async #sendBye(leg: Leg, reason: string | undefined): Promise<void> {
    const flow = await this.#ctx.legs.flowFor(leg);
    if (flow === undefined) return;
    const bye = leg.request('BYE');
    if (reason !== undefined) bye.headers.set('reason', reason);
    const log = this.#log;
    this.#ctx.legs.send(bye, flow, {
      onResponse: () => undefined,
      onTimeout: () => log.debug({ leg: leg.side }, 'BYE timed out'),
      onTransportError: () => log.debug({ leg: leg.side }, 'BYE: transport error'),
    });
  }

  /** A 2xx we will not use (another fork, or after CANCEL): ACK it and BYE that dialog (RFC 3261 §13.2.2.4). */
  async #ackAndBye(res: SipResponse, tx: ClientTransaction): Promise<void> {
    const tag = res.to()?.params.get('tag') ?? undefined;
    const stray = new Leg({
      side: 'b', key: this.b.key, callId: this.b.callId, localTag: this.b.localTag, remoteTag: tag,
      localUri: this.b.localUri, remoteUri: this.b.remoteUri, localCseq: res.cseq()?.seq ?? 0,
      remoteTarget: contactOf(res) ?? this.b.remoteTarget, routeSet: res.headers.values('record-route').reverse(),
      hop: this.b.hop, inside: this.b.inside,
    });
    stray.firstHop = tx.flow;
    stray.targetLearned = true;
    const flow = stray.hop.kind === 'flow' ? tx.flow : ((await this.#ctx.legs.flowFor(stray)) ?? tx.flow);
    this.#ctx.legs.sendAck(stray.request('ACK', res.cseq()?.seq ?? 0), flow);
    this.#ctx.legs.send(stray.request('BYE'), flow, { onResponse: () => undefined, onTimeout: () => undefined, onTransportError: () => undefined });
  }

  /** Forget everything: timers, media, records, indices. Idempotent. */
  #end(why: string): void {
    if (this.#state === 'ended') return;
    this.#state = 'ended';
    this.#log.debug({ why }, 'call ended');
    this.#acks.stop();
    for (const r of this.#reliable.values()) r.retransmitter?.stop();
    this.#reliable.clear();
    this.#inviteBusy.clear();
    this.a.ended = true;
    this.b.ended = true;
    this.#ctx.media?.endCall(this.a.callId);
    this.#ctx.records.remove(this.a);
    this.#ctx.records.remove(this.b);
    this.#ctx.ended(this);
  }

  /** Shutdown: stop timers without signalling. */
  close(): void {
    this.#out?.close();
    this.#end('closed');
  }

  // ── helpers ────────────────────────────────────────────────────────────

  /** Answered or over: provisionals and failures of the initial INVITE no longer reach A. */
  #pastEarly(): boolean {
    return this.#state !== 'calling' && this.#state !== 'early';
  }

  #peer(leg: Leg): Leg {
    return leg === this.a ? this.b : this.a;
  }

  /** A leg's remote target and route set from a response that creates or confirms its dialog (RFC 3261 §12.1.2). */
  #learnTarget(leg: Leg, res: SipResponse, uac: boolean): void {
    const contact = contactOf(res);
    if (contact !== undefined && leg.hop.kind === 'route') {
      leg.remoteTarget = contact;
      leg.targetLearned = true;
    }
    const rr = res.headers.values('record-route');
    if (rr.length > 0 || res.status >= 200) leg.routeSet = uac ? rr.reverse() : rr;
  }

  /** Replaces and Refer-To name dialogs as this side knows them; the other side gets its own leg's ids. */
  #translateDialogHeaders(from: SipRequest, to: SipRequest): void {
    const replaces = from.headers.get('replaces');
    if (replaces !== undefined) to.headers.set('replaces', translateReplaces(replaces, this.#ctx.lookupDialog) ?? replaces);
    const referTo = from.headers.get('refer-to');
    if (referTo !== undefined) to.headers.set('refer-to', translateReferTo(referTo, this.#ctx.lookupDialog, (uri) => this.#ctx.legTarget(uri)));
  }

  #queueToA(step: () => Promise<void>): void {
    this.#relayChain = this.#relayChain.then(step).catch((err: unknown) => this.#log.error({ err }, 'relay to A failed'));
  }

  #respond(server: ServerTransaction, res: SipResponse): void {
    if (this.#ctx.productName !== undefined && res.status >= 200 && !res.headers.has('server')) res.headers.set('server', this.#ctx.productName);
    server.respond(res);
  }
}

function newLegKey(): string {
  return LEG_KEY_PREFIX + randomToken(10);
}

/** A random first CSeq, so the two legs' spaces never line up by accident (RFC 3261 §8.1.1.5: below 2**31). */
function initialCseq(): number {
  return 1 + Math.floor(Math.random() * 20_000);
}
