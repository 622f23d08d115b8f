import { isUtf8 } from 'node:buffer';
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { FlowBase } from './flow-base.js';
import type { Address } from './flow.js';
import { CRLF_PONG, crlfKeepalive } from './keepalive.js';
import { connectionFlowId, familyOf, type Listener, type ListenerContext, type ListenerState } from './listener.js';

export type HttpRequestHandler = (req: IncomingMessage, res: ServerResponse) => void;

/** The WebSocket subprotocol SIP uses (RFC 7118 §4.1). */
export const SIP_SUBPROTOCOL = 'sip';

/** One SIP-over-WebSocket connection. */
export class WsFlow extends FlowBase {
  readonly #ws: WebSocket;
  #handshakeTimer: NodeJS.Timeout | undefined;
  /** Settles when the underlying connection is gone (not merely closing). */
  readonly gone: Promise<void>;
  /** Cleared before each ping, set by the pong; still clear at the next ping = dead peer. */
  alive = true;

  constructor(init: { listener: ListenerState; local: Address; remote: Address; ws: WebSocket; handshakeTimeoutMs: number }) {
    super({ id: connectionFlowId(init.listener.transport), transport: init.listener.transport, listener: init.listener, local: init.local, remote: init.remote, inbound: true });
    this.#ws = init.ws;
    this.gone = new Promise((resolve) => init.ws.once('close', () => resolve()));
    this.#handshakeTimer = setTimeout(() => this.close('handshake-timeout'), init.handshakeTimeoutMs);
  }

