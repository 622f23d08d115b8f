/**
 * The request pipeline (and in mode b2bua the B2BUA behind it) as a part of
 * the gateway: it takes every message the transport reads.
 */
import { B2bua } from '../b2bua/index.js';
import type { MediaHooks } from '../media/media-control.js';
import type { MediaSelection } from '../media/media-from-config.js';
import { servicesFromConfig, type LocalServices } from '../services/index.js';
import type { Registrations } from '../registrar/registrations.js';
import type { LocalRouting } from '../registrar/local/index.js';
import type { Dispatcher } from '../routing/index.js';
import type { CallLimits } from '../security/call-limits.js';
import type { SourceScreen } from '../security/request-screen.js';
import type { Part, PartContext, ReloadOutcome, SipLayers } from '../server/part.js';
import { PRODUCT, started } from '../server/part.js';
import type { StateStore } from '../state/index.js';
import type { TopologyHiding } from '../topology/index.js';
import { topologyFromConfig } from '../topology/topology-from-config.js';
import type { Flow } from '../transport/index.js';
import type { RoutingStep } from './backend-choice.js';
import type { ProxyCallWatcher, UaCallWatcher } from './call-events.js';
import { CLIENT_GONE_REASON, mediaBetweenNodes, ProxyBye, ProxyDialogs, RecoveryHooks, type FlowRecovery } from '../flow-recovery/index.js';
import { EstablishedCalls } from './established-calls.js';
import { SiblingWorkers } from './sibling-workers.js';
import { gatewayWorkerId } from '../cluster/worker-env.js';
import { mediaBetweenWorkers } from '../media/worker-hop-media.js';
import { OwnAddresses } from './own-addresses.js';
import { Pipeline } from './pipeline.js';
import type { Authenticator } from './request-checks.js';
import type { RecordStore } from '../state/mirrored-records.js';

/** What the core is built from; each is read when the part starts (the parts before it have started by then). */
export interface CorePartOptions extends PartContext, SipLayers {
  store: () => StateStore;
  /** Where topology records go (StatePart.recordStore). @default store */
  recordStore?: () => RecordStore;
  dispatcher: () => Dispatcher;
  media: () => MediaHooks | undefined;
  registrations: Registrations;
  localDomain: () => LocalRouting | undefined;
  /** Registrar mode and the active media: the built-in services need the local registrar and the embedded relay. */
  registrarMode: 'local' | 'path';
  mediaSelection: () => MediaSelection;
  isLocalDomain: (host: string) => boolean;
  screen: () => SourceScreen;
  auth: () => Authenticator | undefined;
  calls: () => CallLimits;
  /** Settled by the state part's start (shared between workers and nodes). */
  flowTokenSecret: () => string | Buffer;
  /** Operator routing (routes rules, routing.script, routing.http). */
  routing?: () => RoutingStep;
  /** The call records (src/records), when they run. */
  records?: () => (ProxyCallWatcher & UaCallWatcher) | undefined;
  /** Flow recovery (flowRecovery.graceSeconds): what follows a client to its new flow, and ends its calls when it is gone. */
  recovery: () => FlowRecovery;
}

export class CorePart implements Part {
  readonly name = 'core';
  readonly #o: CorePartOptions;
  /** Proxy mode: calls whose 2xx went through us and whose BYE has not (what holds a drain). */
  readonly #established: EstablishedCalls;
  /** The other workers (workers > 1), for the records: a call one of them relayed here is its to record. */
  readonly #siblings = new SiblingWorkers();
  #pipeline: Pipeline | undefined;
  #b2bua: B2bua | undefined;
  #topology: TopologyHiding | undefined;
  #services: LocalServices | undefined;
  /** Proxy mode: calls answered through us with a client on one side, so a gone client's calls can be ended. */
  #proxyDialogs: ProxyDialogs | undefined;

  constructor(options: CorePartOptions) {
    this.#o = options;
    const records = options.records;
    this.#established = new EstablishedCalls(records === undefined ? {} : { watcher: records, fromSibling: (source) => this.#siblings.has(source) });
  }

  /** The proxy's established calls: where a call the SBC ends itself is reported (`ended(callId, { by, reason })`). */
  get established(): EstablishedCalls {
    return this.#established;
  }

