/**
 * security.websocket as the WS/WSS listeners see it: the Origin allowlist
 * (403) first, then the handshake token (401) when one is configured. Every
 * refusal is counted by reason and logged without the token; log lines are
 * limited to one a second per reason (with the count left out), so a flood
 * of refused handshakes cannot become a flood of log lines.
 */
import type { IncomingMessage } from 'node:http';
import type { SbcMetrics } from '../admin/metrics.js';
import type { WebSocketConfig } from '../config/websocket-schema.js';
import type { Logger } from '../log/logger.js';
import type { HandshakeCheck, HandshakeVerdict } from '../transport/ws-handshake.js';
import { OriginPolicy } from './ws-origin.js';
import { HandshakeTokenVerifier, tokenRequired } from './ws-token.js';

const LOG_INTERVAL_MS = 1000;
/** Characters of a refused Origin or User-Agent kept in the log line. */
const LOGGED_CHARS = 200;

const UNAUTHORIZED_HEADERS: Readonly<Record<string, string>> = { 'WWW-Authenticate': 'Bearer realm="sip"' };
const INVALID_TOKEN_HEADERS: Readonly<Record<string, string>> = { 'WWW-Authenticate': 'Bearer realm="sip", error="invalid_token"' };

export interface WsHandshakeGateOptions {
  settings: WebSocketConfig;
  logger: Logger;
  metrics?: SbcMetrics;
}

export class WsHandshakeGate implements HandshakeCheck {
  #origins: OriginPolicy;
  #token: HandshakeTokenVerifier | undefined;
  readonly #log: Logger;
  readonly #metrics: SbcMetrics | undefined;
  /** Per reason: when a refusal was last logged, and how many were not logged since. */
  readonly #logged = new Map<string, { at: number; quiet: number }>();

  constructor(options: WsHandshakeGateOptions) {
    this.#log = options.logger;
    this.#metrics = options.metrics;
    this.#origins = new OriginPolicy(options.settings);
    this.#token = verifierFor(options.settings);
  }

  /** A re-read configuration (POST /api/reload): handshakes from now on are checked against it; open connections stay. */
  reconfigure(settings: WebSocketConfig): void {
    this.#origins = new OriginPolicy(settings);
    this.#token = verifierFor(settings);
  }

  /** Whether handshakes need a token now. */
  get requiresToken(): boolean {
    return this.#token !== undefined;
  }

  check(req: IncomingMessage): HandshakeVerdict | Promise<HandshakeVerdict> {
    const origin = req.headers.origin;
    const verdict = this.#origins.check(origin);
    if (verdict !== 'allowed') {
      this.#refused(req, verdict);
      return { ok: false, status: 403, reason: verdict };
    }
    const token = this.#token;
    if (token === undefined) return { ok: true };
    return token.verify(token.extract(req)).then((t): HandshakeVerdict => {
      if (t.ok) return { ok: true, user: t.user };
      this.#refused(req, t.reason);
      return { ok: false, status: 401, reason: t.reason, headers: t.reason === 'token-missing' ? UNAUTHORIZED_HEADERS : INVALID_TOKEN_HEADERS };
    });
  }

  #refused(req: IncomingMessage, reason: string): void {
    this.#metrics?.wsHandshakesRejected.inc({ reason });
    const now = Date.now();
    const last = this.#logged.get(reason);
    if (last !== undefined && now - last.at < LOG_INTERVAL_MS) {
      last.quiet += 1;
      return;
    }
    this.#logged.set(reason, { at: now, quiet: 0 });
    this.#log.warn({
      reason,
      source: req.socket.remoteAddress,
      origin: clip(req.headers.origin),
      userAgent: clip(req.headers['user-agent']),
      ...(last !== undefined && last.quiet > 0 ? { notLogged: last.quiet } : {}),
    }, 'websocket handshake refused');
  }
}

function verifierFor(settings: WebSocketConfig): HandshakeTokenVerifier | undefined {
  return tokenRequired(settings.token) ? new HandshakeTokenVerifier(settings.token) : undefined;
}

function clip(value: string | undefined): string | undefined {
  return value === undefined || value.length <= LOGGED_CHARS ? value : `${value.slice(0, LOGGED_CHARS)}…`;
}