  /** The peer proved it speaks SIP: a message or a valid keepalive arrived. */
  established(): void {
    if (this.#handshakeTimer === undefined) return;
    clearTimeout(this.#handshakeTimer);
    this.#handshakeTimer = undefined;
  }

  ping(): void {
    this.alive = false;
    this.#ws.ping();
  }

  protected write(data: Buffer): boolean {
    // Browsers close on a text frame that is not UTF-8 (RFC 6455 §8.1); such a message goes binary.
    this.#ws.send(data, { binary: !isUtf8(data) });
    return true;
  }

  protected release(reason: string): void {
    this.established();
    if (reason === 'dead-peer' || reason === 'socket-error' || reason === 'peer-closed') this.#ws.terminate();
    else this.#ws.close(reason === 'shutdown' || reason === 'listener-stopped' ? 1001 : 1000);
  }

  /** Drop the connection without a closing handshake. */
  terminate(): void {
    this.#ws.terminate();
  }
}

/**
 * WS or WSS listener: an http(s) server whose upgrades become SIP flows
 * (RFC 7118) and whose ordinary requests go to the injected HTTP handler.
 */
export class WsListener implements Listener {
  readonly info: ListenerState;
  readonly #ctx: ListenerContext;
  readonly #tls: { cert: string | Buffer; key: string | Buffer } | undefined;
  readonly #httpHandler: HttpRequestHandler;
  readonly #flows = new Set<WsFlow>();
  #server: HttpServer | undefined;
  #wss: WebSocketServer | undefined;
  #pingTimer: NodeJS.Timeout | undefined;

  constructor(info: ListenerState, ctx: ListenerContext, options: { tls?: { cert: string | Buffer; key: string | Buffer }; httpHandler?: HttpRequestHandler }) {
    this.info = info;
    this.#ctx = ctx;
    this.#tls = options.tls;
    this.#httpHandler = options.httpHandler ?? notFound;
    if (info.transport === 'wss' && this.#tls === undefined) throw new Error(`${info.label}: wss needs a TLS certificate and key`);
  }

  start(): Promise<void> {
    const limits = this.#ctx.limits;
    const server: HttpServer = this.info.transport === 'wss'
      ? createHttpsServer({ cert: this.#tls?.cert, key: this.#tls?.key, handshakeTimeout: limits.handshakeTimeoutMs })
      : createHttpServer();
    const wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      perMessageDeflate: false,
      maxPayload: limits.maxWsPayloadBytes,
      handleProtocols: (protocols) => (protocols.has(SIP_SUBPROTOCOL) ? SIP_SUBPROTOCOL : false),
    });
    server.on('request', (req, res) => this.#onHttpRequest(req, res));
    server.on('upgrade', (req, socket, head) => this.#onUpgrade(wss, req, socket, head));
    server.on('tlsClientError', (err) => this.#ctx.logger.debug({ err, listener: this.info.label }, 'tls handshake failed'));
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.info.port, this.info.address, () => {
        server.off('error', reject);
        server.on('error', (err) => this.#ctx.logger.error({ err, listener: this.info.label }, 'http server error'));
        const bound = server.address();
        this.info.boundPort = typeof bound === 'object' && bound !== null ? bound.port : this.info.port;
        this.info.up = true;
        this.#server = server;
        this.#wss = wss;
        this.#pingTimer = setInterval(() => this.#pingAll(), limits.wsPingIntervalMs);
        this.#pingTimer.unref();
        resolve();
      });
    });
  }

  async stop(): Promise<void> {
    const server = this.#server;
    this.info.up = false;
    if (server === undefined) return;
    this.#server = undefined;
    clearInterval(this.#pingTimer);
    this.#pingTimer = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    const flows = [...this.#flows];
    for (const flow of flows) flow.close('listener-stopped');
    // Give peers a moment for the closing handshake (RFC 6455 §7), then cut the rest.
    await Promise.race([Promise.all(flows.map((f) => f.gone)), delay(1000)]);
    for (const flow of flows) flow.terminate();
    this.#flows.clear();
    this.#wss?.close();
    this.#wss = undefined;
    await closed;
  }

  #onHttpRequest(req: IncomingMessage, res: ServerResponse): void {
    try {
      this.#httpHandler(req, res);
    } catch (err) {
      this.#ctx.logger.error({ err, url: req.url }, 'http handler threw');
      if (!res.headersSent) res.writeHead(500).end();
      else res.destroy();
    }
  }

  #onUpgrade(wss: WebSocketServer, req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', (err) => this.#ctx.logger.debug({ err, listener: this.info.label }, 'ws socket error'));
    const ip = req.socket.remoteAddress;
    if (ip === undefined) {
      socket.destroy();
      return;
    }
    // RFC 7118 §4.1: the client must offer "sip"; refusing the upgrade is clearer than a 1002 close.
    if (!offersSip(req.headers['sec-websocket-protocol'])) {
      refuseUpgrade(socket, 400, 'Bad Request', 'WebSocket subprotocol "sip" required');
      return;
    }
    if (!this.#ctx.admit(ip)) {
      refuseUpgrade(socket, 503, 'Service Unavailable', 'too many connections from this address');
      return;
    }
    socket.once('close', () => this.#ctx.release(ip));
    wss.handleUpgrade(req, socket, head, (ws) => this.#onConnection(ws, req));
  }

  #onConnection(ws: WebSocket, req: IncomingMessage): void {
    const raw = req.socket;
    if (this.#server === undefined || raw.remoteAddress === undefined || raw.remotePort === undefined) {
      ws.terminate();
      return;
    }
    const localAddress = raw.localAddress ?? this.info.address;
    const flow = new WsFlow({
      listener: this.info,
      local: { address: localAddress, port: raw.localPort ?? this.info.boundPort, family: familyOf(localAddress) },
      remote: { address: raw.remoteAddress, port: raw.remotePort, family: familyOf(raw.remoteAddress) },
      ws,
      handshakeTimeoutMs: this.#ctx.limits.handshakeTimeoutMs,
    });
    this.#flows.add(flow);
    this.#ctx.flows.add(flow);
    const log = this.#ctx.logger;
    ws.on('message', (data, isBinary) => this.#onMessage(flow, data, isBinary));
    ws.on('pong', () => {
      flow.alive = true;
    });
    ws.on('error', (err) => {
      // Protocol violations (too big, bad frame) land here; ws closes with the right code itself.
      log.debug({ err, flow: flow.id }, 'ws error');
    });
    ws.on('close', () => {
      this.#flows.delete(flow);
      flow.close('peer-closed');
    });
  }

  #onMessage(flow: WsFlow, data: RawData, _isBinary: boolean): void {
    const buf = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
    // RFC 7118 §6 / SIP.js: a message of only CRLFs is a keepalive; "\r\n\r\n" wants "\r\n" back.
    const keepalive = crlfKeepalive(buf);
    if (keepalive !== undefined) {
      flow.touch();
      flow.established();
      if (keepalive === 'ping') flow.send(CRLF_PONG);
      return;
    }
    flow.established();
    this.#ctx.receive(flow, buf);
  }

  #pingAll(): void {
    const now = performance.now();
    const idleMs = this.#ctx.limits.idleTimeoutMs;
    for (const flow of this.#flows) {
      if (!flow.alive) flow.close('dead-peer');
      else if (now - flow.lastActivity > idleMs) flow.close('idle');
      else flow.ping();
    }
  }
}

function offersSip(header: string | undefined): boolean {
  if (header === undefined) return false;
  for (const p of header.split(',')) if (p.trim() === SIP_SUBPROTOCOL) return true;
  return false;
}

function refuseUpgrade(socket: Duplex, status: number, reason: string, body: string): void {
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
}

function notFound(_req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
