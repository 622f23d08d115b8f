/**
 * The one place where a message's fate is decided. Requests, in order:
 *   sanity → transaction match (retransmission, ACK, overload) → CANCEL →
 *   Max-Forwards → loop → local (OPTIONS to us) → own Route / flow token →
 *   in-dialog | initial from outside (backend group, Path on REGISTER) |
 *   initial from inside (Route / Request-URI, or a flow token) → forward;
 *   a local registrar, when there is one, takes REGISTER and calls to its users.
 * Responses go to their client transaction; unmatched ones are forwarded
 * statelessly by the next Via (UDP) or dropped.
 */
import type { Logger } from '../log/logger.js';
import type { SbcMetrics as Metrics } from '../admin/metrics.js';
import type { Dispatcher } from '../routing/index.js';
import { newBranch } from '../sip/ids.js';
import type { SipMessage, SipRequest, SipResponse } from '../sip/message.js';
import type { ParseError } from '../sip/parser.js';
import { createResponse } from '../sip/response.js';
import { serialize } from '../sip/serializer.js';
import type { ClientTransaction, ClientTransactionUser, InviteServerTransaction, ServerTransaction, TransactionLayer } from '../transaction/index.js';
import type { Flow } from '../transport/flow.js';
import type { TransportLayer } from '../transport/index.js';
import { isLooping, isToUs, loopHash, OWN_BRANCH_PREFIX } from './loop-detection.js';
import { HopFlows, type ForwardHop } from './hop-flows.js';
import { InsideSources, type BackendAddress } from './inside-sources.js';
import { OwnAddresses } from './own-addresses.js';
import { ProxyTransaction, type BranchTarget } from './proxy-transaction.js';
import { OwnRoutes, type NextHop, type PoppedRoutes } from './own-routes.js';
import { addRecordRoute, ownVia } from './record-route.js';
import { stampVia } from './via-stamp.js';
import { responseTransform, type RelayDeps, type RelayState } from './response-relay.js';
import { forwardResponseStatelessly } from './stateless-response.js';
import { addPath as addPathHeader, restoreWsTransport } from '../registrar/path.js';
import { checkRequest } from './sanity.js';
import type { Registrations } from '../registrar/registrations.js';
import type { MediaHooks } from '../media/media-control.js';
import type { TopologyHiding } from '../topology/index.js';
import { RequestRejection } from '../errors.js';
import { OutsideChecks } from './outside-checks.js';
import type { EstablishedCalls } from './established-calls.js';
import type { Authenticator, CallAdmission, RequestScreen } from './request-checks.js';
import type { LocalDomain } from './local-domain.js';
import { LocalTakeover } from './local-takeover.js';
import { chooseBackend, type RoutingStep } from './backend-choice.js';
import type { ClientFlowHooks } from './client-flow-hooks.js';

export interface PipelineOptions {
  transport: TransportLayer;
  transactions: TransactionLayer;
  dispatcher: Dispatcher;
  logger: Logger;
  metrics?: Metrics;
  /** CIDRs whose requests count as inside, besides backend targets. */
  trustedSources: readonly string[];
  /** Backend group for REGISTER (registrar.backend); Path is added when pathMode. */
  registrar: { backend: string; pathMode: boolean; rewriteWsContact: boolean };
  /** Our view of registrations relayed through us, learnt from the registrar's answers. */
  registrations?: Registrations;
  /** Media engine for SDP on calls with a WebRTC side; absent = SDP passes through. */
  media?: MediaHooks;
  /** B2BUA mode: takes over dialogs instead of proxying them (REGISTER and OPTIONS to us stay here). */
  dialogs?: RequestTaker;
  /** Status for a flow that is gone: 430 Flow Failed (RFC 5626) or 480. */
  flowFailedStatus: number;
  /** A silent target is abandoned for the next one after this long. */
  failoverTimeoutMs: number;
  /** Value of Server / User-Agent on what we generate. */
  productName?: string;
  /** Proxy-mode topology hiding (topologyHiding.enabled); absent = messages pass as routed. */
  topology?: TopologyHiding;
  /** Rate limits and blocked scanners, on every request from outside; absent = all pass. */
  screen?: RequestScreen;
  /** Digest authentication of initial requests from outside (security.auth.mode local); absent = none. */
  auth?: Authenticator;
  /** Concurrent calls per user (security.maxCallsPerUser); absent = unlimited. */
  calls?: CallAdmission;
  /** Calls up through the proxy (2xx seen, BYE not yet), for the drain. */
  established?: EstablishedCalls;
  /** registrar.mode local: takes REGISTER and initial requests for its users instead of a backend. */
  localDomain?: LocalDomain;
  /** Operator routing (routes rules, routing.script, routing.http) on initial requests; absent = none. */
  routing?: RoutingStep;
  /** Flow recovery: client identities, calls answered through us, requests for a client flow that is down. */
  clientFlows?: ClientFlowHooks;
}

