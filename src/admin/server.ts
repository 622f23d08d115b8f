import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Logger } from '../log/logger.js';
import { bearerTokenMatches } from './bearer-token.js';
import { listenUrl, parseListenAddress, type ListenAddress } from './listen-address.js';

/** Safe defaults for every admin listener limit, in one place. */
export const ADMIN_LIMITS = {
  maxBodyBytes: 64 * 1024,
  maxConnections: 64,
  requestTimeoutMs: 10_000,
} as const;

/** What a route handler sees of one request. */
export interface AdminRequest {
  method: string;
  /** Path without the query string. */
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  /** Parsed JSON body; undefined when the request had none. */
  body: unknown;
}

/** A JSON reply: `body` is serialized as JSON; undefined sends no body. */
export interface AdminReply {
  status: number;
  body: unknown;
}

export type AdminRouteHandler = (req: AdminRequest) => Promise<AdminReply> | AdminReply;

/** What /healthz reports; `details` is merged into the 503 body, `summary` into the 200 one (`webrtc-sbc status`). */
export interface HealthReport {
  ok: boolean;
  details: unknown;
  summary?: Record<string, unknown>;
}

export interface AdminServerOptions {
  /** `host:port`; IPv6 in brackets (`[::1]:9060`); port 0 picks a free port. */
  listen: string;
  /** When non-empty, every route but /healthz needs `Authorization: Bearer <token>`. */
  token?: string;
  logger: Logger;
  /** Backs GET /healthz. @default always ok */
  health?: () => HealthReport | Promise<HealthReport>;
  /** Backs GET /metrics (a Registry, or anything that renders like one); without it /metrics is not served. */
  registry?: Pick<Registry, 'metrics' | 'contentType'>;
}

/** A reply as it goes on the wire: status, content type and the serialized payload. */
export interface RawReply {
  status: number;
  contentType: string;
  payload: string;
  headers?: Record<string, string>;
}

type Responder = (req: AdminRequest) => Promise<RawReply>;

interface RouteEntry {
  /** Served without the bearer token. */
  open: boolean;
  methods: Map<string, Responder>;
}

const JSON_TYPE = 'application/json; charset=utf-8';

/**
 * The admin HTTP listener: JSON routes registered by the parts that own the
 * data (flows, dialogs, backends, engines, reload), plus /healthz and
 * /metrics. Loopback by default; a bearer token guards everything but
 * /healthz when configured.
 */
export class AdminServer {
  readonly #listen: ListenAddress;
  readonly #token: string;
  readonly #logger: Logger;
  readonly #health: () => HealthReport | Promise<HealthReport>;
  readonly #routes = new Map<string, RouteEntry>();
  readonly #server: Server;
  #starting: Promise<void> | undefined;
  #stopping: Promise<void> | undefined;

  constructor(options: AdminServerOptions) {
    const listen = parseListenAddress(options.listen);
    if (!listen.ok) throw new TypeError(`admin.listen: ${listen.error}`);
    this.#listen = listen.value;
    this.#token = options.token ?? '';
    this.#logger = options.logger.child({ component: 'admin' });
    this.#health = options.health ?? (() => ({ ok: true, details: {} }));

    this.#addRoute('GET', '/healthz', async () => this.#healthReply(), true);
    const registry = options.registry;
    if (registry) {
      this.#addRoute('GET', '/metrics', async () => ({ status: 200, contentType: registry.contentType, payload: await registry.metrics() }), false);
    }

    this.#server = createServer((req, res) => void this.#dispatch(req, res));
    this.#server.maxConnections = ADMIN_LIMITS.maxConnections;
    this.#server.requestTimeout = ADMIN_LIMITS.requestTimeoutMs;
    this.#server.headersTimeout = ADMIN_LIMITS.requestTimeoutMs;
    this.#server.on('error', (err) => this.#logger.error({ err }, 'admin listener error'));
  }

