/**
 * Composition root: builds the parts from the configuration and starts them
 * in dependency order (state → transport → transactions → routing → core →
 * admin); stops them in reverse.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { hostname, networkInterfaces } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import { AdminServer, createMetrics, type SbcMetrics as Metrics } from './admin/index.js';
import { B2bua } from './b2bua/index.js';
import { ensureCertificate } from './certs/index.js';
import { formatConfigError, type Config, type ConfigError } from './config/index.js';
import type { Result } from './sip/result.js';
import { formatHostPort } from './sip/uri.js';
import { SbcError } from './errors.js';
import { OptionsProber } from './core/options-prober.js';
import { Pipeline } from './core/pipeline.js';
import { StaticFiles } from './http/static-files.js';
import { GATEWAY_INFO_PATH, gatewayInfoHandler } from './http/gateway-info.js';
import type { Logger } from './log/logger.js';
import type { EmbeddedMedia } from './media/embedded/index.js';
import type { MediaHooks } from './media/media-control.js';
import { mediaFromConfig, type MediaSelection } from './media/media-from-config.js';
import { NatKeepalive } from './registrar/nat-keepalive.js';
import { Registrations } from './registrar/registrations.js';
import { BindingStore, LocalDomains, LocalRegistrar, LocalRouting, registrarMode } from './registrar/local/index.js';
import { DigestAuthenticator } from './security/digest-auth.js';
import { loadUsersFile } from './security/users-file.js';
import { CallLimits } from './security/call-limits.js';
import { SourceScreen, type ScreenSettings } from './security/index.js';
import { Dispatcher } from './routing/index.js';
import { createStateStore, type StateStore } from './state/index.js';
import { TopologyHiding } from './topology/index.js';
import { TransactionLayer } from './transaction/index.js';
import { OverloadControl } from './overload/index.js';
import { EstablishedCalls } from './core/established-calls.js';
import { servicesFromConfig, type LocalServices } from './services/index.js';
import { TransportLayer, type ListenerSpec, type TransportProtocol } from './transport/index.js';

/** Where the package lives (dist/src/server.js or src/server.ts → the root). */
const PACKAGE_ROOT = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
})();

const PRODUCT = 'webrtc-sbc';

export interface ServerOptions {
  /** Where the configuration came from, for the start-up log line. */
  configSource?: string;
  /** Re-reads the configuration the same way it was first read (POST /api/reload). */
  reloadConfig?: () => Promise<Result<{ config: Config }, ConfigError>>;
}

export class Server {
  readonly config: Config;
  readonly #log: Logger;
  readonly #options: ServerOptions;
  readonly registry = new Registry();
  readonly metrics: Metrics;
  #store: StateStore | undefined;
  #transport: TransportLayer | undefined;
  #transactions: TransactionLayer | undefined;
  #overload: OverloadControl | undefined;
  readonly #established = new EstablishedCalls();
  #dispatcher: Dispatcher | undefined;
  #pipeline: Pipeline | undefined;
  #b2bua: B2bua | undefined;
  #admin: AdminServer | undefined;
  #registrations: Registrations | undefined;
  #localRegistrar: LocalRegistrar | undefined;
  #services: LocalServices | undefined;
  #topology: TopologyHiding | undefined;
  #keepalive: NatKeepalive | undefined;
  #screen: SourceScreen | undefined;
  #callLimits: CallLimits | undefined;
  #auth: DigestAuthenticator | undefined;
  #mediaSelection: MediaSelection | undefined;
  #media: MediaHooks | undefined;
  #metricsTimer: NodeJS.Timeout | undefined;
  #stopped: Promise<void> | undefined;

  constructor(config: Config, logger: Logger, options: ServerOptions = {}) {
    this.config = config;
    this.#log = logger;
    this.#options = options;
    this.metrics = createMetrics(this.registry);
  }

