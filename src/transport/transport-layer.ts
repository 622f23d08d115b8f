import type { IncomingMessage, ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import { createSecureContext } from 'node:tls';
import { SbcError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { SipMessage } from '../sip/message.js';
import { parseMessage, type ParseError, type ParserLimits } from '../sip/parser.js';
import type { FlowBase } from './flow-base.js';
import { FlowTable } from './flow-table.js';
import { FlowTokens } from './flow-token.js';
import type { Flow, ListenerInfo, ListenerSpec, TransportProtocol } from './flow.js';
import { resolveLimits, type TransportLimits } from './limits.js';
import { ListenerState, type Listener, type ListenerContext } from './listener.js';
import { ownerOf, type SteeredDatagram, type WorkerSteering } from './steering.js';
import { dialStream, type StreamTlsClientOptions } from './stream-dialer.js';
import { TcpListener } from './tcp.js';
import { TlsListener } from './tls.js';
import { secureContextOptions, type TlsCredentials } from './tls-credentials.js';
import type { HandshakeCheck } from './ws-handshake.js';
import { UdpListener } from './udp.js';
import { WireTap } from './wire-tap.js';
import { WsListener, type HttpRequestHandler } from './ws.js';

/** Who receives what the transport layer reads: the transaction layer. */
export interface TransportUser {
  onMessage(msg: SipMessage, flow: Flow): void;
  /** Bytes that did not parse; `error.status` says which SIP status a request deserves. */
  onInvalid(error: ParseError, flow: Flow): void;
  onFlowClosed?(flow: Flow): void;
}

export interface TransportLayerOptions {
  listeners: ListenerSpec[];
  /** Needed when a TLS or WSS listener is configured. */
  tls?: TlsCredentials;
  /** Asked before a WS/WSS connection is upgraded (Origin allowlist, handshake token); absent = every handshake passes. */
  handshake?: HandshakeCheck;
  limits?: Partial<TransportLimits>;
  logger: Logger;
  /** Signs flow tokens; shared by every node that must accept the others' tokens. */
  flowTokenSecret: string | Buffer;
  /** Serves ordinary HTTP requests on WS/WSS listeners (the web page). @default 404 for everything */
  httpHandler?: HttpRequestHandler;
  /** Outbound TLS (SIP over TLS to backends). */
  tlsClient?: StreamTlsClientOptions;
  /**
   * Set in a worker (`workers` > 1): every UDP listener binds an SO_REUSEPORT
   * socket on the shared port; every UDP, TCP and TLS listener gets a twin on
   * the same address with a port of this worker alone, which everything this
   * worker dials leaves from (its Via, Record-Route and Path name it, so what
   * comes back from inside reaches this worker directly). A message on the
   * shared UDP port that names another worker is passed to it.
   */
  worker?: WorkerSteering;
  /** First port of the worker's own ports (transport.workerPortBase); 0 = the kernel picks. */
  workerPortBase?: number;
}

/** Where connect() should send. `address` is an IP or, for TCP/TLS, a host name. */
export interface ConnectTarget {
  transport: TransportProtocol;
  address: string;
  port: number;
}

/**
 * UDP, TCP, TLS, WS and WSS behind one Flow abstraction: binds the listeners,
 * turns bytes into messages for the TransportUser, and opens or reuses flows
 * for outbound messages.
 */
export class TransportLayer {
  readonly flows: FlowTable;
  readonly tokens: FlowTokens;
  readonly limits: Readonly<TransportLimits>;
  /** Message capture (HEP): sees every SIP message received and sent, with its flow. */
  readonly tap = new WireTap();
  readonly #logger: Logger;
  readonly #states: ListenerState[];
  readonly #listeners: Listener[];
  readonly #parserLimits: Partial<ParserLimits>;
  readonly #tlsClient: StreamTlsClientOptions;
  readonly #perIp = new Map<string, number>();
  readonly #dialing = new Map<string, Promise<FlowBase>>();
  /** Outbound flows dialed by host name, so the next connect() to that name reuses them. */
  readonly #byName = new Map<string, FlowBase>();
  readonly #context: ListenerContext;
  readonly #worker: WorkerSteering | undefined;
  /** Configured UDP/TCP/TLS listener index → this worker's own twin (workers > 1). */
  readonly #ownTwin = new Map<number, Listener>();
  #user: TransportUser | undefined;
  #gate: ((flow: Flow, data: Buffer) => boolean) | undefined;
  #stopping: Promise<void> | undefined;

  constructor(options: TransportLayerOptions) {
    this.limits = Object.freeze(resolveLimits(options.limits));
    this.#logger = options.logger;
    this.#parserLimits = { maxMessageBytes: this.limits.maxMessageBytes, maxHeaderCount: this.limits.maxHeaderCount };
    this.#tlsClient = options.tlsClient ?? {};
    this.tokens = new FlowTokens(options.flowTokenSecret);
    this.flows = new FlowTable({ tokens: this.tokens, maxUdpFlows: this.limits.maxUdpFlows, udpFlowIdleMs: this.limits.udpFlowIdleMs });
    this.#context = {
      limits: this.limits,
      logger: this.#logger,
      flows: this.flows,
      receive: (flow, data) => this.#receive(flow, data, false),
      receiveSteered: (flow, data) => this.#receive(flow, data, true),
      invalid: (flow, error) => this.#invalid(flow, error),
      admit: (ip) => this.#admit(ip),
      release: (ip) => this.#release(ip),
    };
    this.#worker = options.worker;
    const specs = this.#worker === undefined ? options.listeners : workerListeners(options.listeners, this.#worker.id, options.workerPortBase ?? 0);
    this.#states = specs.map((spec, i) => new ListenerState(spec, i, this.tap));
    this.#listeners = this.#states.map((state) => this.#createListener(state, options));
    if (this.#worker !== undefined) {
      // The twins follow the configured listeners, in their order (workerListeners()).
      let next = options.listeners.length;
      options.listeners.forEach((spec, i) => {
        if (!HAS_TWIN.has(spec.transport)) return;
        const twin = this.#listeners[next++];
        if (twin !== undefined) this.#ownTwin.set(i, twin);
      });
    }
    this.flows.rebuildUdp = (index, address, port) => {
      const listener = this.#listeners[index];
      return listener instanceof UdpListener ? listener.flowTo(address, port) : undefined;
    };
    this.flows.onClose((flow) => this.#onFlowClosed(flow));
  }

  /** The layer above; messages that arrive before it is set are dropped. */
  setUser(user: TransportUser): void {
    this.#user = user;
  }

  /**
   * Looks at every received message before the parser; true = it was dealt
   * with (admission control sheds new work here, before a full parse).
   */
  setGate(gate: ((flow: Flow, data: Buffer) => boolean) | undefined): void {
    this.#gate = gate;
  }

  get listeners(): readonly ListenerInfo[] {
    return this.#states;
  }

  /**
   * Bind every listener, in order. On the first failure the ones already
   * bound are closed and the error names the listener that failed.
   */
  async start(): Promise<void> {
    if (this.#stopping !== undefined) throw new Error('transport layer was stopped');
    for (const listener of this.#listeners) {
      if (listener.info.up) continue;
      try {
        await listener.start();
        this.#logger.info({ listener: listener.info.label, advertise: listener.info.advertise }, 'listening');
      } catch (err) {
        await Promise.allSettled(this.#listeners.map((l) => l.stop()));
        const reason = err instanceof Error ? err.message : String(err);
        throw new SbcError('SBC_ERR_LISTEN', `cannot listen on ${listener.info.label}: ${reason}`, { cause: err });
      }
    }
  }

  /** Close every listener and flow. Idempotent. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      await Promise.allSettled(this.#listeners.map((l) => l.stop()));
      this.flows.close();
      this.#perIp.clear();
      this.#dialing.clear();
      this.#byName.clear();
    })();
    return this.#stopping;
  }

  /**
   * New certificate, key or TLS settings for every TLS and WSS listener:
   * connections opened from now on get them, open ones keep theirs. Throws,
   * changing nothing, when OpenSSL refuses them.
   */
  setTlsCredentials(credentials: TlsCredentials): void {
    createSecureContext(secureContextOptions(credentials));
    for (const l of this.#listeners) if (l instanceof TlsListener || l instanceof WsListener) l.setCredentials(credentials);
  }

  /** The first listener for `transport` (on interface `iface` when given), preferring one that is up. */
  listenerFor(transport: TransportProtocol, iface?: string): ListenerInfo | undefined {
    let fallback: ListenerInfo | undefined;
    for (const info of this.#states) {
      if (info.transport !== transport || (iface !== undefined && info.interface !== iface)) continue;
      if (info.up) return info;
      fallback ??= info;
    }
    return fallback;
  }

  /**
   * A flow to `target`. UDP goes out from the UDP listener of the target's
   * address family; TCP and TLS reuse an open connection to the same address
   * and port, else dial one (which then also receives requests).
   * Rejects with SbcError SBC_ERR_TRANSPORT when no listener fits or the connection fails.
   */
  async connect(target: ConnectTarget, via?: ListenerInfo): Promise<Flow> {
    if (this.#stopping !== undefined) throw new SbcError('SBC_ERR_TRANSPORT', 'transport layer is stopped');
    if (target.transport === 'ws' || target.transport === 'wss') {
      throw new SbcError('SBC_ERR_TRANSPORT', `outbound ${target.transport} is not supported; reach WebSocket clients through their flow`);
    }
    if (!Number.isInteger(target.port) || target.port <= 0 || target.port > 65535) {
      throw new SbcError('SBC_ERR_TRANSPORT', `invalid port ${target.port} for ${target.address}`);
    }
    let listener = this.#outboundListener(target, via);
    // A worker dials from its own port, so what comes back from inside reaches it.
    const twin = this.#ownTwin.get(listener.info.index);
    if (twin?.info.up === true) listener = twin;
    if (target.transport === 'udp') {
      if (isIP(target.address) === 0) throw new SbcError('SBC_ERR_TRANSPORT', `udp target must be an IP address, got ${target.address}`);
      const flow = listener instanceof UdpListener ? listener.flowTo(target.address, target.port) : undefined;
      if (flow === undefined) throw new SbcError('SBC_ERR_TRANSPORT', `udp listener ${listener.info.label} is not up`);
      return flow;
    }
    const key = `${target.transport} ${target.address} ${target.port}`;
    const open = this.flows.byRemote(target.transport, target.address, target.port) ?? this.#byName.get(key);
    if (open !== undefined && !open.closed) return open;
    let pending = this.#dialing.get(key);
    if (pending === undefined) {
      pending = dialStream(target.transport, target.address, target.port, listener.info, this.#context, this.#tlsClient)
        .then((flow) => {
          if (isIP(target.address) === 0) this.#rememberName(key, flow);
          return flow;
        })
        .finally(() => this.#dialing.delete(key));
      this.#dialing.set(key, pending);
    }
    return pending;
  }

  #rememberName(key: string, flow: FlowBase): void {
    this.#byName.set(key, flow);
    flow.onClose(() => {
      if (this.#byName.get(key) === flow) this.#byName.delete(key);
    });
  }

  #outboundListener(target: ConnectTarget, via: ListenerInfo | undefined): Listener {
    if (via !== undefined && via.transport === target.transport) {
      const chosen = this.#listeners[via.index];
      if (chosen !== undefined && chosen.info === via) return chosen;
    }
    const family = isIP(target.address) === 6 ? 'IPv6' : isIP(target.address) === 4 ? 'IPv4' : undefined;
    let fallback: Listener | undefined;
    for (const l of this.#listeners) {
      if (l.info.transport !== target.transport || !l.info.up) continue;
      if (family === undefined || l.info.family === family) return l;
      // An IPv6 wildcard socket reaches IPv4 too (dual stack), so it is a usable second choice.
      if (l.info.address === '::') fallback ??= l;
    }
    if (fallback !== undefined) return fallback;
    throw new SbcError('SBC_ERR_TRANSPORT', `no ${target.transport} listener is up for ${target.address} (configure one in listen)`);
  }

  #createListener(state: ListenerState, options: TransportLayerOptions): Listener {
    switch (state.transport) {
      case 'udp':
        return new UdpListener(state, this.#context);
      case 'tcp':
        return new TcpListener(state, this.#context);
      case 'tls':
        if (options.tls === undefined) throw new SbcError('SBC_ERR_CERT', `${state.label}: a TLS listener needs tls.cert and tls.key`);
        return new TlsListener(state, this.#context, options.tls);
      case 'ws':
      case 'wss':
        if (state.transport === 'wss' && options.tls === undefined) throw new SbcError('SBC_ERR_CERT', `${state.label}: a WSS listener needs tls.cert and tls.key`);
        return new WsListener(state, this.#context, {
          ...(options.tls ? { tls: options.tls } : {}),
          ...(options.httpHandler ? { httpHandler: options.httpHandler } : {}),
          ...(options.handshake ? { handshake: options.handshake } : {}),
        });
    }
  }

  /** A datagram another worker passed here (cluster IPC): handled as if it arrived on this worker's shared socket. */
  receiveSteered(d: SteeredDatagram): void {
    const listener = this.#listeners[d.listener];
    if (listener instanceof UdpListener && listener.info.bind === 'reuse-port' && Buffer.isBuffer(d.data)) {
      listener.receiveSteered(d.data, d.address, d.port);
    }
  }

  #receive(flow: FlowBase, data: Buffer, steered: boolean): void {
    flow.touch();
    const observer = this.tap.observer;
    if (observer !== undefined) observer('in', flow, data);
    const user = this.#user;
    if (user === undefined) return;
    let parsed: ReturnType<typeof parseMessage>;
    try {
      if (this.#gate?.(flow, data) === true) return;
      parsed = parseMessage(data, this.#parserLimits);
    } catch (err) {
      this.#logger.error({ err, flow: flow.id, bytes: data.length }, 'parser threw; message dropped');
      return;
    }
    if (!parsed.ok) {
      this.#invalid(flow, parsed.error);
      return;
    }
    const worker = this.#worker;
    if (worker !== undefined && !steered && flow.listener.bind === 'reuse-port') {
      const owner = ownerOf(parsed.value);
      if (owner !== undefined && owner !== worker.id) {
        worker.pass(owner, { listener: flow.listener.index, address: flow.remote.address, port: flow.remote.port, data });
        return;
      }
    }
    try {
      user.onMessage(parsed.value, flow);
    } catch (err) {
      this.#logger.error({ err, flow: flow.id }, 'message handler threw; message dropped');
    }
  }

  #invalid(flow: FlowBase, error: ParseError): void {
    flow.touch();
    const user = this.#user;
    if (user === undefined) return;
    try {
      user.onInvalid(error, flow);
    } catch (err) {
      this.#logger.error({ err, flow: flow.id }, 'invalid-message handler threw');
    }
  }

  #onFlowClosed(flow: FlowBase): void {
    try {
      this.#user?.onFlowClosed?.(flow);
    } catch (err) {
      this.#logger.error({ err, flow: flow.id }, 'flow-closed handler threw');
    }
  }

  #admit(ip: string): boolean {
    const n = this.#perIp.get(ip) ?? 0;
    if (n >= this.limits.maxConnectionsPerIp) {
      // debug, not warn: a flood of refusals must not become a flood of log lines.
      this.#logger.debug({ ip, limit: this.limits.maxConnectionsPerIp }, 'connection refused: too many from this address');
      return false;
    }
    this.#perIp.set(ip, n + 1);
    return true;
  }

  #release(ip: string): void {
    const n = this.#perIp.get(ip);
    if (n === undefined) return;
    if (n <= 1) this.#perIp.delete(ip);
    else this.#perIp.set(ip, n - 1);
  }
}

/** Listeners that get a twin of the worker's own: the transports the gateway dials (not WS/WSS). */
const HAS_TWIN: ReadonlySet<TransportProtocol> = new Set(['udp', 'tcp', 'tls']);

/**
 * A worker's listeners: the configured ones (UDP on SO_REUSEPORT sockets;
 * TCP, TLS, WS and WSS servers shared round-robin by node:cluster), then for
 * each UDP, TCP and TLS listener a twin of this worker's own on the same
 * address: its inside port, from `base` on (worker `id` takes the id-th run of
 * them) or picked by the kernel when `base` is 0.
 */
function workerListeners(configured: readonly ListenerSpec[], id: number, base: number): ListenerSpec[] {
  const shared = configured.map((l): ListenerSpec => (l.transport === 'udp' ? { ...l, bind: 'reuse-port' } : l));
  const twinned = configured.filter((l) => HAS_TWIN.has(l.transport));
  const first = base > 0 ? base + (id - 1) * twinned.length : 0;
  const own = twinned.map((l, k): ListenerSpec => ({ ...l, port: first > 0 ? first + k : 0, bind: 'own' }));
  return [...shared, ...own];
}
