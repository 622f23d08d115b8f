/**
 * The transport layer as a part of the gateway: listeners from the
 * configuration, a certificate when a TLS/WSS listener needs one, the
 * flow-token secret, and the page served on the WS/WSS listeners.
 */
import { networkInterfaces } from 'node:os';
import { ensureCertificate } from '../certs/index.js';
import type { Config } from '../config/index.js';
import type { Logger } from '../log/logger.js';
import type { Part, PartContext } from '../server/part.js';
import { configPath, started } from '../server/part.js';
import type { ListenerSpec } from './flow.js';
import { TransportLayer } from './transport-layer.js';
import type { WorkerSteering } from './steering.js';
import type { HttpRequestHandler } from './ws.js';

export interface TransportPartOptions extends PartContext {
  /** Settled by the state part's start (shared between workers and nodes). */
  flowTokenSecret: () => string | Buffer;
  /** The handler of plain HTTP requests on the WS/WSS listeners (undefined: 404). */
  httpHandler: () => Promise<HttpRequestHandler | undefined>;
  /** Set when this process is one worker of several (`workers` > 1). */
  worker?: WorkerSteering;
}

export class TransportPart implements Part {
  readonly name = 'transport';
  readonly #o: TransportPartOptions;
  #layer: TransportLayer | undefined;

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

    const tls = await listenerCertificate(listeners, c, log);
    const httpHandler = await this.#o.httpHandler();

    this.#layer = new TransportLayer({
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
      flowTokenSecret: this.#o.flowTokenSecret(),
      ...(httpHandler !== undefined ? { httpHandler } : {}),
      ...(this.#o.worker !== undefined ? { worker: this.#o.worker, workerPortBase: c.transport.workerPortBase } : {}),
    });
    await this.#layer.start();
  }

  async stop(): Promise<void> {
    await this.#layer?.stop();
  }
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
