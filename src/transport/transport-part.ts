/**
 * The transport layer as a part of the gateway: listeners from the
 * configuration, a certificate when a TLS/WSS listener needs one (renewed
 * from disk without a restart), the flow-token secret, the handshake check
 * of WS/WSS upgrades, and the page served on the WS/WSS listeners.
 */
import { networkInterfaces } from 'node:os';
import { CertificateRenewal, ensureCertificate, type CertificateSource } from '../certs/index.js';
import type { Config } from '../config/index.js';
import type { Logger } from '../log/logger.js';
import type { Part, PartContext, ReloadOutcome } from '../server/part.js';
import { configPath, started } from '../server/part.js';
import type { ListenerSpec } from './flow.js';
import { TransportLayer } from './transport-layer.js';
import type { WorkerSteering } from './steering.js';
import type { HttpRequestHandler } from './ws.js';
import type { HandshakeCheck } from './ws-handshake.js';

export interface TransportPartOptions extends PartContext {
  /** Settled by the state part's start (shared between workers and nodes). */
  flowTokenSecret: () => string | Buffer;
  /** The handler of plain HTTP requests on the WS/WSS listeners (undefined: 404). */
  httpHandler: () => Promise<HttpRequestHandler | undefined>;
  /** Asked before each WS/WSS upgrade (security.websocket); undefined = every handshake passes. */
  handshake?: () => HandshakeCheck | undefined;
  /** Set when this process is one worker of several (`workers` > 1). */
  worker?: WorkerSteering;
}

export class TransportPart implements Part {
  readonly name = 'transport';
  readonly #o: TransportPartOptions;
  #layer: TransportLayer | undefined;
  #renewal: CertificateRenewal | undefined;

  constructor(options: TransportPartOptions) {
    this.#o = options;
  }

  get layer(): TransportLayer {
    return started(this.#layer);
  }

  async start(): Promise<void> {
    const c = this.#o.config;
    const log = this.#o.logger;
    const listeners = listenerSpecs(c);

    const source = certificateSource(c);
    const tls = await listenerCertificate(listeners, c, log);
    const httpHandler = await this.#o.httpHandler();
    const handshake = this.#o.handshake?.();

    this.#layer = new TransportLayer({
      listeners,
      ...(tls !== undefined ? { tls: { cert: tls.cert, key: tls.key, minVersion: source.minVersion, ...(source.ciphers !== undefined ? { ciphers: source.ciphers } : {}) } } : {}),
      ...(handshake !== undefined ? { handshake } : {}),
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
      flowTokenSecret: this.#o.flowTokenSecret(),
      ...(httpHandler !== undefined ? { httpHandler } : {}),
      ...(this.#o.worker !== undefined ? { worker: this.#o.worker, workerPortBase: c.transport.workerPortBase } : {}),
    });
    await this.#layer.start();
    if (tls !== undefined) {
      const layer = this.#layer;
      this.#renewal = new CertificateRenewal({
        source,
        initial: tls,
        apply: (credentials) => layer.setTlsCredentials(credentials),
        logger: log.child({ part: 'certs' }),
        metrics: this.#o.metrics,
      });
      this.#renewal.start();
    }
  }

  async stop(): Promise<void> {
    this.#renewal?.close();
    await this.#layer?.stop();
  }

  /** tls.*: the pair is re-read (and its new paths watched); a broken pair refuses the reload and the one in force stays. */
  async reload(next: Config): Promise<ReloadOutcome> {
    if (this.#renewal === undefined) return { ok: true, applied: [] };
    const outcome = await this.#renewal.reload(certificateSource(next));
    if (outcome.kind === 'refused') return { ok: false, error: outcome.error, key: outcome.file === 'key' ? 'tls.key' : 'tls.cert' };
    return { ok: true, applied: ['tls'] };
  }
}

function certificateSource(c: Config): CertificateSource {
  return { certFile: configPath(c.tls.cert), keyFile: configPath(c.tls.key), minVersion: c.tls.minVersion, ciphers: c.tls.ciphers, watch: c.tls.watch };
}

/**
 * The certificate a TLS or WSS listener needs (generated when neither file
 * exists); undefined when no listener needs one. The supervisor runs it before
 * forking workers, so they do not race to write the same files.
 */
export async function listenerCertificate(listeners: readonly ListenerSpec[], c: Config, log: Logger): Promise<{ cert: string; key: string } | undefined> {
  if (!listeners.some((l) => l.transport === 'tls' || l.transport === 'wss')) return undefined;
  const hosts = [...new Set(listeners.map((l) => l.advertise))];
  return ensureCertificate({ certFile: configPath(c.tls.cert), keyFile: configPath(c.tls.key), hosts, logger: log });
}

/** The listener specs of the configuration (advertise filled in). */
export function listenerSpecs(c: Config): ListenerSpec[] {
  return c.listen.map((l) => ({
    transport: l.transport,
    address: l.address,
    port: l.port,
    advertise: l.advertise ?? defaultAdvertise(l.address),
    ...(l.interface !== undefined ? { interface: l.interface } : {}),
  }));
}

/** A wildcard bind advertises the first non-internal IPv4 address (or loopback when there is none). */
export function defaultAdvertise(address: string): string {
  if (address !== '0.0.0.0' && address !== '::') return address;
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) if (!a.internal && a.family === 'IPv4') return a.address;
  }
  return address === '::' ? '::1' : '127.0.0.1';
}
