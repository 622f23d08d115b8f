/**
 * B2BUA mode (`mode: b2bua`): the pipeline hands over every request except
 * REGISTER and OPTIONS to us (core/pipeline.ts `RequestTaker`). An initial
 * INVITE becomes a Call with two dialogs; requests inside them are found by
 * the dialog key in our Contact (or by Call-ID and our tag) and mapped to
 * the other leg; out-of-dialog MESSAGE/OPTIONS/INFO get a fresh Call-ID,
 * tags and CSeq on their way. SUBSCRIBE, PUBLISH and out-of-dialog REFER /
 * NOTIFY stay with the proxy.
 */
import type { SbcMetrics } from '../admin/metrics.js';
import { chooseBackend, type RoutingStep } from '../core/backend-choice.js';
import type { CallEnding, CallRecordHandle, UaCallWatcher } from '../core/call-events.js';
import type { RequestTaker, TakenRequest } from '../core/pipeline.js';
import type { Logger } from '../log/logger.js';
import type { MediaHooks } from '../media/media-control.js';
import type { Dispatcher } from '../routing/index.js';
import type { SipRequest } from '../sip/message.js';
import { createResponse } from '../sip/response.js';
import { formatHostPort, parseUri, type SipUri } from '../sip/uri.js';
import type { InviteServerTransaction, ServerTransaction, TransactionLayer } from '../transaction/index.js';
import type { Flow, TransportLayer } from '../transport/index.js';
import type { StateStore } from '../state/index.js';
import { Call, LEG_KEY_PREFIX, type BRoute, type CallContext } from './call.js';
import { DialogRecords } from './dialog-records.js';
import type { DialogPair } from './dialog-translation.js';
import type { Leg } from './leg.js';
import { LegTransport, type LegFlowRecovery } from './leg-transport.js';
import { relayStandalone } from './standalone-request.js';

export interface B2buaOptions {
  transport: TransportLayer;
  transactions: TransactionLayer;
  dispatcher: Dispatcher;
  store: StateStore;
  /** State key prefix (state.redis.keyPrefix). */
  keyPrefix: string;
  logger: Logger;
  metrics?: SbcMetrics;
  media?: MediaHooks;
  flowFailedStatus: number;
  failoverTimeoutMs: number;
  productName?: string;
  /** Most calls at once; beyond it new calls get 503. @default 100000 */
  maxCalls?: number;
  /** Told the A-leg Call-ID of every INVITE taken whose call is over (or never started). */
  callEnded?: (callId: string) => void;
  /** Operator routing: the destination it decided for a request (the pipeline ran it before handing over). */
  routing?: Pick<RoutingStep, 'destinationOf'>;
  /**
   * Flow recovery: client flows reported here are gone for good (their
   * calls end with a BYE carrying `clientGoneReason`); a closed flow is not.
   * Absent: a call ends when its client connection closes.
   */
  recovery?: LegFlowRecovery & {
    onGone(listener: (flowId: string) => void): () => void;
    tokenState(token: string): 'up' | 'recovering' | 'gone' | undefined;
  };
  /** Reason header of the BYEs for a client that is gone. */
  clientGoneReason?: string;
  /**
   * state.store redis: the URI other nodes reach this one at. Our dialog
   * records name it, and a request for a dialog another node holds (its
   * client came back here) is relayed to that node.
   */
  nodeUri?: string;
  /** The call records, when they are kept. */
  records?: UaCallWatcher;
}

/** A call's record while it is up, and why it is ending once that is known. */
interface CallRecordState {
  handle: CallRecordHandle;
  invite: ServerTransaction;
  ending: CallEnding | undefined;
}

/** Out-of-dialog requests we re-issue with our own identifiers (no dialog to keep). */
const STANDALONE: ReadonlySet<string> = new Set(['MESSAGE', 'OPTIONS', 'INFO']);
const DEFAULT_MAX_CALLS = 100_000;