/** Methods that create a dialog and so get our Record-Route (RFC 3261 §16.6 step 4). */
const DIALOG_FORMING: ReadonlySet<string> = new Set(['INVITE', 'SUBSCRIBE', 'REFER', 'NOTIFY']);
/** Initial requests that fail over to the next target (issue: INVITE/REGISTER/MESSAGE/OPTIONS). */
const FAILOVER: ReadonlySet<string> = new Set(['INVITE', 'REGISTER', 'MESSAGE', 'OPTIONS', 'SUBSCRIBE']);
const ALLOW = 'INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, MESSAGE, INFO, UPDATE, PRACK, REFER, SUBSCRIBE, NOTIFY';

/** What a request taker (the B2BUA) is handed. */
export interface TakenRequest {
  server: ServerTransaction;
  req: SipRequest;
  source: Flow;
  inside: boolean;
  /**
   * Pops our own Route entries (Record-Route, Path) and resolves the flow
   * token among them (RFC 5626 §5.3); `error: 'tampered'` → answer 403,
   * a token without a flow → the client is gone (430).
   */
  popOwnRoutes(): PoppedRoutes;
  /** Proxy the request to `hop` after all (a dialog another node holds, flow recovery). */
  relay(hop: NextHop): void;
}

/** A transaction user that can take requests over from the proxy (B2BUA mode). */
export interface RequestTaker {
  /** True when it took the request (and will answer it). */
  takeRequest(taken: TakenRequest): boolean;
  /** An ACK for a 2xx (end to end): true when it belongs to one of its dialogs. */
  takeAck(req: SipRequest, source: Flow, inside: boolean): boolean;
  /** CANCEL for an INVITE it took: true when it handles it (the 200 to the CANCEL is already sent). */
  takeCancel(invite: ServerTransaction): boolean;
}

export class Pipeline {
  readonly #o: PipelineOptions;
  readonly #log: Logger;
  readonly #own: OwnAddresses;
  readonly #routes: OwnRoutes;
  readonly #inside: InsideSources;
  readonly #checks: OutsideChecks;
  /** Server transaction → its proxy context, so CANCEL can find what to cancel. */
  readonly #contexts = new WeakMap<ServerTransaction, ProxyTransaction>();
  /** registrar.mode local: the requests the local registrar takes instead of a backend. */
  readonly #local: LocalTakeover | undefined;
  #draining = false;
  /** Topology hiding of what the proxy relays (in B2BUA mode: REGISTER only; the legs hide by construction). */
  readonly #topo: TopologyHiding | undefined;
  /** Requests from outside whose Call-ID we unmasked → the masked form their responses must carry. */
  readonly #masked = new WeakMap<SipRequest, string>();
  readonly #relayDeps: RelayDeps;
  /** Where each hop is reached: a client's flow or a connection. */
  readonly #hops: HopFlows;