  /**
   * Serve a JSON route. Routes may be added before or after start().
   * @throws Error when the method and path are already taken.
   */
  route(method: string, path: string, handler: AdminRouteHandler): void {
    if (!path.startsWith('/')) throw new TypeError(`admin route path must start with "/" (got "${path}")`);
    this.#addRoute(method.toUpperCase(), path, async (req) => {
      const reply = await handler(req);
      const payload = reply.body === undefined ? '' : JSON.stringify(reply.body);
      return { status: reply.status, contentType: JSON_TYPE, payload };
    }, false);
  }

  /**
   * Answer one request as the listener would, without HTTP and without the
   * bearer token: for a supervisor asking its workers over IPC (the channel
   * is the trust boundary there).
   */
  async answer(method: string, path: string, query: URLSearchParams, body: unknown): Promise<RawReply> {
    const responder = this.#routes.get(path)?.methods.get(method.toUpperCase());
    if (responder === undefined) return jsonReply(404, { error: 'not found' });
    try {
      return await responder({ method: method.toUpperCase(), path, query, headers: {}, body });
    } catch (err) {
      this.#logger.error({ err, method, path }, 'admin route failed');
      return jsonReply(500, { error: 'internal error' });
    }
  }

  /** Bind the listener. Idempotent; rejects when the address cannot be bound. */
  start(): Promise<void> {
    if (this.#stopping) return Promise.reject(new Error('admin server is stopped'));
    this.#starting ??= new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.#server.once('error', onError);
      this.#server.listen(this.#listen.port, this.#listen.host, () => {
        this.#server.off('error', onError);
        const { host, port } = this.address();
        this.#logger.info({ host, port, auth: this.#token !== '' }, 'admin API listening');
        resolve();
      });
    });
    return this.#starting;
  }

  /** Stop listening and close every connection, keep-alive ones included. Idempotent. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      // A start still binding would otherwise finish after the stop and leak the listener.
      await this.#starting?.catch(() => undefined);
      if (!this.#server.listening) return;
      const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
      this.#server.closeAllConnections();
      await closed;
    })();
    return this.#stopping;
  }

  /** The bound address (the real port when 0 was configured). */
  address(): ListenAddress {
    const info = this.#server.address() as AddressInfo | null;
    if (!info) throw new Error('admin server is not listening');
    return { host: info.address, port: info.port };
  }

  /** The URL a local client (the CLI) uses to reach this listener. */
  url(): string {
    return listenUrl(this.address());
  }

  #addRoute(method: string, path: string, responder: Responder, open: boolean): void {
    let entry = this.#routes.get(path);
    if (!entry) {
      entry = { open, methods: new Map() };
      this.#routes.set(path, entry);
    }
    if (entry.methods.has(method)) throw new Error(`admin route ${method} ${path} is already registered`);
    entry.methods.set(method, responder);
  }

  async #dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    const url = new URL(req.url ?? '/', 'http://admin.invalid');
    const path = url.pathname;
    try {
      const entry = this.#routes.get(path);
      // Authenticate before saying whether a route exists.
      if (!entry?.open && this.#token !== '' && !bearerTokenMatches(req.headers.authorization, this.#token)) {
        send(res, { status: 401, contentType: JSON_TYPE, payload: '{"error":"unauthorized"}', headers: { 'WWW-Authenticate': 'Bearer realm="webrtc-sbc admin"' } });
        return;
      }
      if (!entry) {
        send(res, jsonReply(404, { error: 'not found' }));
        return;
      }
      const responder = entry.methods.get(method);
      if (!responder) {
        send(res, { ...jsonReply(405, { error: 'method not allowed' }), headers: { Allow: [...entry.methods.keys()].join(', ') } });
        return;
      }
      const body = await readJsonBody(req);
      if (!body.ok) {
        send(res, { ...jsonReply(body.status, { error: body.error }), headers: { Connection: 'close' } });
        return;
      }
      send(res, await responder({ method, path, query: url.searchParams, headers: req.headers, body: body.value }));
    } catch (err) {
      this.#logger.error({ err, method, path }, 'admin route failed');
      if (!res.headersSent) send(res, jsonReply(500, { error: 'internal error' }));
      else res.destroy();
    }
  }

  async #healthReply(): Promise<RawReply> {
    let report: HealthReport;
    try {
      report = await this.#health();
    } catch (err) {
      this.#logger.error({ err }, 'health check failed');
      report = { ok: false, details: { error: 'health check failed' } };
    }
    if (report.ok) return jsonReply(200, { status: 'ok', ...report.summary });
    const details = report.details;
    const extra = typeof details === 'object' && details !== null && !Array.isArray(details) ? details : { details };
    return jsonReply(503, { ...extra, status: 'unavailable' });
  }
}

function jsonReply(status: number, body: unknown): RawReply {
  return { status, contentType: JSON_TYPE, payload: JSON.stringify(body) };
}

function send(res: ServerResponse, reply: RawReply): void {
  res.writeHead(reply.status, {
    'Content-Type': reply.contentType,
    'Content-Length': Buffer.byteLength(reply.payload),
    'Cache-Control': 'no-store',
    ...reply.headers,
  });
  res.end(reply.payload);
}

type BodyResult = { ok: true; value: unknown } | { ok: false; status: number; error: string };

/**
 * Read at most ADMIN_LIMITS.maxBodyBytes and parse them as JSON. Past the
 * limit the rest is drained unread (destroying the request would take the
 * socket, and the 413, with it).
 */
function readJsonBody(req: IncomingMessage): Promise<BodyResult> {
  const tooLarge: BodyResult = { ok: false, status: 413, error: `request body exceeds ${ADMIN_LIMITS.maxBodyBytes} bytes` };
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > ADMIN_LIMITS.maxBodyBytes) {
    req.resume();
    return Promise.resolve(tooLarge);
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size <= ADMIN_LIMITS.maxBodyBytes) {
        chunks.push(chunk);
        return;
      }
      req.off('data', onData);
      req.off('end', onEnd);
      req.resume();
      resolve(tooLarge);
    };
    const onEnd = (): void => {
      if (size === 0) return resolve({ ok: true, value: undefined });
      try {
        resolve({ ok: true, value: JSON.parse(Buffer.concat(chunks, size).toString('utf8')) as unknown });
      } catch {
        resolve({ ok: false, status: 400, error: 'request body is not valid JSON' });
      }
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.once('error', reject);
    // A client that hangs up mid-body must not leave this promise pending.
    req.once('close', () => resolve({ ok: false, status: 400, error: 'request aborted' }));
  });
}