/** What GET /api/dialogs shows of a call. */
export interface DialogSnapshot {
  callId: string;
  state: string;
  ageSeconds: number;
  legs: Array<{ side: 'a' | 'b'; callId: string; key: string; confirmed: boolean; inside: boolean; flow?: 'up' | 'recovering' | 'gone' }>;
}

export class B2bua implements RequestTaker {
  readonly #o: B2buaOptions;
  readonly #log: Logger;
  readonly #legs: LegTransport;
  readonly #records: DialogRecords;
  readonly #ctx: CallContext;
  readonly #maxCalls: number;
  readonly #calls = new Set<Call>();
  /** Leg key (our Contact user part) → leg and call. */
  readonly #byKey = new Map<string, { leg: Leg; call: Call }>();
  /** `Call-ID \n our tag` → leg and call (RFC 3261 §12.2.2 dialog matching). */
  readonly #byDialog = new Map<string, { leg: Leg; call: Call }>();
  readonly #byInvite = new WeakMap<ServerTransaction, Call>();
  /** Client connection flow id → calls through it, so a closed WebSocket ends them. */
  readonly #byFlow = new Map<string, Set<Call>>();
  /** Each call's record (callRecords), written when the call is forgotten. */
  readonly #callRecords = new Map<Call, CallRecordState>();
  readonly #unsubscribe: () => void;
  #draining = false;
  #closed = false;

