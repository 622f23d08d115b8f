import { isUtf8 } from 'node:buffer';
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import type { Server as NetServer, Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { FlowBase } from './flow-base.js';
import type { Address } from './flow.js';
import { CRLF_PONG, crlfKeepalive } from './keepalive.js';
import { shareTicketKeys, TICKET_KEY_PURPOSE } from './ticket-keys.js';
import { connectionFlowId, familyOf, type Listener, type ListenerContext, type ListenerState } from './listener.js';
import { applyCredentials, secureContextOptions, type TlsCredentials, type TlsCredentialsHolder } from './tls-credentials.js';
import type { HandshakeCheck, HandshakeVerdict } from './ws-handshake.js';

export type HttpRequestHandler = (req: IncomingMessage, res: ServerResponse) => void;

/** The WebSocket subprotocol SIP uses (RFC 7118 §4.1). */
export const SIP_SUBPROTOCOL = 'sip';

/** One SIP-over-WebSocket connection. */
export class WsFlow extends FlowBase {
  readonly #ws: WebSocket;
  #handshakeTimer: NodeJS.Timeout | undefined;
  /** Cleared before each ping, set by the pong; still clear at the next ping = dead peer. */
  alive = true;
  /** performance.now() of its next liveness check (ping, idle): each flow on its own beat, not all at once. */
  nextCheckAt = 0;
  /** The SIP user the handshake token named; undefined when the handshake carried none. */
  readonly boundUser: string | undefined;

  constructor(init: { listener: ListenerState; local: Address; remote: Address; ws: WebSocket; handshakeTimeoutMs: number; boundUser?: string | undefined }) {
    super({ id: connectionFlowId(init.listener.transport), transport: init.listener.transport, listener: init.listener, local: init.local, remote: init.remote, inbound: true, tap: init.listener.tap });
    this.#ws = init.ws;
    this.boundUser = init.boundUser;
    this.#handshakeTimer = setTimeout(closeForHandshakeTimeout, init.handshakeTimeoutMs, this);
  }

  /** Settles when the underlying connection is gone (not merely closing). */
  gone(): Promise<void> {
    const ws = this.#ws;
    if (ws.readyState === ws.CLOSED) return Promise.resolve();
    return new Promise((resolve) => ws.once('close', () => resolve()));
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
 * WS or WSS listener: an HTTP server whose upgrades become SIP flows
 * (RFC 7118) and whose ordinary requests go to the injected HTTP handler.
 * For WSS a TLS server hands its connections to that HTTP server, rather
 * than using node:https, whose per-connection ALPN copy pins pooled memory
 * for the life of every WebSocket.
 */
export class WsListener implements Listener, TlsCredentialsHolder {
  readonly info: ListenerState;
  readonly #ctx: ListenerContext;
  #tls: TlsCredentials | undefined;
  #tlsServer: TlsServer | undefined;
  readonly #httpHandler: HttpRequestHandler;
  readonly #handshake: HandshakeCheck | undefined;
  readonly #flows = new Set<WsFlow>();
  #server: NetServer | undefined;
  #http: HttpServer | undefined;
  #wss: WebSocketServer | undefined;
  /** TLS connections not (yet) upgraded, and upgrades whose handshake check is pending: the HTTP server tracks neither for us. */
  readonly #pending = new Set<Socket>();
  #pingTimer: NodeJS.Timeout | undefined;

  constructor(info: ListenerState, ctx: ListenerContext, options: { tls?: TlsCredentials; httpHandler?: HttpRequestHandler; handshake?: HandshakeCheck }) {
    this.info = info;
    this.#ctx = ctx;
    this.#tls = options.tls;
    this.#httpHandler = options.httpHandler ?? notFound;
    this.#handshake = options.handshake;
    if (info.transport === 'wss' && this.#tls === undefined) throw new Error(`${info.label}: wss needs a TLS certificate and key`);
  }

  start(): Promise<void> {
    const limits = this.#ctx.limits;
    const http = createHttpServer();
    const server = this.info.transport === 'wss' && this.#tls !== undefined ? this.#createTlsServer(http, this.#tls) : http;
    const wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      perMessageDeflate: false,
      maxPayload: limits.maxWsPayloadBytes,
      handleProtocols: (protocols) => (protocols.has(SIP_SUBPROTOCOL) ? SIP_SUBPROTOCOL : false),
    });
    // A connection must send its request within the handshake budget; node:http's own header timeout is
    // only checked every 30 s. ws clears this on upgrade, keep-alive replaces it after a response.
    if (server === http) http.on('connection', (socket: Socket) => socket.setTimeout(limits.handshakeTimeoutMs));
    http.on('request', (req, res) => this.#onHttpRequest(req, res));
    http.on('upgrade', (req, socket, head) => this.#onUpgrade(wss, req, socket, head));
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.info.port, this.info.address, () => {
        server.off('error', reject);
        server.on('error', (err) => this.#ctx.logger.error({ err, listener: this.info.label }, 'http server error'));
        const bound = server.address();
        this.info.boundPort = typeof bound === 'object' && bound !== null ? bound.port : this.info.port;
        this.info.up = true;
        this.#server = server;
        this.#http = http;
        this.#wss = wss;
        this.#pingTimer = setInterval(() => this.#checkDue(), Math.min(PING_TICK_MS, limits.wsPingIntervalMs));
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
    this.#http?.closeAllConnections();
    this.#http = undefined;
    for (const socket of this.#pending) socket.destroy();
    this.#pending.clear();
    const flows = [...this.#flows];
    for (const flow of flows) flow.close('listener-stopped');
    // Give peers a moment for the closing handshake (RFC 6455 §7), then cut the rest.
    await Promise.race([Promise.all(flows.map((f) => f.gone())), delay(1000)]);
    for (const flow of flows) flow.terminate();
    this.#flows.clear();
    this.#wss?.close();
    this.#wss = undefined;
    await closed;
  }

  /** WSS: new connections shake hands with these; open ones keep theirs. Throws when OpenSSL refuses them. */
  setCredentials(credentials: TlsCredentials): void {
    if (this.info.transport !== 'wss') return;
    if (this.#tlsServer !== undefined) applyCredentials(this.#tlsServer, credentials);
    this.#tls = credentials;
  }

  #createTlsServer(http: HttpServer, credentials: TlsCredentials): NetServer {
    const limits = this.#ctx.limits;
    const server = createTlsServer({ ...secureContextOptions(credentials), handshakeTimeout: limits.handshakeTimeoutMs });
    this.#tlsServer = server;
    shareTicketKeys(server, this.#ctx.flows.tokens.derivedKey(TICKET_KEY_PURPOSE));
    const pending = this.#pending;
    const forget = function (this: Socket): void {
      pending.delete(this);
    };
    server.on('secureConnection', (socket: TLSSocket) => {
      pending.add(socket);
      socket.once('close', forget);
      // The same budget as for plain WS connections (node:http enforces none on connections handed to it).
      socket.setTimeout(limits.handshakeTimeoutMs);
      http.emit('connection', socket);
    });
    server.on('tlsClientError', (err) => this.#ctx.logger.debug({ err, listener: this.info.label }, 'tls handshake failed'));
    return server;
  }

  #onHttpRequest(req: IncomingMessage, res: ServerResponse): void {
    try {
      this.#httpHandler(req, res);
    } catch (err) {
      // Without the query: it may carry a handshake token.
      this.#ctx.logger.error({ err, path: req.url?.split('?', 1)[0] }, 'http handler threw');
      if (!res.headersSent) res.writeHead(500).end();
      else res.destroy();
    }
  }

  #onUpgrade(wss: WebSocketServer, req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', this.#onSocketError);
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
    this.#releaseOnClose(socket, ip);
    const verdict = this.#handshake?.check(req);
    if (verdict === undefined) this.#upgrade(wss, req, socket, head, undefined);
    else if (!(verdict instanceof Promise)) this.#afterCheck(wss, req, socket, head, verdict);
    else {
      // Until the check answers, stop() must be able to cut this socket.
      const raw = socket as Socket;
      if (!this.#pending.has(raw)) {
        this.#pending.add(raw);
        socket.once('close', () => this.#pending.delete(raw));
      }
      verdict.then(
        (v) => this.#afterCheck(wss, req, socket, head, v),
        (err: unknown) => {
          this.#ctx.logger.error({ err, listener: this.info.label }, 'handshake check failed');
          refuseUpgrade(socket, 500, 'Internal Server Error', 'handshake check failed');
        },
      );
    }
  }

  #afterCheck(wss: WebSocketServer, req: IncomingMessage, socket: Duplex, head: Buffer, verdict: HandshakeVerdict): void {
    if (!verdict.ok) {
      refuseUpgrade(socket, verdict.status, verdict.status === 401 ? 'Unauthorized' : 'Forbidden', verdict.status === 401 ? 'a valid token is required' : 'origin not allowed', verdict.headers);
      return;
    }
    // The peer may have gone, or the listener stopped, while a token was verified.
    if (socket.destroyed || this.#server === undefined) {
      socket.destroy();
      return;
    }
    this.#upgrade(wss, req, socket, head, verdict.user);
  }

  #upgrade(wss: WebSocketServer, req: IncomingMessage, socket: Duplex, head: Buffer, user: string | undefined): void {
    // This callback is dropped once called; nothing long-lived may share its closure, or `req` would live as long as the connection.
    wss.handleUpgrade(req, socket, head, (ws) => this.#onConnection(ws, req, socket, user));
  }

  #releaseOnClose(socket: Duplex, ip: string): void {
    socket.once('close', () => this.#ctx.release(ip));
  }

  readonly #onSocketError = (err: Error): void => {
    this.#ctx.logger.debug({ err, listener: this.info.label }, 'ws socket error');
  };

  #onConnection(ws: WebSocket, req: IncomingMessage, socket: Duplex, boundUser: string | undefined): void {
    const raw = req.socket;
    if (this.#server === undefined || raw.remoteAddress === undefined || raw.remotePort === undefined) {
      ws.terminate();
      return;
    }
    // From here on ws reports socket errors on the WebSocket.
    socket.off('error', this.#onSocketError);
    this.#pending.delete(socket as Socket);
    const localAddress = raw.localAddress ?? this.info.address;
    const flow = new WsFlow({
      listener: this.info,
      local: { address: localAddress, port: raw.localPort ?? this.info.boundPort, family: familyOf(localAddress) },
      remote: { address: raw.remoteAddress, port: raw.remotePort, family: familyOf(raw.remoteAddress) },
      ws,
      handshakeTimeoutMs: this.#ctx.limits.handshakeTimeoutMs,
      boundUser,
    });
    flow.nextCheckAt = performance.now() + this.#ctx.limits.wsPingIntervalMs;
    this.#flows.add(flow);
    this.#ctx.flows.add(flow);
    // Listeners shared by every connection (no closures per flow): ws calls them with the WebSocket as `this`.
    (ws as SipWebSocket)[FLOW] = { flow, listener: this };
    ws.on('message', onWsMessage);
    ws.on('pong', onWsPong);
    ws.on('error', onWsError);
    ws.on('close', onWsClose);
  }

  // The three below are called by the shared WebSocket listeners only.

  /** Protocol violations (too big, bad frame) land here; ws closes with the right code itself. */
  onWsError(flow: WsFlow, err: Error): void {
    this.#ctx.logger.debug({ err, flow: flow.id }, 'ws error');
  }

  onWsClose(flow: WsFlow): void {
    this.#flows.delete(flow);
    flow.close('peer-closed');
  }

  onWsMessage(flow: WsFlow, data: RawData): void {
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

  /**
   * Every flow is checked once per wsPingIntervalMs, counted from when it
   * opened: a dead peer (no pong since the last ping) and an idle one are
   * closed, the others pinged. Flows open at different times, so the pings
   * (a TLS write each) spread over the interval instead of one burst that
   * would hold the event loop for a second with 10,000 connections.
   */
  #checkDue(): void {
    const now = performance.now();
    const { idleTimeoutMs, wsPingIntervalMs } = this.#ctx.limits;
    for (const flow of this.#flows) {
      if (flow.nextCheckAt > now) continue;
      flow.nextCheckAt = now + wsPingIntervalMs;
      if (!flow.alive) flow.close('dead-peer');
      else if (now - flow.lastActivity > idleTimeoutMs) flow.close('idle');
      else flow.ping();
    }
  }
}

/** How often flows are looked at for their liveness check, ms. */
const PING_TICK_MS = 1000;

const FLOW = Symbol('sip flow');
type SipWebSocket = WebSocket & { [FLOW]?: { flow: WsFlow; listener: WsListener } };

function onWsMessage(this: SipWebSocket, data: RawData): void {
  const owner = this[FLOW];
  if (owner !== undefined) owner.listener.onWsMessage(owner.flow, data);
}

function onWsPong(this: SipWebSocket): void {
  const owner = this[FLOW];
  if (owner !== undefined) owner.flow.alive = true;
}

function onWsError(this: SipWebSocket, err: Error): void {
  const owner = this[FLOW];
  if (owner !== undefined) owner.listener.onWsError(owner.flow, err);
}

function onWsClose(this: SipWebSocket): void {
  const owner = this[FLOW];
  if (owner !== undefined) owner.listener.onWsClose(owner.flow);
}

function closeForHandshakeTimeout(flow: WsFlow): void {
  flow.close('handshake-timeout');
}

function offersSip(header: string | undefined): boolean {
  if (header === undefined) return false;
  for (const p of header.split(',')) if (p.trim() === SIP_SUBPROTOCOL) return true;
  return false;
}

function refuseUpgrade(socket: Duplex, status: number, reason: string, body: string, headers?: Readonly<Record<string, string>>): void {
  let extra = '';
  if (headers !== undefined) for (const [name, value] of Object.entries(headers)) extra += `${name}: ${value}\r\n`;
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\n${extra}Content-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
}

function notFound(_req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
