/**
 * Composition root: builds the parts from the configuration as an ordered
 * list, starts them in that order and stops them in reverse; POST
 * /api/reload walks the parts that can take a re-read configuration.
 */
import { Registry } from 'prom-client';
import { createMetrics, type AdminReply, type SbcMetrics as Metrics } from './admin/index.js';
import { AdminPart } from './admin/admin-part.js';
import { GaugesPart } from './admin/gauges-part.js';
import type { B2bua } from './b2bua/index.js';
import { formatConfigError, type Config, type ConfigError } from './config/index.js';
import { CapturePart } from './capture/capture-part.js';
import { CorePart } from './core/core-part.js';
import { webHandler } from './http/web-handler.js';
import type { Logger } from './log/logger.js';
import type { EmbeddedMedia } from './media/embedded/index.js';
import { FlowRecoveryPart } from './flow-recovery/index.js';
import { MediaPart } from './media/media-part.js';
import { OverloadPart } from './overload/overload-part.js';
import { NatKeepalivePart } from './registrar/nat-keepalive-part.js';
import { RegistrarPart } from './registrar/registrar-part.js';
import { RoutingPart } from './routing/routing-part.js';
import type { Dispatcher } from './routing/index.js';
import { SecurityPart } from './security/security-part.js';
import type { CallRecorder, MediaPath } from './records/index.js';
import { RecordsPart } from './records/records-part.js';
import { PRODUCT, reloadParts, startParts, stopParts, type Part, type PartContext } from './server/part.js';
import { restartNeeded } from './server/restart-needed.js';
import type { Result } from './sip/result.js';
import { StatePart } from './state/state-part.js';
import { TransactionPart } from './transaction/transaction-part.js';
import { TransportPart } from './transport/transport-part.js';
import type { Flow, TransportLayer, WorkerSteering } from './transport/index.js';
import { setWorkerMark } from './sip/worker-mark.js';

/** The routing API for script and HTTP service authors (README "Routing logic"). */
export type {
  RelayDecision, ReplyDecision, RouteFunction, RouteResult, RoutingDecision, RoutingParty, RoutingRequest, RoutingRequestData,
  RoutingRequestJson, RoutingSource, RoutingUri,
} from './routing/script/types.js';

export interface ServerOptions {
  /** Where the configuration came from, for the start-up log line. */
  configSource?: string;
  /** Re-reads the configuration the same way it was first read (POST /api/reload). */
  reloadConfig?: () => Promise<Result<{ config: Config }, ConfigError>>;
  /** This process is one worker of several (`workers` > 1; src/cluster/). */
  worker?: WorkerSteering;
}

export class Server {
  readonly config: Config;
  readonly #log: Logger;
  readonly #options: ServerOptions;
  readonly registry = new Registry();
  readonly metrics: Metrics;
  readonly #state: StatePart;
  readonly #transport: TransportPart;
  readonly #transactions: TransactionPart;
  readonly #routing: RoutingPart;
  readonly #media: MediaPart;
  readonly #registrar: RegistrarPart;
  readonly #security: SecurityPart;
  readonly #core: CorePart;
  readonly #admin: AdminPart;
  readonly #records: RecordsPart;
  /** In start order. */
  readonly #parts: readonly Part[];
  /** The parts whose start has begun (a failed start stops these). */
  readonly #begun: Part[] = [];
  #stopped: Promise<void> | undefined;

