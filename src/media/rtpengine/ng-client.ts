import type { Logger } from '../../log/logger.js';
import { silentLogger } from '../../log/logger.js';
import { decodeBencode, encodeBencode, isBencodeDict, type BencodeDict, type BencodeInput } from './bencode.js';
import { CookieSource } from './cookie.js';
import { parseEngineUrl } from './engine-url.js';
import { NgError, NgTimeoutError, NgUnavailableError } from './errors.js';
import type { NgTransport } from './ng-transport.js';
import { UdpNgTransport } from './udp-transport.js';
import { WsNgTransport } from './ws-transport.js';

/** A request dict as sent (values may be left undefined to omit them). */
export type NgDict = { readonly [key: string]: BencodeInput | undefined };

/** A decoded reply dict; `result` is `ok`, `pong`, or (turned into NgError) `error` / `load limit`. */
export type NgReply = BencodeDict;

export const NG_CLIENT_DEFAULTS = {
  /** Milliseconds to wait for a reply before resending (Kamailio `rtpengine_tout_ms`). */
  timeoutMs: 1000,
  /** Sends of one request, the first included (Kamailio `rtpengine_retr`). */
  tries: 3,
  /** Requests awaiting a reply before new ones are refused. */
  maxPending: 10_000,
} as const;

export interface NgClientOptions {
  /** @default NG_CLIENT_DEFAULTS.timeoutMs */
  timeoutMs?: number;
  /** @default NG_CLIENT_DEFAULTS.tries */
  tries?: number;
  /** @default NG_CLIENT_DEFAULTS.maxPending */
  maxPending?: number;
  /** Shared by every client of one process, so cookies are unique across engines too. @default a new CookieSource */
  cookies?: CookieSource;
  logger?: Logger;
}

export interface NgRequestOptions {
  timeoutMs?: number;
  tries?: number;
}

/** What one client has seen since it was created. */
export interface NgClientStats {
  requests: number;
  /** Replies with `result: error` or `load limit`, and malformed replies. */
  errors: number;
  timeouts: number;
  /** First send to reply, in milliseconds, over requests that got a reply. */
  latencyMs: { last: number; avg: number; max: number };
}

/** One ng request awaiting its reply. */
interface Pending {
  command: string;
  message: Buffer;
  triesLeft: number;
  timeoutMs: number;
  startedAt: number;
  timer: NodeJS.Timeout;
  resolve: (reply: NgReply) => void;
  reject: (error: Error) => void;
}

/**
 * The ng control client for one engine: `<cookie> <bencode dict>` messages
 * over UDP or WebSocket. Each request gets a fresh cookie; a request without
 * a reply is resent with the **same** cookie, so an engine that already
 * executed it answers from its cookie cache instead of executing it twice
 * ([cc]; PROTOCOLS.md §1.1). Replies are matched by cookie; unknown cookies
 * are dropped.
 */
export class NgClient {
  /** The engine URL as configured; also the engine's name in logs and metrics. */
  readonly url: string;
  readonly #transport: NgTransport;
  readonly #pending = new Map<string, Pending>();
  readonly #cookies: CookieSource;
  readonly #timeoutMs: number;
  readonly #tries: number;
  readonly #maxPending: number;
  readonly #log: Logger;
  readonly #stats: NgClientStats = { requests: 0, errors: 0, timeouts: 0, latencyMs: { last: 0, avg: 0, max: 0 } };
  #replies = 0;
  #closed = false;

  /** @throws TypeError when `url` is not `udp:HOST:PORT`, `udp6:[IPv6]:PORT` or `ws(s)://HOST:PORT[/path]`. */
  constructor(url: string, options: NgClientOptions = {}) {
    const address = parseEngineUrl(url);
    if (!address) throw new TypeError(`"${url}" is not an rtpengine URL; use udp:HOST:PORT or ws://HOST:PORT`);
    this.url = url;
    this.#cookies = options.cookies ?? new CookieSource();
    this.#timeoutMs = options.timeoutMs ?? NG_CLIENT_DEFAULTS.timeoutMs;
    this.#tries = options.tries ?? NG_CLIENT_DEFAULTS.tries;
    this.#maxPending = options.maxPending ?? NG_CLIENT_DEFAULTS.maxPending;
    this.#log = (options.logger ?? silentLogger()).child({ engine: url });
    const onMessage = (message: Buffer): void => this.#onMessage(message);
    const onError = (error: Error): void => this.#log.warn({ err: error.message }, 'rtpengine control socket error');
    this.#transport =
      address.transport === 'udp'
        ? new UdpNgTransport(address.family, address.host, address.port, onMessage, onError)
        : new WsNgTransport(address.url, onMessage, onError);
  }