  get transport(): TransportLayer {
    if (this.#transport === undefined) throw new Error('server not started');
    return this.#transport;
  }

  /** Topology records issued by this node that are still in the state store (tests, diagnostics). */
  async topologyRecords(): Promise<number> {
    return (await this.#topology?.liveRecords()) ?? 0;
  }

  get dispatcher(): Dispatcher {
    if (this.#dispatcher === undefined) throw new Error('server not started');
    return this.#dispatcher;
  }

  /** The B2BUA (mode: b2bua) once started. */
  get b2bua(): B2bua | undefined {
    return this.#b2bua;
  }

  /** The embedded media relay when it is the active media (tests, diagnostics). */
  get embeddedMedia(): EmbeddedMedia | undefined {
    return this.#mediaSelection?.embedded;
  }

  /** Bound admin address (port 0 in config → ephemeral). */
  adminAddress(): { host: string; port: number } | undefined {
    return this.#admin?.address();
  }

  async start(): Promise<void> {
    const c = this.config;
    const log = this.#log;
    this.#store = await createStateStore(c.state, { logger: log.child({ part: 'state' }) });

    const listeners: ListenerSpec[] = c.listen.map((l) => ({
      transport: l.transport,
      address: l.address,
      port: l.port,
      advertise: l.advertise ?? defaultAdvertise(l.address),
      ...(l.interface !== undefined ? { interface: l.interface } : {}),
    }));

    let tls: { cert: string; key: string } | undefined;
    if (listeners.some((l) => l.transport === 'tls' || l.transport === 'wss')) {
      const hosts = [...new Set(listeners.map((l) => l.advertise))];
      tls = await ensureCertificate({ certFile: this.#path(c.tls.cert), keyFile: this.#path(c.tls.key), hosts, logger: log });
    }

    let httpHandler: StaticFiles['handle'] | undefined;
    if (c.web.enabled) {
      const root = this.#webRoot(c.web.root);
      if (root === undefined) log.warn({ root: c.web.root }, 'web page not built: run `npm run build`; serving 404 at /');
      else {
        const files = (await StaticFiles.load(root)).handle;
        const info = gatewayInfoHandler({
          registrar: registrarMode(c),
          isLocalDomain: (host) => this.#localRegistrar?.domains.has(host) === true,
          defaultDomain: () => this.#localRegistrar?.domains.list()[0],
          services: () => this.#services?.list() ?? [],
        });
        httpHandler = (req, res) => ((req.url ?? '/').split('?')[0] === GATEWAY_INFO_PATH ? info(req, res) : files(req, res));
      }
    }

    let secret: string | Buffer = c.flowTokens.secret;
    if (secret === '') {
      secret = randomBytes(32);
      if (c.state.store === 'redis') log.warn('flowTokens.secret is empty: tokens issued by this node will not be accepted by other nodes');
    }
    // Read before any listener opens, so a bad users file stops start-up.
    const auth = c.security.auth.mode === 'local' ? await this.#digestAuth(secret) : undefined;
    this.#auth = auth;

    const transport = new TransportLayer({
      listeners,
      ...(tls !== undefined ? { tls } : {}),
      limits: {
        maxMessageBytes: c.security.maxMessageBytes,
        maxHeaderCount: c.transport.maxHeaderCount,
        maxConnectionsPerIp: c.transport.maxConnectionsPerIp,
        handshakeTimeoutMs: c.transport.handshakeTimeoutSeconds * 1000,
        idleTimeoutMs: c.transport.idleTimeoutSeconds * 1000,
        wsPingIntervalMs: c.transport.wsPingIntervalSeconds * 1000,
        udpReceiveBufferBytes: c.transport.udpReceiveBufferBytes,
      },
      logger: log.child({ part: 'transport' }),
      flowTokenSecret: secret,
      ...(httpHandler !== undefined ? { httpHandler } : {}),
    });
    this.#transport = transport;
    await transport.start();

    const transactions = new TransactionLayer({
      timers: { t1Ms: c.timers.t1Ms, t2Ms: c.timers.t2Ms, t4Ms: c.timers.t4Ms, timerCMs: c.timers.timerCSeconds * 1000 },
      logger: log.child({ part: 'transaction' }),
    });
    this.#transactions = transactions;

    const prober = new OptionsProber(transport, transactions, PRODUCT);
    const dispatcher = new Dispatcher({
      groups: c.backends,
      routes: c.routes,
      logger: log.child({ part: 'routing' }),
      probe: (target, method, timeoutMs) => prober.probe(target, method, timeoutMs),
      excuses: (since) => this.#overload?.excuses(since) ?? false,
    });
    dispatcher.onChange = (t) => {
      this.metrics.backendUp.set({ group: t.group, target: t.uri }, t.up ? 1 : 0);
      log.info({ group: t.group, target: t.uri, up: t.up }, t.up ? 'backend up' : 'backend down');
    };
    this.#dispatcher = dispatcher;
    await dispatcher.start();
    const regMode = registrarMode(c);
    if (dispatcher.isEmpty && regMode === 'path') log.warn('no backend configured (backends is empty): calls and registrations will be answered 503');
    const localDomain = regMode === 'local' ? this.#localRouting(transport) : undefined;

    const media = await mediaFromConfig(c, { store: this.#store, metrics: this.metrics, logger: log.child({ part: 'media' }), fallbackAdvertise: defaultAdvertise('0.0.0.0') });
    this.#mediaSelection = media;
    this.#media = media.hooks;
    const hooks = media.hooks;
    if (hooks !== undefined) transport.flows.onClose((flow) => hooks.flowClosed(flow.id));

    const registrations = new Registrations({ maxBindingsPerFlow: c.registrar.maxBindingsPerFlow, maxFlows: c.registrar.maxFlows });
    this.#registrations = registrations;
    transport.flows.onClose((flow) => registrations.dropFlow(flow.id));

    // Always there (0 = unlimited tracks nothing), so a reload can set a limit.
    const callLimits = new CallLimits({ maxPerUser: c.security.maxCallsPerUser });
    this.#callLimits = callLimits;

    // Built-in services (echo, tone): local registrar with embedded media; they take their calls as the B2BUA would.
    this.#services = servicesFromConfig(c, {
      registrar: regMode,
      media: media.active,
      embedded: media.embedded,
      transport,
      transactions,
      isLocalDomain: (host) => this.#localRegistrar?.domains.has(host) === true,
      logger: log.child({ part: 'services' }),
      metrics: this.metrics,
      productName: PRODUCT,
      callEnded: (callId) => callLimits.ended(callId),
    });

    if (c.mode === 'b2bua') {
      this.#b2bua = new B2bua({
        transport,
        transactions,
        dispatcher,
        store: this.#store,
        keyPrefix: c.state.redis.keyPrefix,
        logger: log.child({ part: 'b2bua' }),
        metrics: this.metrics,
        ...(this.#media !== undefined ? { media: this.#media } : {}),
        flowFailedStatus: c.proxy.flowFailedStatus,
        failoverTimeoutMs: c.proxy.failoverTimeoutMs,
        productName: PRODUCT,
        callEnded: (callId: string) => callLimits.ended(callId),
      });
    }

    const pipeline = new Pipeline({
      transport,
      transactions,
      dispatcher,
      logger: log.child({ part: 'core' }),
      metrics: this.metrics,
      trustedSources: c.trustedSources,
      registrar: c.registrar,
      registrations,
      ...(this.#media !== undefined ? { media: this.#media } : {}),
      ...(this.#b2bua !== undefined ? { dialogs: this.#b2bua } : this.#services !== undefined ? { dialogs: this.#services } : {}),
      flowFailedStatus: c.proxy.flowFailedStatus,
      failoverTimeoutMs: c.proxy.failoverTimeoutMs,
      productName: PRODUCT,
      ...(c.topologyHiding.enabled ? { topology: this.#topologyHiding(secret) } : {}),
      screen: this.#requestScreen(),
      ...(auth !== undefined ? { auth } : {}),
      calls: callLimits,
      established: this.#established,
      ...(localDomain !== undefined ? { localDomain } : {}),
    });
    this.#pipeline = pipeline;
    transport.setUser({
      onMessage: (msg, flow) => pipeline.onMessage(msg, flow),
      onInvalid: (err, flow) => pipeline.onInvalid(err, flow),
    });
    const overload = new OverloadControl({
      settings: c.overload,
      t1Ms: c.timers.t1Ms,
      logger: log.child({ part: 'overload' }),
      metrics: this.metrics,
      pendingInvites: () => transactions.pendingInvites(),
      hasServerTransaction: (branch, sentBy, method) => transactions.hasServerTransaction(branch, sentBy, method),
      isInside: (flow) => pipeline.isInside(flow),
      udpPorts: () => transport.listeners.filter((l) => l.transport === 'udp' && l.up).map((l) => l.boundPort),
    });
    this.#overload = overload;
    if (overload.enabled) transport.setGate((flow, data) => overload.gate.screen(flow, data));
    overload.start();

    this.#keepalive = new NatKeepalive({
      intervalSeconds: c.nat.keepaliveIntervalSeconds,
      method: c.nat.keepaliveMethod,
      failuresToClose: c.nat.keepaliveFailures,
      bindings: registrations.bindings,
      flows: transport.flows,
      transactions,
      logger: log.child({ part: 'nat' }),
      product: PRODUCT,
      isOutside: (flow) => !pipeline.isInside(flow),
    });
    this.#keepalive.start();

    this.#metricsTimer = setInterval(() => this.#sampleGauges(), 1000);
    this.#metricsTimer.unref();

    const admin = new AdminServer({
      listen: c.admin.listen,
      ...(c.admin.token !== '' ? { token: c.admin.token } : {}),
      logger: log.child({ part: 'admin' }),
      registry: this.registry,
      health: () => {
        const states = transport.listeners.map((l) => ({ transport: l.transport, address: l.address, port: l.boundPort, up: l.up }));
        return { ok: states.every((s) => s.up) && this.#stopped === undefined, details: { listeners: states }, summary: { registrar: { mode: regMode, registrations: this.#localRegistrar?.count() ?? 0 } } };
      },
    });
    admin.route('GET', '/api/backends', () => ({ status: 200, body: dispatcher.snapshot() }));
    admin.route('POST', '/api/reload', () => this.#reload());
    admin.route('GET', '/api/registrations', async () => ({ status: 200, body: { mode: regMode, count: this.#localRegistrar?.count() ?? 0, registrations: (await this.#localRegistrar?.list()) ?? [] } }));
    admin.route('GET', '/api/flows', () => ({ status: 200, body: { flows: this.#flowList() } }));
    admin.route('GET', '/api/dialogs', () => ({ status: 200, body: dialogList(this.#b2bua, media) }));
    admin.route('GET', '/api/engines', () => ({ status: 200, body: media.snapshot() }));
    this.#admin = admin;
    await admin.start();

    const page = transport.listeners.find((l) => l.transport === 'wss') ?? transport.listeners.find((l) => l.transport === 'ws');
    log.info({
      config: this.#options.configSource ?? 'defaults',
      listeners: transport.listeners.map((l) => `${l.transport}:${l.address}:${l.boundPort}${l.advertise !== l.address ? ` (advertised as ${l.advertise})` : ''}`),
      admin: admin.url(),
      page: page === undefined ? undefined : `${page.transport === 'wss' ? 'https' : 'http'}://${hostForUrl(page.advertise)}:${page.boundPort}/`,
      mediaMode: c.media.mode,
      media: media.active,
      registrar: regMode,
      ...(this.#localRegistrar !== undefined ? { domains: this.#localRegistrar.domains.list() } : {}),
      services: this.#services?.list() ?? [],
    }, `${PRODUCT} started`);
    log.info({ mediaMode: c.media.mode, media: media.active, ...(media.embedded !== undefined ? { embedded: media.embedded.snapshot() } : {}) }, MEDIA_MODE_LINES[media.active]);
  }

  /**
   * POST /api/reload: re-read the configuration; backends and routes change
   * live, anything else that changed is reported as needing a restart.
   */
  async #reload(): Promise<{ status: number; body: unknown }> {
    const reload = this.#options.reloadConfig;
    if (reload === undefined) return { status: 409, body: { error: 'this gateway was not started from a configuration it can re-read' } };
    const loaded = await reload();
    if (!loaded.ok) return { status: 400, body: { error: formatConfigError(loaded.error), key: loaded.error.key } };
    const next = loaded.value.config;
    const users = await this.#reloadUsers(next);
    if (!users.ok) return { status: 400, body: { error: users.error, key: 'security.auth.usersFile' } };
    await this.dispatcher.reload(next.backends, next.routes);
    this.#pipeline?.refreshInside();
    this.#screen?.reconfigure(screenSettings(next));
    this.#callLimits?.setMaxPerUser(next.security.maxCallsPerUser);
    const live = new Set(['backends', 'routes']);
    const restartNeeded = Object.keys(next).filter((k) => !live.has(k) && JSON.stringify(withoutLiveKeys(next, k)) !== JSON.stringify(withoutLiveKeys(this.config, k)));
    const applied = [...live, ...LIVE_SECURITY_KEYS.map((key) => `security.${key}`), ...(users.value ? ['security.auth.usersFile'] : [])];
    this.#log.info({ applied, restartNeeded }, 'configuration reloaded');
    return { status: 200, body: { status: 'reloaded', applied, restartNeeded } };
  }

  /** Re-read the users file when digest authentication stays on; ok(false) when there is none to re-read. */
  async #reloadUsers(next: Config): Promise<Result<boolean, string>> {
    const a = next.security.auth;
    if (this.#auth === undefined || a.mode !== 'local' || a.usersFile === undefined) return { ok: true, value: false };
    try {
      const users = await loadUsersFile(this.#path(a.usersFile));
      this.#auth.setUsers(users);
      this.#log.info({ usersFile: a.usersFile, users: users.size }, 'users file re-read');
      return { ok: true, value: true };
    } catch (err) {
      // The users in force stay as they were.
      return { ok: false, error: (err as Error).message };
    }
  }

  /**
   * What holds a drain: pending INVITE transactions (no final response yet;
   * completed ones in their wait timers never do) and established calls —
   * the B2BUA's, or in proxy mode the calls whose 2xx went through us and
   * whose BYE has not.
   */
  pendingCalls(): { invites: number; calls: number } {
    return {
      invites: this.#transactions?.pendingInvites() ?? 0,
      calls: (this.#b2bua?.size ?? 0) + this.#established.size,
    };
  }

  /**
   * SIGTERM: refuse new calls and registrations (503 + Retry-After), wait up
   * to shutdown.drainSeconds for pending INVITEs and established calls to
   * end, then stop. Polls every 100 ms, so an idle gateway stops at once.
   * stop() (a second signal) ends the wait.
   */
  async drainAndStop(): Promise<void> {
    this.#pipeline?.drain();
    this.#b2bua?.drain();
    this.#services?.close();
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
    if (this.#metricsTimer !== undefined) clearInterval(this.#metricsTimer);
    this.#overload?.close();
    await this.#admin?.stop().catch((err: unknown) => this.#log.warn({ err }, 'admin stop failed'));
    this.#keepalive?.close();
    this.#screen?.close();
    this.#b2bua?.close();
    this.#services?.close();
    await this.#mediaSelection?.close().catch((err: unknown) => this.#log.warn({ err }, 'media stop failed'));
    this.#dispatcher?.stop();
    this.#transactions?.close();
    await this.#transport?.stop().catch((err: unknown) => this.#log.warn({ err }, 'transport stop failed'));
    await this.#store?.close();
    this.#log.info('stopped');
  }

  #sampleGauges(): void {
    const counts = this.#transactions?.counts();
    if (counts !== undefined) for (const type of ['ict', 'nict', 'ist', 'nist'] as const) this.metrics.transactions.set({ type }, counts[type]);
    const byTransport: Record<TransportProtocol, number> = { udp: 0, tcp: 0, tls: 0, ws: 0, wss: 0 };
    for (const f of this.#transport?.flows.values() ?? []) byTransport[f.transport]++;
    for (const transport of ['udp', 'tcp', 'tls', 'ws', 'wss'] as const) this.metrics.activeFlows.set({ transport }, byTransport[transport]);
  }

  /** GET /api/flows: open flows with what is registered through each (CONTRACT.md). */
  #flowList(): unknown[] {
    const now = performance.now();
    const out: unknown[] = [];
    const transport = this.#transport;
    for (const f of transport?.flows.values() ?? []) {
      const registered = this.#registrations?.bindings.view(f.id).bindings ?? [];
      out.push({
        id: f.id,
        transport: f.transport,
        remote: `${f.remote.address}:${f.remote.port}`,
        ageSeconds: Math.round((now - f.createdAt) / 1000),
        idleSeconds: Math.round((now - f.lastSeen) / 1000),
        registered,
        ...(registered.length > 0 && transport !== undefined ? { token: transport.tokens.issue(f) } : {}),
      });
      if (out.length >= 10_000) break;
    }
    return out;
  }

  /** registrar.mode local: bindings in the state store, REGISTER answered here, calls forked to the contacts. */
  #localRouting(transport: TransportLayer): LocalRouting {
    const r = this.config.registrar;
    const bindings = new BindingStore({ store: this.#store!, keyPrefix: this.config.state.redis.keyPrefix, ttlSeconds: r.maxExpires + 30 });
    const domains = r.domains.length > 0 ? new LocalDomains(r.domains) : LocalDomains.defaults(transport.listeners);
    const logger = this.#log.child({ part: 'registrar' });
    // Other nodes on the same Redis reach this node's clients through its UDP (else TCP) listener.
    const nodeListener = transport.listeners.find((l) => l.transport === 'udp') ?? transport.listeners.find((l) => l.transport === 'tcp');
    const nodeUri = nodeListener === undefined ? undefined : `sip:${formatHostPort(nodeListener.advertise, nodeListener.boundPort)};transport=${nodeListener.transport}`;
    if (this.config.state.store === 'redis' && this.config.trustedSources.length === 0) {
      logger.warn('registrar.mode local on a shared Redis: list the other nodes in trustedSources (and share flowTokens.secret) so calls reach users registered on them');
    }
    this.#localRegistrar = new LocalRegistrar({
      bindings,
      domains,
      tokens: transport.tokens,
      flows: transport.flows,
      minExpires: r.minExpires,
      maxExpires: r.maxExpires,
      maxBindingsPerAor: r.maxBindingsPerAor,
      maxBindings: r.maxBindings,
      // The node is known by the address the others reach it at: after a restart its UDP bindings still count as its own.
      node: nodeUri ?? `${hostname()}/${randomUUID().slice(0, 8)}`,
      ...(nodeUri !== undefined ? { nodeUri } : {}),
      logger,
      metrics: this.metrics,
      onFlowBindings: (flow, aor, contacts) => this.#registrations?.bindings.update(flow.id, aor, contacts),
    });
    return new LocalRouting({ registrar: this.#localRegistrar, bindings, flowFailedStatus: this.config.proxy.flowFailedStatus, logger, metrics: this.metrics });
  }

  #topologyHiding(secret: string | Buffer): TopologyHiding {
    const t = this.config.topologyHiding;
    this.#topology = new TopologyHiding({
      store: this.#store!,
      keyPrefix: this.config.state.redis.keyPrefix,
      secret,
      maskCallId: t.maskCallId,
      ...(t.hideClientVias !== undefined ? { hideClientVias: t.hideClientVias } : {}),
      ...(t.stripHeaders !== undefined ? { stripHeaders: t.stripHeaders } : {}),
      ...(t.dialogTtlSeconds !== undefined ? { dialogTtlSeconds: t.dialogTtlSeconds } : {}),
      ...(t.earlyTtlSeconds !== undefined ? { earlyTtlSeconds: t.earlyTtlSeconds } : {}),
      productName: PRODUCT,
      logger: this.#log.child({ part: 'topology' }),
    });
    return this.#topology;
  }

  /** Rate limits, bans and scanner blocking for requests from outside; undefined when the configuration turns all off. */
  #requestScreen(): SourceScreen {
    // Built even when the configuration turns everything off (it then passes every request), so a reload can turn it on.
    const screen = new SourceScreen({ ...screenSettings(this.config), logger: this.#log.child({ part: 'security' }) });
    this.#screen = screen;
    return screen;
  }

  /** security.auth.mode local: digest challenges against the users file (a bad file throws SBC_ERR_CONFIG_KEY naming the line). */
  async #digestAuth(secret: string | Buffer): Promise<DigestAuthenticator> {
    const a = this.config.security.auth;
    if (a.usersFile === undefined) throw new SbcError('SBC_ERR_CONFIG_KEY', 'security.auth.usersFile: required when security.auth.mode is local');
    const users = await loadUsersFile(this.#path(a.usersFile));
    this.#log.info({ usersFile: a.usersFile, users: users.size, realm: a.realm ?? '(request host)' }, 'digest authentication of requests from outside (security.auth.mode local)');
    return new DigestAuthenticator({ users, secret, ...(a.realm !== undefined ? { realm: a.realm } : {}), logger: this.#log.child({ part: 'auth' }) });
  }

  #path(p: string): string {
    return isAbsolute(p) ? p : resolve(process.cwd(), p);
  }

  /** The built page (web/dist) when present, else the folder itself if it has an index.html. */
  #webRoot(root: string): string | undefined {
    const base = isAbsolute(root) ? root : resolve(PACKAGE_ROOT, root);
    for (const candidate of [join(base, 'dist'), base]) if (existsSync(join(candidate, 'index.html'))) return candidate;
    return undefined;
  }
}

/** A wildcard bind advertises the first non-internal IPv4 address (or loopback when there is none). */
function defaultAdvertise(address: string): string {
  if (address !== '0.0.0.0' && address !== '::') return address;
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) if (!a.internal && a.family === 'IPv4') return a.address;
  }
  return address === '::' ? '::1' : '127.0.0.1';
}

function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/** GET /api/dialogs: B2BUA dialogs with their media path; the embedded relay's sessions too (proxy mode keeps no dialogs). */
function dialogList(b2bua: B2bua | undefined, media: MediaSelection): unknown {
  const embedded = media.embedded;
  const dialogs = (b2bua?.snapshot() ?? []).map((d) => ({ ...d, media: embedded !== undefined ? { relay: 'embedded', path: embedded.mediaPath(d.callId) } : { relay: media.active } }));
  return embedded !== undefined ? { dialogs, mediaSessions: embedded.sessionList() } : { dialogs };
}

const MEDIA_MODE_LINES = {
  rtpengine: 'media through rtpengine (media.rtpengine.engines)',
  embedded: 'media through the embedded relay (WebRTC ⇄ RTP in-process; media.embedded)',
  passthrough: 'media passthrough: SDP is relayed unchanged (browsers can only reach browsers)',
} as const;

/** security keys POST /api/reload applies without a restart. */
const LIVE_SECURITY_KEYS = ['rateLimit', 'blockedUserAgents', 'maxCallsPerUser'] as const;

/** A top-level section as far as a restart is concerned: security without the keys a reload applies. */
function withoutLiveKeys(config: Config, key: string): unknown {
  const section = (config as Record<string, unknown>)[key];
  if (key !== 'security') return section;
  const rest: Record<string, unknown> = { ...config.security };
  for (const k of LIVE_SECURITY_KEYS) delete rest[k];
  return rest;
}

function screenSettings(config: Config): ScreenSettings {
  const s = config.security;
  return { requestsPerSecondPerIp: s.rateLimit.requestsPerSecondPerIp, burst: s.rateLimit.burst, banSeconds: s.rateLimit.banSeconds, blockedUserAgents: s.blockedUserAgents };
}