  get pipeline(): Pipeline {
    return started(this.#pipeline);
  }

  /** The B2BUA (mode: b2bua) once started. */
  get b2bua(): B2bua | undefined {
    return this.#b2bua;
  }

  /** The built-in services (echo, tone) when they run. */
  get services(): LocalServices | undefined {
    return this.#services;
  }

  /** topologyHiding.enabled: the hidden route sets and Contacts of the proxy path. */
  get topology(): TopologyHiding | undefined {
    return this.#topology;
  }

  /** Proxy mode: the calls a client of ours is in (GET /api/dialogs). */
  get proxyDialogs(): ProxyDialogs | undefined {
    return this.#proxyDialogs;
  }

  /** Established calls: the B2BUA's, or in proxy mode those the pipeline saw answered and not yet ended. */
  get calls(): number {
    return (this.#b2bua?.size ?? 0) + this.#established.size;
  }

  isInside(flow: Flow): boolean {
    return this.pipeline.isInside(flow);
  }

  start(): void {
    const o = this.#o;
    const c = o.config;
    const transport = o.transport();
    const transactions = o.transactions();
    const dispatcher = o.dispatcher();
    const recovery = o.recovery();
    const engine = o.media();
    // Several nodes (state.store redis): a call relayed between two of them has its media done once, next to the client.
    const betweenNodes = engine !== undefined && c.state.store === 'redis' ? mediaBetweenNodes(engine, (flow) => recovery.isSiblingNode(flow)) : engine;
    // Several workers: a call relayed to the worker holding the callee's connection has its media done there.
    const media = betweenNodes !== undefined && gatewayWorkerId() !== undefined ? mediaBetweenWorkers(betweenNodes, (flow) => this.#siblings.has(flow)) : betweenNodes;
    const callLimits = o.calls();
    const routing = o.routing?.();
    const records = o.records?.();
    if (c.mode === 'b2bua') {
      this.#b2bua = new B2bua({
        transport,
        transactions,
        dispatcher,
        store: o.store(),
        keyPrefix: c.state.redis.keyPrefix,
        logger: o.logger.child({ part: 'b2bua' }),
        metrics: o.metrics,
        ...(betweenNodes !== undefined ? { media: betweenNodes } : {}),
        flowFailedStatus: c.proxy.flowFailedStatus,
        failoverTimeoutMs: c.proxy.failoverTimeoutMs,
        productName: PRODUCT,
        callEnded: (callId: string) => callLimits.ended(callId),
        ...(routing !== undefined ? { routing } : {}),
        ...(records !== undefined ? { records } : {}),
        recovery,
        ...(recovery.nodeUri !== undefined ? { nodeUri: recovery.nodeUri } : {}),
        clientGoneReason: CLIENT_GONE_REASON,
      });
    }
    // Built-in services (echo, tone): local registrar with embedded media; they take their calls as the B2BUA would.
    const selection = o.mediaSelection();
    this.#services = servicesFromConfig(c, {
      registrar: o.registrarMode,
      media: selection.active,
      embedded: selection.embedded,
      transport,
      transactions,
      isLocalDomain: o.isLocalDomain,
      logger: o.logger.child({ part: 'services' }),
      metrics: o.metrics,
      productName: PRODUCT,
      callEnded: (callId) => callLimits.ended(callId),
      ...(records !== undefined ? { records } : {}),
    });
    const topology = c.topologyHiding.enabled ? topologyFromConfig(o, o.recordStore?.() ?? o.store(), o.flowTokenSecret()) : undefined;
    this.#topology = topology;
    const logger = o.logger.child({ part: 'core' });
    const proxyDialogs = this.#b2bua !== undefined ? undefined : new ProxyDialogs({
      own: new OwnAddresses(transport.listeners),
      bye: new ProxyBye({ transport, transactions, logger, metrics: o.metrics, productName: PRODUCT }),
      teardown: {
        ended: (callId, key) => {
          media?.endCall(callId);
          callLimits.ended(callId);
          this.#established.ended(callId, { by: 'sbc', reason: 'client-gone' });
          if (key !== undefined) void topology?.end(key);
        },
      },
      logger,
      metrics: o.metrics,
    });
    this.#proxyDialogs = proxyDialogs;
    const b2bua = this.#b2bua;
    recovery.addDialogSource((flowId) => proxyDialogs?.has(flowId) === true || b2bua?.hasCallsOn(flowId) === true);
    if (proxyDialogs !== undefined) recovery.onGone((flowId) => proxyDialogs.clientGone(flowId));
    const auth = o.auth();
    const localDomain = o.localDomain();
    const pipeline = new Pipeline({
      transport,
      transactions,
      dispatcher,
      logger,
      metrics: o.metrics,
      trustedSources: c.trustedSources,
      registrar: c.registrar,
      registrations: o.registrations,
      ...(media !== undefined ? { media } : {}),
      // The pipeline's dialogs: who takes the requests that start or continue a dialog here (mode b2bua: the B2BUA; else the built-in services).
      ...(this.#b2bua !== undefined ? { dialogs: this.#b2bua } : this.#services !== undefined ? { dialogs: this.#services } : {}),
      flowFailedStatus: c.proxy.flowFailedStatus,
      failoverTimeoutMs: c.proxy.failoverTimeoutMs,
      productName: PRODUCT,
      ...(topology !== undefined ? { topology } : {}),
      screen: o.screen(),
      ...(auth !== undefined ? { auth } : {}),
      calls: callLimits,
      established: this.#established,
      ...(localDomain !== undefined ? { localDomain } : {}),
      ...(routing !== undefined ? { routing } : {}),
      clientFlows: new RecoveryHooks(recovery, proxyDialogs),
    });
    this.#pipeline = pipeline;
    transport.setUser({
      onMessage: (msg, flow) => pipeline.onMessage(msg, flow),
      onInvalid: (err, flow) => pipeline.onInvalid(err, flow),
    });
  }

  stop(): void {
    this.#proxyDialogs?.clear();
    this.#b2bua?.close();
    this.#services?.close();
  }

  /** Backends may have changed: the sources counted as inside follow them. */
  reload(): ReloadOutcome {
    this.#pipeline?.refreshInside();
    return { ok: true, applied: [] };
  }

  /** The other workers' own ports (workers > 1): what they relay here counts as inside. */
  trustSiblings(ports: Iterable<{ transport: string; port: number }>): void {
    const list = [...ports];
    this.#siblings.set(list);
    this.#pipeline?.trustSiblings(list);
  }

  /** Refuse new calls and registrations (503 + Retry-After). */
  drain(): void {
    this.#pipeline?.drain();
    this.#b2bua?.drain();
    // Service calls hold nobody's call: they are hung up at once.
    this.#services?.close();
  }
}