  /**
   * Send one command and resolve with the reply dict.
   * @throws NgError on `result: error` (with the engine's `error-reason`) or `load limit`
   * @throws NgTimeoutError when no reply came after every try
   * @throws NgUnavailableError when the client is closed, too many requests are in flight, or the message is too large for the transport
   */
  request(command: string, dict: NgDict = {}, options: NgRequestOptions = {}): Promise<NgReply> {
    if (this.#closed) return Promise.reject(new NgUnavailableError(this.url, 'client closed'));
    if (this.#pending.size >= this.#maxPending) return Promise.reject(new NgUnavailableError(this.url, `${this.#maxPending} requests already in flight`));
    const cookie = this.#cookies.next();
    const message = Buffer.concat([Buffer.from(cookie + ' ', 'latin1'), encodeBencode({ ...dict, command })]);
    if (message.length > this.#transport.maxMessageBytes) {
      const hint = this.url.startsWith('udp') ? '; use a ws:// engine URL (rtpengine --listen-http) for large SDPs' : '';
      return Promise.reject(new NgUnavailableError(this.url, `${command} of ${message.length} bytes exceeds the transport limit of ${this.#transport.maxMessageBytes}${hint}`));
    }
    const timeoutMs = options.timeoutMs ?? this.#timeoutMs;
    const tries = Math.max(1, options.tries ?? this.#tries);
    this.#stats.requests++;
    return new Promise<NgReply>((resolve, reject) => {
      const pending: Pending = {
        command,
        message,
        triesLeft: tries - 1,
        timeoutMs,
        startedAt: performance.now(),
        timer: setTimeout(() => this.#onTimeout(cookie, tries), timeoutMs),
        resolve,
        reject,
      };
      this.#pending.set(cookie, pending);
      this.#transport.send(message);
    });
  }

  /** Resolves when the engine answers `pong`. */
  async ping(options?: NgRequestOptions): Promise<void> {
    const reply = await this.request('ping', {}, options);
    if (reply['result'] !== 'pong') throw new NgError(this.url, 'ping', `expected pong, got ${String(reply['result'])}`);
  }

  /** A copy of the counters and latency figures. */
  stats(): NgClientStats {
    return { ...this.#stats, latencyMs: { ...this.#stats.latencyMs } };
  }

  /** Requests still awaiting a reply. */
  get pendingCount(): number {
    return this.#pending.size;
  }

  /** Idempotent: rejects what is in flight, clears every timer, closes the socket. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const pending of this.#pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(new NgUnavailableError(this.url, 'client closed'));
    }
    this.#pending.clear();
    this.#transport.close();
  }

  #onTimeout(cookie: string, tries: number): void {
    const pending = this.#pending.get(cookie);
    if (!pending) return;
    if (pending.triesLeft > 0) {
      pending.triesLeft--;
      this.#log.debug({ command: pending.command, cookie }, 'no ng reply yet; resending with the same cookie');
      pending.timer = setTimeout(() => this.#onTimeout(cookie, tries), pending.timeoutMs);
      this.#transport.send(pending.message);
      return;
    }
    this.#pending.delete(cookie);
    this.#transport.cancel?.(pending.message);
    this.#stats.timeouts++;
    pending.reject(new NgTimeoutError(this.url, pending.command, tries, pending.timeoutMs));
  }

  #onMessage(message: Buffer): void {
    const space = message.indexOf(0x20);
    if (space <= 0 || space > 256) {
      this.#log.debug({ bytes: message.length }, 'dropped an ng message without a cookie');
      return;
    }
    const cookie = message.toString('latin1', 0, space);
    const pending = this.#pending.get(cookie);
    // A late reply to a request that already timed out, or a reply meant for someone else.
    if (!pending) return;
    this.#pending.delete(cookie);
    clearTimeout(pending.timer);
    this.#recordLatency(performance.now() - pending.startedAt);

    const decoded = decodeBencode(message.subarray(space + 1));
    if (!decoded.ok || !isBencodeDict(decoded.value)) {
      this.#stats.errors++;
      const why = decoded.ok ? 'reply is not a dict' : decoded.error.message;
      pending.reject(new NgError(this.url, pending.command, `malformed reply: ${why}`));
      return;
    }
    const reply = decoded.value;
    const result = reply['result'];
    if (result === 'ok' || result === 'pong') {
      const warning = reply['warning'];
      if (typeof warning === 'string') this.#log.warn({ command: pending.command, warning }, 'rtpengine warning');
      pending.resolve(reply);
      return;
    }
    this.#stats.errors++;
    const reason = typeof reply['error-reason'] === 'string' ? reply['error-reason'] : typeof result === 'string' ? result : 'reply without a result';
    pending.reject(new NgError(this.url, pending.command, reason));
  }

  #recordLatency(ms: number): void {
    const latency = this.#stats.latencyMs;
    this.#replies++;
    latency.last = ms;
    latency.avg += (ms - latency.avg) / this.#replies;
    if (ms > latency.max) latency.max = ms;
  }
}