  constructor(config: Config, logger: Logger, options: ServerOptions = {}) {
    this.config = config;
    this.#log = logger;
    this.#options = options;
    this.metrics = createMetrics(this.registry);
    const ctx: PartContext = { config, logger, metrics: this.metrics };
    // The worker id goes into every branch, Record-Route and Path this process creates.
    if (options.worker !== undefined) setWorkerMark(options.worker.id);
    const state = (this.#state = new StatePart(ctx));
    const secret = (): string | Buffer => state.flowTokenSecret;
    const store = () => state.store;
    const security = (this.#security = new SecurityPart({ ...ctx, flowTokenSecret: secret, sharedStore: () => (state.shared ? state.store : undefined) }));
    const transportPart = (this.#transport = new TransportPart({
      ...ctx,
      flowTokenSecret: secret,
      handshake: () => security.handshake,
      ...(options.worker !== undefined ? { worker: options.worker } : {}),
      httpHandler: () => webHandler(config.web, {
        registrar: registrar.mode,
        isLocalDomain: (host) => registrar.localRegistrar?.domains.has(host) === true,
        defaultDomain: () => registrar.localRegistrar?.domains.list()[0],
        services: () => core.services?.list() ?? [],
      }, logger),
    }));
    const transport = () => transportPart.layer;
    const transactionPart = (this.#transactions = new TransactionPart(ctx));
    const transactions = () => transactionPart.layer;
    const routing = (this.#routing = new RoutingPart({ ...ctx, transport, transactions, excuses: (since): boolean => overload.excuses(since) }));
    const dispatcher = (): Dispatcher => routing.dispatcher;
    const records: RecordsPart = (this.#records = new RecordsPart({
      ...ctx,
      store,
      media: (): MediaPath => media.selection.active,
      mediaEngine: (callId: string): Promise<string | undefined> | undefined => media.selection.engines?.engineFor(callId),
      outsideCallId: (callId: string, key: string | undefined): string | undefined => core.topology?.outsideCallId(callId, key),
    }));
    const flowRecovery: FlowRecoveryPart = new FlowRecoveryPart({ ...ctx, store, shared: () => state.shared, transport, isInside: (flow: Flow): boolean => core.isInside(flow) });
    const media: MediaPart = (this.#media = new MediaPart({
      ...ctx,
      store,
      transport,
      onMaxDuration: (callId: string): void => records.recorder?.end(callId, { by: 'sbc', reason: 'max-duration' }),
      flowGone: (listener: (flowId: string) => void): void => void flowRecovery.onGone(listener),
    }));
    const registrar = (this.#registrar = new RegistrarPart({ ...ctx, store, transport, dispatcher }));
    const core: CorePart = (this.#core = new CorePart({
      ...ctx,
      store,
      recordStore: () => state.recordStore,
      transport,
      transactions,
      dispatcher,
      media: () => media.selection.hooks,
      registrations: registrar.registrations,
      localDomain: () => registrar.localRouting,
      registrarMode: registrar.mode,
      mediaSelection: () => media.selection,
      isLocalDomain: (host) => registrar.localRegistrar?.domains.has(host) === true,
      screen: () => security.screen,
      auth: () => security.authenticator,
      calls: () => security.callLimits,
      flowTokenSecret: secret,
      routing: () => routing.router,
      records: (): CallRecorder | undefined => records.recorder,
      recovery: () => flowRecovery.recovery,
    }));
    const isInside = (flow: Flow): boolean => core.isInside(flow);
    const overload = new OverloadPart({ ...ctx, transport, transactions, isInside });
    this.#admin = new AdminPart({
      ...ctx,
      registry: this.registry,
      transport,
      dispatcher,
      media: () => media.selection,
      b2bua: () => core.b2bua,
      proxyDialogs: (): unknown[] => core.proxyDialogs?.snapshot((flowId: string) => flowRecovery.recovery.state(flowId)) ?? [],
      topologyRecords: async () => (core.topology === undefined ? undefined : await core.topology.liveRecords()),
      registrar,
      reload: () => this.#reload(),
      stopping: () => this.#stopped !== undefined,
    });
    this.#parts = [
      state,
      // Right after the store: it stops after the core and the media, and writes their last calls.
      records,
      // Before the transport: a bad users file stops start-up before any listener opens.
      security,
      transportPart,
      new CapturePart({ ...ctx, transport }),
      transactionPart,
      routing,
      flowRecovery,
      media,
      registrar,
      core,
      overload,
      new NatKeepalivePart({ ...ctx, transport, transactions, registrations: registrar.registrations, isInside }),
      new GaugesPart(this.metrics, transport, transactions),
      this.#admin,
    ];
  }

  get transport(): TransportLayer {
    return this.#transport.layer;
  }

  /** Topology records issued by this node that are still in the state store (tests, diagnostics). */
  async topologyRecords(): Promise<number> {
    return (await this.#core.topology?.liveRecords()) ?? 0;
  }

  get dispatcher(): Dispatcher {
    return this.#routing.dispatcher;
  }

  /** The B2BUA (mode: b2bua) once started. */
  get b2bua(): B2bua | undefined {
    return this.#core.b2bua;
  }

  /** The embedded media relay when it is the active media (tests, diagnostics). */
  get embeddedMedia(): EmbeddedMedia | undefined {
    return this.#media.embedded;
  }

  /** Bound admin address (port 0 in config → ephemeral). */
  adminAddress(): { host: string; port: number } | undefined {
    return this.#admin.address();
  }

  async start(): Promise<void> {
    await startParts(this.#parts, this.#begun);
    const c = this.config;
    const transport = this.transport;
    const page = transport.listeners.find((l) => l.transport === 'wss') ?? transport.listeners.find((l) => l.transport === 'ws');
    const media = this.#media.selection;
    const localRegistrar = this.#registrar.localRegistrar;
    this.#log.info({
      config: this.#options.configSource ?? 'defaults',
      listeners: transport.listeners.map((l) => `${l.transport}:${l.address}:${l.boundPort}${l.advertise !== l.address ? ` (advertised as ${l.advertise})` : ''}`),
      admin: this.#admin.url(),
      page: page === undefined ? undefined : `${page.transport === 'wss' ? 'https' : 'http'}://${hostForUrl(page.advertise)}:${page.boundPort}/`,
      mediaMode: c.media.mode,
      media: media.active,
      registrar: this.#registrar.mode,
      ...(localRegistrar !== undefined ? { domains: localRegistrar.domains.list() } : {}),
      services: this.#core.services?.list() ?? [],
    }, `${PRODUCT} started`);
    this.#media.logActive();
  }

  /** This worker's own ports (workers > 1), for the other workers to trust. */
  ownPorts(): Array<{ transport: string; port: number }> {
    return this.transport.listeners.filter((l) => l.bind === 'own').map((l) => ({ transport: l.transport, port: l.boundPort }));
  }

  /** The other workers' own ports (workers > 1): requests they relay here count as inside. */
  trustSiblings(ports: Iterable<{ transport: string; port: number }>): void {
    this.#core.trustSiblings(ports);
  }

  /** Re-read the configuration and apply it (SIGHUP, a reload the supervisor forwards). */
  reload(): Promise<AdminReply> {
    return this.#reload();
  }

  /**
   * POST /api/reload: re-read the configuration; what the parts can change
   * live (backends, routes, the screen, call limits, the users file) they
   * apply, anything else that changed is reported as needing a restart.
   */
  async #reload(): Promise<AdminReply> {
    const reload = this.#options.reloadConfig;
    if (reload === undefined) return { status: 409, body: { error: 'this gateway was not started from a configuration it can re-read' } };
    const loaded = await reload();
    if (!loaded.ok) return { status: 400, body: { error: formatConfigError(loaded.error), key: loaded.error.key } };
    const next = loaded.value.config;
    const outcome = await reloadParts(this.#parts, next);
    if (!outcome.ok) return { status: 400, body: { error: outcome.error, key: outcome.key } };
    const applied = outcome.applied;
    const restart = restartNeeded(this.config, next);
    this.#log.info({ applied, restartNeeded: restart }, 'configuration reloaded');
    return { status: 200, body: { status: 'reloaded', applied, restartNeeded: restart } };
  }

  /** SIGHUP: files we append to are reopened under their configured names (log rotation). */
  reopenFiles(): void {
    this.#records.reopen();
    this.#log.info({ callRecords: this.#records.sinks.file }, 'files reopened (SIGHUP)');
  }

  /** Call records: the recorder and where records go (tests, diagnostics). */
  get callRecords(): RecordsPart {
    return this.#records;
  }

  /**
   * What holds a drain: pending INVITE transactions (no final response yet;
   * completed ones in their wait timers never do) and established calls —
   * the B2BUA's, or in proxy mode the calls whose 2xx went through us and
   * whose BYE has not.
   */
  pendingCalls(): { invites: number; calls: number } {
    return { invites: this.#transactions.pendingInvites(), calls: this.#core.calls };
  }

  /**
   * SIGTERM: refuse new calls and registrations (503 + Retry-After), wait up
   * to shutdown.drainSeconds for pending INVITEs and established calls to
   * end, then stop. Polls every 100 ms, so an idle gateway stops at once.
   * stop() (a second signal) ends the wait.
   */
  async drainAndStop(): Promise<void> {
    this.#core.drain();
    const deadline = Date.now() + this.config.shutdown.drainSeconds * 1000;
    const busy = (): boolean => {
      const p = this.pendingCalls();
      return p.invites + p.calls > 0;
    };
    if (busy()) this.#log.info(this.pendingCalls(), 'drain: waiting for calls to end');
    while (busy() && Date.now() < deadline && this.#stopped === undefined) {
      await new Promise((r) => setTimeout(r, 100));
    }
    if (busy()) this.#log.warn(this.pendingCalls(), 'drain: time is up; stopping with calls still up');
    await this.stop();
  }

  stop(): Promise<void> {
    this.#stopped ??= this.#stop();
    return this.#stopped;
  }

  async #stop(): Promise<void> {
    await stopParts(this.#begun, this.#log);
    this.#log.info('stopped');
  }
}

function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}