  constructor(options: PipelineOptions) {
    this.#o = options;
    this.#log = options.logger;
    this.#own = new OwnAddresses(options.transport.listeners);
    // In B2BUA mode only REGISTER (and OPTIONS to us) is proxied: hiding covers exactly that; the legs hide by construction.
    this.#topo = options.topology;
    this.#routes = new OwnRoutes(this.#own, options.transport.flows, (tk) => this.#topo?.isKey(tk) === true);
    this.#inside = new InsideSources(options.trustedSources);
    this.#hops = new HopFlows(options.transport, this.#inside, this.#log);
    this.#checks = new OutsideChecks(options);
    this.#relayDeps = { media: options.media, own: this.#own, isInside: (flow) => this.isInside(flow) };
    this.#local = options.localDomain === undefined ? undefined : new LocalTakeover(options.localDomain, {
      respond: (server, status, reason, headers) => this.#respond(server, status, reason, headers),
      fork: (server, req, source, inside, hops) => this.#proxy(server, req, source, inside, hops, false, undefined, true),
      logger: this.#log,
    });
    this.refreshInside();
  }

  /** Recompute which source addresses are backends (after start or reload). */
  refreshInside(): void {
    const backends: BackendAddress[] = [];
    for (const g of this.#o.dispatcher.snapshot().groups) {
      for (const t of g.targets) if (typeof t.address === 'string') backends.push({ transport: t.transport, address: t.address, port: t.port });
    }
    this.#inside.setBackends(backends);
  }

  /** The other workers' own ports (workers > 1): their relayed requests are inside. */
  trustSiblings(ports: Iterable<{ transport: string; port: number }>): void {
    this.#inside.setSiblings(ports);
  }

  /** Stop taking new calls and registrations: 503 with Retry-After (CONTRACT.md, SIGTERM). */
  drain(): void {
    this.#draining = true;
  }

  isInside(flow: Flow): boolean {
    return this.#inside.has(flow);
  }

  // ── transport user ────────────────────────────────────────────────────

  onMessage(msg: SipMessage, flow: Flow): void {
    try {
      if (msg.kind === 'request') this.#onRequest(msg, flow);
      else this.#onResponse(msg, flow);
    } catch (err) {
      this.#log.error({ err, callId: msg.callId, flow: flow.id }, 'message handling failed');
    }
  }

  onInvalid(error: ParseError, flow: Flow): void {
    this.#o.metrics?.parseErrors.inc({ transport: flow.transport, code: error.code });
    const partial = error.partial;
    if (partial?.kind !== 'request' || partial.method === 'ACK') return;
    if (partial.topVia() === undefined || partial.callId === undefined || partial.cseq() === undefined) return;
    this.#reply(partial, flow, error.status, error.reason);
  }

  // ── requests ──────────────────────────────────────────────────────────

  #onRequest(req: SipRequest, flow: Flow): void {
    this.#o.metrics?.sipMessages.inc({ direction: 'in', transport: flow.transport, method: req.method });
    const inside = this.isInside(flow);
    if (!inside) {
      const screened = this.#checks.screen(req, flow);
      if (screened !== 'pass') {
        if (screened !== 'dropped' && req.method !== 'ACK' && req.topVia() !== undefined && req.callId !== undefined && req.cseq() !== undefined) {
          this.#reply(req, flow, screened.status, screened.phrase, screened.headers);
        }
        return;
      }
    }
    const bad = checkRequest(req);
    if (bad !== undefined) {
      this.#o.metrics?.rejectedRequests.inc({ reason: 'malformed' });
      if (req.method !== 'ACK' && req.topVia() !== undefined && req.callId !== undefined && req.cseq() !== undefined) {
        this.#reply(req, flow, bad.status, bad.reason, bad.headers);
      }
      return;
    }
    stampVia(req, flow, !inside);
    if (!inside) this.#o.clientFlows?.seen(req, flow);
    if (!inside && this.#topo?.mayBeMasked(req) === true) {
      const masked = this.#topo.unmaskIncoming(req);
      if (masked !== undefined) this.#masked.set(req, masked);
    }

    const match = this.#o.transactions.receiveRequest(req, flow);
    switch (match.kind) {
      case 'absorbed':
        return;
      case 'overloaded':
        this.#o.metrics?.rejectedRequests.inc({ reason: 'overload' });
        if (req.method !== 'ACK') this.#reply(req, flow, 503, 'Service Unavailable', { 'Retry-After': '5' });
        return;
      case 'ack-2xx':
      case 'ack-unmatched':
        if (this.#o.dialogs?.takeAck(req, flow, inside) === true) return;
        void this.#forwardAck(req, flow, inside);
        return;
      case 'new':
        break;
    }
    if (req.method === 'ACK') return;

    const server = this.#o.transactions.createServerTransaction(req, flow);
    if (req.method === 'CANCEL') {
      this.#onCancel(req, server);
      return;
    }

    const mf = req.maxForwards() ?? 70;
    const toUs = isToUs(req, this.#own);
    if (mf === 0 && !(toUs && req.method === 'OPTIONS')) {
      this.#respond(server, 483, 'Too Many Hops');
      return;
    }
    if (isLooping(req, this.#own)) {
      this.#respond(server, 482, 'Loop Detected');
      return;
    }
    if (toUs && req.method === 'OPTIONS') {
      this.#respond(server, 200, 'OK', { Allow: ALLOW, Accept: 'application/sdp', Supported: 'path, outbound' });
      return;
    }

    if (!inside && req.to()?.params.get('tag') == null) {
      const denied = this.#checks.admit(req, flow);
      if (denied !== undefined) {
        this.#respond(server, denied.status, denied.phrase, denied.headers);
        return;
      }
    }

    if (req.to()?.params.get('tag') == null && this.#o.routing?.applies(req) === true) {
      void this.#o.routing.decide(server, req, flow, inside)
        .then((v) => (v.kind === 'reply' ? this.#respond(server, v.status, v.reason, v.headers) : this.#route(server, req, flow, inside)))
        .catch((err: unknown) => this.#log.error({ err, callId: req.callId }, 'message handling failed'));
      return;
    }
    this.#route(server, req, flow, inside);
  }

  /** An initial request after operator routing, or any other request: to the B2BUA, a flow, a backend or onward. */
  #route(server: ServerTransaction, req: SipRequest, flow: Flow, inside: boolean): void {
    if (this.#o.dialogs !== undefined && req.method !== 'REGISTER') {
      const taken = this.#o.dialogs.takeRequest({ server, req, source: flow, inside, popOwnRoutes: () => this.#routes.pop(req), relay: (hop) => this.#proxy(server, req, flow, inside, [hop], false) });
      if (taken) return;
    }

    // Our own Route entries (Record-Route, Path) are popped here; a flow token
    // among them names the client to deliver to (RFC 5626 §5.3).
    const popped = this.#routes.pop(req);
    if (popped.error === 'tampered' && inside) {
      this.#o.metrics?.rejectedRequests.inc({ reason: 'bad-flow-token' });
      this.#respond(server, 403, 'Invalid Flow Token');
      return;
    }
    const inDialog = req.to()?.params.get('tag') != null;

    if (inside && popped.token !== undefined) {
      // The flow named, or the node its client came back on (flow recovery).
      const hop = popped.flow !== undefined ? { kind: 'flow' as const, flow: popped.flow } : this.#o.clientFlows?.elsewhere(popped.token, popped.key);
      if (hop === undefined) {
        this.#o.metrics?.rejectedRequests.inc({ reason: 'flow-gone' });
        this.#respond(server, this.#o.clientFlows?.goneStatus(popped.token) ?? this.#o.flowFailedStatus);
        return;
      }
      this.#proxy(server, req, flow, inside, [hop], false, popped.key);
      return;
    }
    if (this.#o.localDomain !== undefined && inDialog && !inside && popped.flow !== undefined && popped.flow.id !== flow.id) {
      // A dialog between two clients of ours (local registrar): the token names the other side's flow.
      this.#proxy(server, req, flow, false, [{ kind: 'flow', flow: popped.flow }], false, undefined, true);
      return;
    }

    if (!inDialog && !inside) {
      if (this.#draining) {
        this.#respond(server, 503, 'Service Unavailable', { 'Retry-After': '30' });
        return;
      }
      if (this.#local?.take(server, req, flow, false) === true) return;
      this.#toBackend(server, req, flow);
      return;
    }

    if (!inside && this.#topo !== undefined) {
      const contactKey = this.#contactKey(req);
      const key = popped.key ?? contactKey;
      if (key !== undefined) {
        void this.#restoreThenRoute(server, req, flow, key, contactKey !== undefined, inDialog);
        return;
      }
    }
    this.#routeOnward(server, req, flow, inside, inDialog, popped.key);
  }

  /** In-dialog from either side, or initial from inside: next Route, else Request-URI. */
  #routeOnward(server: ServerTransaction, req: SipRequest, flow: Flow, inside: boolean, inDialog: boolean, key: string | undefined): void {
    if (inside && !inDialog && !this.#draining && this.#local !== undefined && req.headers.get('route') === undefined && this.#local.take(server, req, flow, true)) return;
    const hop = this.#routes.nextHop(req);
    if (hop === undefined) {
      this.#respond(server, 404, 'Not Found');
      return;
    }
    if (!inDialog && this.#draining) {
      this.#respond(server, 503, 'Service Unavailable', { 'Retry-After': '30' });
      return;
    }
    this.#proxy(server, req, flow, inside, [hop], false, key);
  }

  /**
   * An in-dialog request from outside that names a topology record: the
   * hidden route set and Contact come back, then it is routed as usual.
   * No record → 481; the store failing → 500.
   */
  async #restoreThenRoute(server: ServerTransaction, req: SipRequest, flow: Flow, key: string, contactKey: boolean, inDialog: boolean): Promise<void> {
    let found: boolean;
    try {
      found = await this.#topo!.restoreRequest(req, key, contactKey);
    } catch (err) {
      this.#log.error({ err, callId: req.callId }, 'topology record unreadable');
      this.#respond(server, 500, 'Server Internal Error');
      return;
    }
    if (!found) {
      this.#respond(server, 481, 'Call/Transaction Does Not Exist');
      return;
    }
    // The restored set starts with our own inside-facing entry after a double Record-Route.
    this.#routes.pop(req);
    this.#routeOnward(server, req, flow, false, inDialog, key);
  }

  /** The topology key in a Request-URI that is our Contact (`sip:KEY@us`). */
  #contactKey(req: SipRequest): string | undefined {
    const uri = req.requestUri();
    if (uri === undefined || !this.#topo!.isKey(uri.user) || !this.#own.isOwn(uri)) return undefined;
    return uri.user;
  }

  /** CANCEL (RFC 3261 §16.10): 200 at once; the INVITE's branches are cancelled (deferred until a provisional). */
  #onCancel(req: SipRequest, server: ServerTransaction): void {
    const invite = this.#o.transactions.findInviteServerTransaction(req) as InviteServerTransaction | undefined;
    const ctx = invite === undefined ? undefined : this.#contexts.get(invite);
    if (invite !== undefined && (this.#local?.cancel(invite) === true || this.#o.routing?.cancel(invite) === true)) {
      // Still looking the user up (local registrar) or deciding its route: the INVITE gets its 487 from there.
      this.#respond(server, 200, 'OK');
      return;
    }
    if (invite !== undefined && ctx === undefined && this.#o.dialogs !== undefined) {
      this.#respond(server, 200, 'OK');
      if (!this.#o.dialogs.takeCancel(invite)) this.#log.debug({ callId: req.callId }, 'CANCEL for an INVITE nobody tracks');
      return;
    }
    if (invite === undefined || ctx === undefined) {
      this.#respond(server, 481, 'Call/Transaction Does Not Exist');
      return;
    }
    this.#respond(server, 200, 'OK');
    ctx.cancel();
  }

  /** Initial request from outside: a target of the backend group (REGISTER: the registrar group). */
  #toBackend(server: ServerTransaction, req: SipRequest, flow: Flow): void {
    // Preloaded routes from outside are not honoured: the backend decides (no open relay).
    req.headers.remove('route');
    const choice = chooseBackend(this.#o.dispatcher, req, this.#o.registrar.backend, this.#o.routing?.destinationOf(req));
    if (!choice.ok) {
      this.#o.metrics?.rejectedRequests.inc({ reason: choice.reason });
      this.#respond(server, choice.status, choice.phrase, choice.headers);
      return;
    }
    if (req.method === 'REGISTER') this.#o.metrics?.registrationsRelayed.inc();
    const hops = choice.targets.map((t) => ({ kind: 'target' as const, target: t }));
    this.#proxy(server, req, flow, false, hops, FAILOVER.has(req.method));
  }

  /**
   * Forward statefully to one hop after another (serial failover). `source`
   * is the flow the request came on; the forwarded copies get our Via, our
   * Record-Route (dialog-forming initial requests) and Path (REGISTER from outside).
   */
  #proxy(server: ServerTransaction, req: SipRequest, source: Flow, inside: boolean, hops: ForwardHop[], failover: boolean, dialogKey?: string, local = false): void {
    const mf = req.maxForwards();
    req.headers.set('max-forwards', String(mf === undefined ? 70 : mf - 1));
    const initial = req.to()?.params.get('tag') == null;
    const recordRoute = initial && DIALOG_FORMING.has(req.method);
    const addPath = req.method === 'REGISTER' && !inside && this.#o.registrar.pathMode;
    const hash = loopHash(req);
    const started = performance.now();
    // Between two clients of ours (local registrar) there is no inside to hide: no record, flow tokens route.
    const topo = local ? undefined : this.#topo;
    // A new dialog gets its topology key now: every branch's Record-Route carries the same one.
    const key = topo !== undefined && recordRoute ? topo.newKey(inside) : dialogKey;
    /** What the branch's request lost on its way out, for its responses on their way back. */
    const relay: RelayState = { hidVias: false, hidden: undefined, confirmed: false };

    const branches: BranchTarget[] = hops.map((hop) => {
      const label = hop.kind === 'flow' ? `flow:${hop.flow.id}` : hop.kind === 'target' ? hop.target.uri : hop.uri.host;
      const target = hop.kind === 'target' ? hop.target : undefined;
      return {
        label,
        start: async (user: ClientTransactionUser): Promise<ClientTransaction | undefined> => {
          const out = await this.#hops.flowFor(hop);
          if (out === undefined) return undefined;
          if (target !== undefined) this.#o.dispatcher.acquire(target);
          const copy = req.clone();
          if (hop.kind !== 'target' && hop.requestUri !== undefined) copy.uri = hop.requestUri;
          if (hop.kind === 'address' && hop.route !== undefined) copy.headers.prepend('route', hop.route);
          const toOutside = topo !== undefined && !this.isInside(out);
          if (recordRoute) {
            const tk = key === undefined || this.#topo === undefined ? '' : this.#topo.routeParam(key);
            addRecordRoute(copy, { source, sourceInside: inside, out, outIsClient: !this.isInside(out), tokens: this.#o.transport.tokens, tk });
          }
          if (addPath) addPathHeader(copy, source, out, this.#o.transport.tokens, this.#o.registrar.rewriteWsContact);
          if (hop.kind === 'flow' && this.#o.registrar.rewriteWsContact) restoreWsTransport(copy, out);
          if (this.#o.media !== undefined) await this.#o.media.request(copy, source, out);
          const via = ownVia(out.listener, `${OWN_BRANCH_PREFIX}${hash}-${newBranch().slice(7)}`);
          if (toOutside || (topo?.hideClientVias === true && !inside)) {
            // Only our Via leaves; the responses get the request's own Vias back from `req`.
            copy.headers.set('via', via);
            relay.hidVias = true;
          } else copy.headers.prepend('via', via);
          if (toOutside) {
            try {
              relay.hidden = await topo.hideRequest(copy, { sourceInside: inside, listener: out.listener, key, recordRouted: recordRoute });
            } catch (err) {
              this.#log.error({ err, callId: req.callId }, 'topology record not stored');
              throw new RequestRejection('Server Internal Error', 500, { cause: err });
            }
          }
          this.#o.metrics?.sipMessages.inc({ direction: 'out', transport: out.transport, method: copy.method });
          return this.#o.transactions.createClientTransaction(copy, out, user, { timerC: copy.method === 'INVITE' });
        },
        onSuccess: target === undefined ? undefined : () => this.#o.dispatcher.reportSuccess(target),
        onFailure: target === undefined ? undefined : (reason) => this.#o.dispatcher.reportFailure(target, reason, started),
        onEnd: target === undefined ? undefined : () => this.#o.dispatcher.release(target),
      };
    });

    const ctx = new ProxyTransaction(server, req, branches, {
      failover,
      parallel: local && hops.length > 1,
      failoverTimeoutMs: this.#o.failoverTimeoutMs,
      unreachableStatus: hops[0]?.kind === 'flow' ? this.#o.flowFailedStatus : 503,
      logger: this.#log,
      observer: this.#o.established?.observe(req, source, inside, local, key),
      onFinal: (status) => {
        this.#o.metrics?.requestLatency.observe({ method: req.method }, (performance.now() - started) / 1000);
        // Nothing can cancel it any more: do not keep the context alive for the transaction's remaining timers.
        this.#contexts.delete(server);
        // Media ends with the call: BYE, or an initial INVITE that failed (CANCEL included).
        if (req.method === 'BYE' || (req.method === 'INVITE' && initial && status >= 300)) {
          this.#o.media?.endCall(req.callId ?? '');
          this.#checks.callEnded(req.callId);
          this.#o.established?.ended(req.callId);
        } else if (req.method === 'INVITE' && initial && status < 300) this.#o.established?.confirmed(req.callId);
      },
      ...(this.#o.media !== undefined || topo !== undefined
        ? {
            transformResponse: responseTransform(this.#relayDeps, { req, source, inside, key, recordRoute, initial, topo, masked: this.#masked.get(req) }, relay),
          }
        : {}),
      onFinalResponse: (res: SipResponse) => {
        if (addPath) this.#o.registrations?.learn(source, req, res);
        if (!local) this.#o.clientFlows?.relayed({ req, res, source, inside, clientFlow: hops[0]?.kind === 'flow' ? hops[0].flow : undefined, key });
      },
    });
    // Only an INVITE can be cancelled (RFC 3261 §9.1).
    if (req.method === 'INVITE') this.#contexts.set(server, ctx);
    ctx.start();
  }

  /** ACK for a 2xx: end to end, its own transaction, forwarded statelessly (RFC 3261 §16.11 / §13.2.2.4). */
  async #forwardAck(req: SipRequest, flow: Flow, inside: boolean): Promise<void> {
    const mf = req.maxForwards() ?? 70;
    if (mf === 0) return;
    const popped = this.#routes.pop(req);
    const topo = this.#topo;
    if (topo !== undefined && !inside) {
      const contactKey = this.#contactKey(req);
      const key = popped.key ?? contactKey;
      if (key !== undefined) {
        const found = await topo.restoreRequest(req, key, contactKey !== undefined).catch((err: unknown) => {
          this.#log.warn({ err, callId: req.callId }, 'topology record unreadable; ACK dropped');
          return false;
        });
        if (!found) return;
        this.#routes.pop(req);
      }
    }
    let hop: NextHop | undefined;
    if (popped.flow !== undefined && (inside || (this.#o.localDomain !== undefined && popped.flow.id !== flow.id))) hop = { kind: 'flow', flow: popped.flow };
    else if (inside && popped.token !== undefined) hop = this.#o.clientFlows?.elsewhere(popped.token, popped.key);
    else hop = this.#routes.nextHop(req);
    if (hop === undefined) return;
    const out = await this.#hops.flowFor(hop);
    if (out === undefined) return;
    // Toward the node (worker) its client came back on: the Route naming the client's flow there, as for other requests.
    if (hop.kind === 'address' && hop.route !== undefined) req.headers.prepend('route', hop.route);
    req.headers.set('max-forwards', String(mf - 1));
    const toOutside = topo !== undefined && !this.isInside(out);
    const via = ownVia(out.listener, newBranch());
    if (toOutside || (topo?.hideClientVias === true && !inside)) req.headers.set('via', via);
    else req.headers.prepend('via', via);
    if (toOutside) {
      try {
        await topo.hideRequest(req, { sourceInside: inside, listener: out.listener, key: popped.key, recordRouted: false });
      } catch (err) {
        this.#log.warn({ err, callId: req.callId }, 'ACK not hidden; dropped');
        return;
      }
    }
    if (this.#o.media !== undefined) {
      // The answer to a late offer rides on the ACK.
      try {
        await this.#o.media.request(req, flow, out);
      } catch {
        // Logged by the media layer; the ACK still completes the dialog.
      }
    }
    this.#o.metrics?.sipMessages.inc({ direction: 'out', transport: out.transport, method: 'ACK' });
    out.send(serialize(req));
  }

  #respond(server: ServerTransaction, status: number, reason?: string, headers?: Record<string, string>): void {
    const req = server.request;
    // An initial INVITE we answer ourselves with a failure never became a call.
    if (status >= 300 && req.method === 'INVITE' && req.to()?.params.get('tag') == null) this.#checks.callEnded(req.callId);
    const res = createResponse(req, status, reason);
    if (headers !== undefined) for (const [k, v] of Object.entries(headers)) res.headers.set(k, v);
    if (this.#o.productName !== undefined && status >= 200) res.headers.set('server', this.#o.productName);
    const masked = this.#masked.get(server.request);
    if (masked !== undefined) res.headers.set('call-id', masked);
    server.respond(res);
  }

  /** A response outside any transaction (malformed or overloaded requests). */
  #reply(req: SipRequest, flow: Flow, status: number, reason?: string, headers?: Record<string, string>): void {
    const res = createResponse(req, status, reason);
    if (headers !== undefined) for (const [k, v] of Object.entries(headers)) res.headers.set(k, v);
    const masked = this.#masked.get(req);
    if (masked !== undefined) res.headers.set('call-id', masked);
    flow.send(serialize(res));
  }

  // ── responses ─────────────────────────────────────────────────────────

  #onResponse(res: SipResponse, flow: Flow): void {
    this.#o.metrics?.sipMessages.inc({ direction: 'in', transport: flow.transport, method: 'response' });
    if (res.topVia() === undefined || res.cseq() === undefined) return;
    if (this.#topo?.mayBeMasked(res) === true && !this.isInside(flow)) this.#topo.unmaskIncoming(res);
    if (this.#o.transactions.receiveResponse(res, flow)) return;
    forwardResponseStatelessly(res, this.#own, this.#o.transport, (address, port) => this.#topo === undefined || this.#inside.hasUdpAddress(address, port));
  }

}
