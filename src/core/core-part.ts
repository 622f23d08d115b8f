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
import type { DigestAuthenticator } from '../security/digest-auth.js';
import type { SourceScreen } from '../security/request-screen.js';
import type { Part, PartContext, ReloadOutcome, SipLayers } from '../server/part.js';
import { PRODUCT, started } from '../server/part.js';
import type { StateStore } from '../state/index.js';
import type { TopologyHiding } from '../topology/index.js';
import { topologyFromConfig } from '../topology/topology-from-config.js';
import type { Flow } from '../transport/index.js';
import { EstablishedCalls } from './established-calls.js';
import { Pipeline } from './pipeline.js';

/** What the core is built from; each is read when the part starts (the parts before it have started by then). */
export interface CorePartOptions extends PartContext, SipLayers {
  store: () => StateStore;
  dispatcher: () => Dispatcher;
  media: () => MediaHooks | undefined;
  registrations: Registrations;
  localDomain: () => LocalRouting | undefined;
  /** Registrar mode and the active media: the built-in services need the local registrar and the embedded relay. */
  registrarMode: 'local' | 'path';
  mediaSelection: () => MediaSelection;
  isLocalDomain: (host: string) => boolean;
  screen: () => SourceScreen;
  auth: () => DigestAuthenticator | undefined;
  calls: () => CallLimits;
  /** Settled by the state part's start (shared between workers and nodes). */
  flowTokenSecret: () => string | Buffer;
}

export class CorePart implements Part {
  readonly name = 'core';
  readonly #o: CorePartOptions;
  /** Proxy mode: calls whose 2xx went through us and whose BYE has not (what holds a drain). */
  readonly #established = new EstablishedCalls();
  #pipeline: Pipeline | undefined;
  #b2bua: B2bua | undefined;
  #topology: TopologyHiding | undefined;
  #services: LocalServices | undefined;

  constructor(options: CorePartOptions) {
    this.#o = options;
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
    const media = o.media();
    const callLimits = o.calls();
    if (c.mode === 'b2bua') {
      this.#b2bua = new B2bua({
        transport,
        transactions,
        dispatcher,
        store: o.store(),
        keyPrefix: c.state.redis.keyPrefix,
        logger: o.logger.child({ part: 'b2bua' }),
        metrics: o.metrics,
        ...(media !== undefined ? { media } : {}),
        flowFailedStatus: c.proxy.flowFailedStatus,
        failoverTimeoutMs: c.proxy.failoverTimeoutMs,
        productName: PRODUCT,
        callEnded: (callId: string) => callLimits.ended(callId),
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
    });
    const topology = c.topologyHiding.enabled ? topologyFromConfig(o, o.store(), o.flowTokenSecret()) : undefined;
    this.#topology = topology;
    const auth = o.auth();
    const localDomain = o.localDomain();
    const pipeline = new Pipeline({
      transport,
      transactions,
      dispatcher,
      logger: o.logger.child({ part: 'core' }),
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
    });
    this.#pipeline = pipeline;
    transport.setUser({
      onMessage: (msg, flow) => pipeline.onMessage(msg, flow),
      onInvalid: (err, flow) => pipeline.onInvalid(err, flow),
    });
  }

  stop(): void {
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
    this.#pipeline?.trustSiblings(ports);
  }

  /** Refuse new calls and registrations (503 + Retry-After). */
  drain(): void {
    this.#pipeline?.drain();
    this.#b2bua?.drain();
    // Service calls hold nobody's call: they are hung up at once.
    this.#services?.close();
  }
}