  constructor(options: B2buaOptions) {
    this.#o = options;
    this.#log = options.logger;
    this.#maxCalls = options.maxCalls ?? DEFAULT_MAX_CALLS;
    this.#legs = new LegTransport(options.transport, options.transactions, options.logger, options.metrics, options.flowFailedStatus, options.recovery);
    this.#records = new DialogRecords(options.store, options.keyPrefix, options.logger, options.nodeUri);
    this.#ctx = {
      legs: this.#legs,
      media: options.media,
      records: this.#records,
      dispatcher: options.dispatcher,
      logger: options.logger,
      productName: options.productName,
      failoverTimeoutMs: options.failoverTimeoutMs,
      flowFailedStatus: options.flowFailedStatus,
      lookupDialog: (callId, t1, t2) => this.#lookupPair(callId, t1, t2),
      legTarget: (uri) => this.#legTarget(uri),
      register: (leg, call) => this.#register(leg, call),
      ended: (call) => this.#forget(call),
    };
    this.#unsubscribe = options.recovery !== undefined
      ? options.recovery.onGone((flowId) => this.#flowGone(flowId, true))
      : options.transport.flows.onClose((flow) => this.#flowGone(flow.id, false));
  }

  /** Live calls. */
  get size(): number {
    return this.#calls.size;
  }

  /** Stop taking new calls (503 with Retry-After); dialogs in progress go on. */
  drain(): void {
    this.#draining = true;
  }

  /** The state-store record of a leg, by the key in our Contact on that leg (empty when none). */
  storedDialog(legKey: string): Promise<Record<string, string>> {
    return this.#records.read(legKey);
  }

  snapshot(): DialogSnapshot[] {
    const now = Date.now();
    const out: DialogSnapshot[] = [];
    for (const call of this.#calls) {
      out.push({
        callId: call.a.callId,
        state: call.state,
        ageSeconds: Math.round((now - call.createdAt) / 1000),
        legs: [call.a, call.b].map((l) => ({
          side: l.side, callId: l.callId, key: l.key, confirmed: l.confirmed, inside: l.inside,
          ...(l.hop.kind === 'flow' ? { flow: this.#o.recovery?.tokenState(l.hop.token) ?? (this.#legs.flowByToken(l.hop.token) !== undefined ? 'up' as const : 'gone' as const) } : {}),
        })),
      });
      if (out.length >= 10_000) break;
    }
    return out;
  }

  // ── RequestTaker ───────────────────────────────────────────────────────

  takeRequest(taken: TakenRequest): boolean {
    if (this.#closed) return false;
    const { server, req, source, inside } = taken;
    const toTag = req.to()?.params.get('tag');
    if (toTag != null) {
      const found = this.#find(req, toTag);
      if (found === undefined) {
        if (!this.#looksOurs(req)) return false;
        if (this.#o.nodeUri !== undefined) void this.#toOwner(taken);
        else this.#respond(server, req, 481, 'Call/Transaction Does Not Exist');
        return true;
      }
      if (req.method === 'BYE') this.#ending(found.call, found.leg === found.call.a ? { by: 'caller', reason: 'bye-caller' } : { by: 'callee', reason: 'bye-callee' });
      found.call.onRequest(server, req, found.leg);
      return true;
    }
    if (req.method !== 'INVITE' && !STANDALONE.has(req.method)) return false;
    const notStarted = (): true => {
      if (req.method === 'INVITE') this.#o.callEnded?.(req.callId ?? '');
      return true;
    };
    if (this.#draining) {
      this.#respond(server, req, 503, 'Service Unavailable', { 'Retry-After': '30' });
      return notStarted();
    }
    const route = this.#routeFor(taken);
    if (route === undefined) return notStarted();
    if (req.method !== 'INVITE') {
      relayStandalone({ ctx: this.#ctx, server, req, source, route });
      return true;
    }
    if (this.#calls.size >= this.#maxCalls) {
      this.#o.metrics?.rejectedRequests.inc({ reason: 'overload' });
      this.#respond(server, req, 503, 'Service Unavailable', { 'Retry-After': '5' });
      return notStarted();
    }
    const call = new Call(this.#ctx, server, req, source, inside, route);
    this.#calls.add(call);
    this.#byInvite.set(server, call);
    const record = this.#o.records?.begin({ mode: 'b2bua', callId: call.a.callId, otherCallId: call.b.callId, invite: req, source, inside, direction: inside ? 'inbound' : 'outbound' });
    if (record !== undefined) this.#callRecords.set(call, { handle: record, invite: server, ending: undefined });
    for (const flow of call.clientFlows()) this.#watchFlow(flow, call);
    this.#o.metrics?.activeDialogs.set(this.#calls.size);
    call.start();
    return true;
  }

  takeAck(req: SipRequest, source: Flow, _inside: boolean): boolean {
    const toTag = req.to()?.params.get('tag');
    const found = toTag == null ? undefined : this.#find(req, toTag);
    if (found === undefined) {
      if (!this.#looksOurs(req)) return false;
      if (this.#o.nodeUri !== undefined) void this.#ackToOwner(req);
      return true;
    }
    found.call.onAck(req, found.leg, source);
    return true;
  }

  takeCancel(invite: ServerTransaction): boolean {
    const call = this.#byInvite.get(invite);
    if (call === undefined) return false;
    if (call.state === 'calling' || call.state === 'early') this.#ending(call, { by: 'caller', reason: 'cancel' });
    call.cancel();
    return true;
  }

  /** End every call without signalling and stop listening. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#unsubscribe();
    for (const call of [...this.#calls]) {
      this.#ending(call, { by: 'sbc', reason: 'drain' });
      call.close();
    }
    this.#calls.clear();
    this.#byKey.clear();
    this.#byDialog.clear();
    this.#byFlow.clear();
  }

  // ── routing of new requests ────────────────────────────────────────────

  /** Where the B side of a new request goes; undefined when it was answered here. */
  #routeFor(taken: TakenRequest): BRoute | undefined {
    const { server, req, inside } = taken;
    if (inside) {
      const popped = taken.popOwnRoutes();
      if (popped.error === 'tampered') {
        this.#o.metrics?.rejectedRequests.inc({ reason: 'bad-flow-token' });
        this.#respond(server, req, 403, 'Invalid Flow Token');
        return undefined;
      }
      if (popped.token !== undefined) {
        if (popped.flow === undefined) {
          this.#o.metrics?.rejectedRequests.inc({ reason: 'flow-gone' });
          this.#respond(server, req, this.#o.flowFailedStatus);
          return undefined;
        }
        return { kind: 'flow', flow: popped.flow };
      }
      const uri = req.requestUri();
      if (req.headers.values('route').length === 0 && (uri === undefined || uri.user === undefined)) {
        this.#respond(server, req, 404, 'Not Found');
        return undefined;
      }
      return { kind: 'uri' };
    }
    // Preloaded routes from outside are not honoured: the backend decides (no open relay).
    req.headers.remove('route');
    // The group (or explicit target) operator routing decided, else the usual routing by domain.
    const choice = chooseBackend(this.#o.dispatcher, req, '', this.#o.routing?.destinationOf(req));
    if (!choice.ok) {
      this.#o.metrics?.rejectedRequests.inc({ reason: choice.reason });
      this.#respond(server, req, choice.status, choice.phrase, choice.headers);
      return undefined;
    }
    return { kind: 'targets', targets: choice.targets };
  }

  // ── dialogs another node holds ─────────────────────────────────────────

  /** The URI of the node holding the dialog our Contact key names, when it is not this one. */
  async #owner(req: SipRequest): Promise<SipUri | undefined> {
    const key = req.requestUri()?.user;
    if (key === undefined) return undefined;
    const record = await this.#records.read(key).catch(() => ({} as Record<string, string>));
    const node = record['node'];
    if (node === undefined || node === this.#o.nodeUri) return undefined;
    const uri = parseUri(node);
    return uri.ok ? uri.value : undefined;
  }

  /** A request of a client that came back here for a call another node holds: relayed there (481 when none does). */
  async #toOwner(taken: TakenRequest): Promise<void> {
    const owner = await this.#owner(taken.req);
    if (owner !== undefined) taken.relay({ kind: 'address', uri: owner });
    else this.#respond(taken.server, taken.req, 481, 'Call/Transaction Does Not Exist');
  }

  async #ackToOwner(ack: SipRequest): Promise<void> {
    const owner = await this.#owner(ack);
    const flow = owner === undefined ? undefined : await this.#legs.flowToUri(`sip:${formatHostPort(owner.host, owner.port)}${owner.params.get('transport') ? `;transport=${owner.params.get('transport')}` : ''}`);
    if (flow !== undefined) this.#legs.sendAck(ack, flow);
  }

  // ── dialog lookup ──────────────────────────────────────────────────────

  #find(req: SipRequest, toTag: string): { leg: Leg; call: Call } | undefined {
    const callId = req.callId ?? '';
    const user = req.requestUri()?.user;
    if (user !== undefined) {
      const byKey = this.#byKey.get(user);
      if (byKey !== undefined && byKey.leg.callId === callId && byKey.leg.localTag === toTag) return byKey;
    }
    return this.#byDialog.get(`${callId}\n${toTag}`);
  }

  /** A request whose Request-URI is one of our leg Contacts (of a dialog that has ended). */
  #looksOurs(req: SipRequest): boolean {
    return req.requestUri()?.user?.startsWith(LEG_KEY_PREFIX) === true;
  }

  #lookupPair(callId: string, tagA: string, tagB: string): DialogPair | undefined {
    const found = this.#byDialog.get(`${callId}\n${tagA}`) ?? this.#byDialog.get(`${callId}\n${tagB}`);
    if (found === undefined) return undefined;
    const leg = found.leg;
    const peer = leg === found.call.a ? found.call.b : found.call.a;
    return {
      leg: { callId: leg.callId, localTag: leg.localTag, remoteTag: leg.remoteTag ?? '' },
      peer: { callId: peer.callId, localTag: peer.localTag, remoteTag: peer.remoteTag ?? '', remoteTarget: peer.remoteTarget },
    };
  }

  /** The party behind our Contact on a leg: the other leg's remote target. */
  #legTarget(uri: string): string | undefined {
    const parsed = parseUri(uri);
    const user = parsed.ok ? parsed.value.user : undefined;
    if (user === undefined) return undefined;
    const found = this.#byKey.get(user);
    if (found === undefined) return undefined;
    const peer = found.leg === found.call.a ? found.call.b : found.call.a;
    return peer.remoteTarget;
  }

  #register(leg: Leg, call: Call): void {
    this.#byKey.set(leg.key, { leg, call });
    this.#byDialog.set(`${leg.callId}\n${leg.localTag}`, { leg, call });
  }

  #forget(call: Call): void {
    if (!this.#calls.delete(call)) return;
    this.#o.callEnded?.(call.a.callId);
    this.#writeRecord(call);
    for (const leg of [call.a, call.b]) {
      this.#byKey.delete(leg.key);
      this.#byDialog.delete(`${leg.callId}\n${leg.localTag}`);
    }
    for (const flow of call.clientFlows()) {
      const set = this.#byFlow.get(flow.id);
      set?.delete(call);
      if (set?.size === 0) this.#byFlow.delete(flow.id);
    }
    this.#o.metrics?.activeDialogs.set(this.#calls.size);
  }

  #watchFlow(flow: Flow, call: Call): void {
    // UDP flows are soft state that expire and come back; only a closed connection means the client left.
    if (!flow.reliable) return;
    let set = this.#byFlow.get(flow.id);
    if (set === undefined) {
      set = new Set();
      this.#byFlow.set(flow.id, set);
    }
    set.add(call);
  }

  /** Calls through this client flow (flow recovery holds a flow with calls when it closes). */
  hasCallsOn(flowId: string): boolean {
    return this.#byFlow.has(flowId);
  }

  /** A client flow is gone (closed; with flow recovery: not back within the grace): its calls end. */
  #flowGone(flowId: string, clientGone: boolean): void {
    const set = this.#byFlow.get(flowId);
    if (set === undefined) return;
    this.#byFlow.delete(flowId);
    for (const call of set) {
      if (call.state === 'ended') continue;
      this.#ending(call, { by: 'sbc', reason: 'client-gone' });
      if (clientGone) this.#o.metrics?.clientGone.inc();
      call.hangUp(undefined, clientGone ? this.#o.clientGoneReason : undefined);
    }
  }

  /** Why a call is ending, noted before it ends (the first reason stands). */
  #ending(call: Call, ending: CallEnding): void {
    const r = this.#callRecords.get(call);
    if (r !== undefined && r.ending === undefined && call.state !== 'ended') r.ending = ending;
  }

  /** The call is over: its record, with the answer time, the caller's final status and why. */
  #writeRecord(call: Call): void {
    const r = this.#callRecords.get(call);
    const records = this.#o.records;
    if (r === undefined || records === undefined) return;
    this.#callRecords.delete(call);
    const hop = call.b.firstHop;
    if (hop !== undefined) records.routed(r.handle, hop);
    const answeredAt = call.a.confirmedAt;
    if (answeredAt !== undefined) records.answered(r.handle, answeredAt);
    const final = (r.invite as InviteServerTransaction).finalStatus;
    const status = final > 0 ? final : null;
    // No reason noted: a failure of the B side, or our own end of an answered call (its 2xx never ACKed).
    const ours = answeredAt !== undefined || status === null || status === 408 || (status >= 500 && status < 600);
    const ending: CallEnding = r.ending ?? { by: ours ? 'sbc' : 'callee', reason: 'failed' };
    records.finish(r.handle, status, ending);
  }

  #respond(server: ServerTransaction, req: SipRequest, status: number, reason?: string, headers?: Record<string, string>): void {
    const res = createResponse(req, status, reason);
    if (headers !== undefined) for (const [k, v] of Object.entries(headers)) res.headers.set(k, v);
    if (this.#o.productName !== undefined && status >= 200) res.headers.set('server', this.#o.productName);
    server.respond(res);
  }
}
