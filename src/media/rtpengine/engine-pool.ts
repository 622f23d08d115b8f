import { createHash } from 'node:crypto';
import type { SbcMetrics } from '../../admin/metrics.js';
import type { Logger } from '../../log/logger.js';
import { silentLogger } from '../../log/logger.js';
import { KEY_FAMILY, stateKey } from '../../state/keys.js';
import type { StateStore } from '../../state/store.js';
import { answerDict, deleteDict, offerDict, queryDict, replyCalls, replySdp, type AnswerParams, type DeleteParams, type OfferParams, type QueryParams } from './commands.js';
import { CookieSource } from './cookie.js';
import { Engine, type EngineSnapshot } from './engine.js';
import { NgError, NgTimeoutError, NoEngineError } from './errors.js';
import { NG_CLIENT_DEFAULTS, NgClient, type NgDict, type NgReply } from './ng-client.js';

export interface EngineConfig {
  /** `udp:HOST:PORT`, `udp6:[IPv6]:PORT` or `ws://HOST:PORT`. */
  url: string;
  /** Share of new calls. @default 1 */
  weight?: number;
}

export const ENGINE_POOL_DEFAULTS = {
  pingIntervalSeconds: 5,
  failuresToDown: 2,
  successesToUp: 1,
  /** TTL of `engine-call:<callId>` (src/state/keys.ts), refreshed on each offer and answer. */
  stickyTtlSeconds: 86_400,
  keyPrefix: 'sbc:',
} as const;

export interface EnginePoolOptions {
  engines: readonly EngineConfig[];
  /** Where a call's engine is remembered, so answer/delete (on any node) reach it. */
  store: StateStore;
  /** `state.redis.keyPrefix`. @default "sbc:" */
  keyPrefix?: string;
  /** Per try, in ms. @default 1000 */
  timeoutMs?: number;
  /** Sends per request, the first included. @default 3 */
  tries?: number;
  /** @default 5 */
  pingIntervalSeconds?: number;
  /** Consecutive timeouts that take an engine down. @default 2 */
  failuresToDown?: number;
  /** Consecutive replies that bring it back. @default 1 */
  successesToUp?: number;
  /** @default 86400 */
  stickyTtlSeconds?: number;
  metrics?: Pick<SbcMetrics, 'engineUp' | 'mediaSessions'> & Partial<Pick<SbcMetrics, 'engineRequests' | 'engineLatency'>>;
  logger?: Logger;
  /** Node id inside cookies (unique across SBC nodes). @default random */
  nodeId?: string;
}

/** The rewritten SDP and the engine that produced it. */
export interface MediaResult {
  sdp: string;
  engine: string;
  reply: NgReply;
}

/**
 * Several rtpengines behind one face. A new call goes to the engine that
 * ranks highest for its Call-ID (weighted rendezvous hashing, so every SBC
 * node picks the same engine and removing one engine moves only its calls);
 * the choice is stored in the state store, and answer, delete and query go
 * there. An offer that times out moves on to the next engine in the ranking
 * (Kamailio gives up instead). Pings keep each engine's health.
 */
export class EnginePool {
  readonly #engines: Engine[];
  readonly #byUrl = new Map<string, Engine>();
  readonly #store: StateStore;
  readonly #keyPrefix: string;
  readonly #stickyTtl: number;
  readonly #pingIntervalMs: number;
  readonly #timeoutMs: number;
  readonly #metrics: EnginePoolOptions['metrics'];
  readonly #log: Logger;
  readonly #pinging = new Set<Engine>();
  #pingTimer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: EnginePoolOptions) {
    this.#store = options.store;
    this.#keyPrefix = options.keyPrefix ?? ENGINE_POOL_DEFAULTS.keyPrefix;
    this.#stickyTtl = options.stickyTtlSeconds ?? ENGINE_POOL_DEFAULTS.stickyTtlSeconds;
    this.#pingIntervalMs = (options.pingIntervalSeconds ?? ENGINE_POOL_DEFAULTS.pingIntervalSeconds) * 1000;
    this.#timeoutMs = options.timeoutMs ?? NG_CLIENT_DEFAULTS.timeoutMs;
    this.#metrics = options.metrics;
    this.#log = (options.logger ?? silentLogger()).child({ component: 'rtpengine-pool' });
    const cookies = new CookieSource(options.nodeId);
    const thresholds = {
      failuresToDown: options.failuresToDown ?? ENGINE_POOL_DEFAULTS.failuresToDown,
      successesToUp: options.successesToUp ?? ENGINE_POOL_DEFAULTS.successesToUp,
    };
    const urls = options.engines.map((e) => e.url);
    const twice = urls.find((url, i) => urls.indexOf(url) !== i);
    if (twice !== undefined) throw new TypeError(`rtpengine ${twice} is listed twice`);
    this.#engines = [];
    for (const config of options.engines) {
      const client = new NgClient(config.url, { timeoutMs: this.#timeoutMs, tries: options.tries ?? NG_CLIENT_DEFAULTS.tries, cookies, logger: options.logger });
      const engine = new Engine(client, config.weight ?? 1, thresholds);
      this.#engines.push(engine);
      this.#byUrl.set(engine.url, engine);
      this.#metrics?.engineUp.set({ engine: engine.url }, 1);
      this.#metrics?.mediaSessions.set({ engine: engine.url }, 0);
    }
  }

  /** Start pinging every engine (once now, then every interval). Idempotent. */
  start(): void {
    if (this.#closed || this.#pingTimer) return;
    this.#pingAll();
    this.#pingTimer = setInterval(() => this.#pingAll(), this.#pingIntervalMs);
    this.#pingTimer.unref();
  }

  /** URLs of the configured engines, in configuration order. */
  get urls(): string[] {
    return this.#engines.map((e) => e.url);
  }

  /**
   * The engine that holds `callId` (from the state store), or for a new call
   * the up engine that ranks highest for it; undefined when none is up.
   */
  async engineFor(callId: string): Promise<string | undefined> {
    const sticky = await this.#stickyEngine(callId);
    if (sticky) return sticky.url;
    return this.#ranking(callId).find((e) => e.health === 'up')?.url;
  }

  /** Whether an engine already holds a session named `callId` (another worker or node offered it). */
  async holds(callId: string): Promise<boolean> {
    return (await this.#store.get(this.#stickyKey(callId))) !== undefined;
  }

  /**
   * Offer an SDP. A re-offer goes to the call's engine; a new call tries the
   * engines in ranking order (up ones first, down ones only when none is up),
   * moving on when one times out.
   * @throws NgError when the engine rejects the offer (not retried elsewhere)
   * @throws NgTimeoutError when the call's engine does not answer a re-offer
   * @throws NoEngineError when no engine answered a new call's offer
   */
  async offer(params: OfferParams): Promise<MediaResult> {
    const dict = offerDict(params);
    const sticky = await this.#stickyEngine(params.callId);
    if (sticky) {
      const reply = await this.#request(sticky, 'offer', dict);
      await this.#store.set(this.#stickyKey(params.callId), sticky.url, this.#stickyTtl);
      return { sdp: replySdp(reply, sticky.url, 'offer'), engine: sticky.url, reply };
    }
    const ranked = this.#ranking(params.callId);
    const up = ranked.filter((e) => e.health === 'up');
    const candidates = up.length > 0 ? up : ranked;
    let lastTimeout: NgTimeoutError | undefined;
    for (const engine of candidates) {
      let reply: NgReply;
      try {
        reply = await this.#request(engine, 'offer', dict);
      } catch (error) {
        if (!(error instanceof NgTimeoutError)) throw error;
        lastTimeout = error;
        this.#log.warn({ engine: engine.url, callId: params.callId }, 'offer timed out; trying the next engine');
        continue;
      }
      const sdp = replySdp(reply, engine.url, 'offer');
      await this.#store.set(this.#stickyKey(params.callId), engine.url, this.#stickyTtl);
      engine.addSession();
      this.#metrics?.mediaSessions.set({ engine: engine.url }, engine.sessions);
      return { sdp, engine: engine.url, reply };
    }
    const reason = candidates.length === 0 ? 'no rtpengine configured; set media.rtpengine.engines or media.mode=embedded' : `no rtpengine answered the offer (tried ${candidates.map((e) => e.url).join(', ')})`;
    throw new NoEngineError(reason, { cause: lastTimeout });
  }

  /**
   * Answer on the call's engine and refresh its stickiness.
   * @throws NoEngineError when no engine is known for the call
   */
  async answer(params: AnswerParams): Promise<MediaResult> {
    const engine = await this.#requireSticky(params.callId);
    const reply = await this.#request(engine, 'answer', answerDict(params));
    await this.#store.expire(this.#stickyKey(params.callId), this.#stickyTtl);
    return { sdp: replySdp(reply, engine.url, 'answer'), engine: engine.url, reply };
  }

  /**
   * Delete on the call's engine. Without `viaBranch` the whole call is gone
   * afterwards (also when the engine no longer knew it), so its stickiness is
   * dropped; a branch delete keeps it.
   * @throws NgTimeoutError when the engine does not answer (stickiness kept for a retry)
   */
  async delete(params: DeleteParams): Promise<NgReply> {
    const engine = await this.#requireSticky(params.callId);
    let reply: NgReply;
    try {
      reply = await this.#request(engine, 'delete', deleteDict(params));
    } catch (error) {
      // An error reply means the engine has no such session: nothing left to track.
      // A timeout keeps the stickiness so that the delete can be retried.
      if (!(error instanceof NgTimeoutError) && params.viaBranch === undefined) await this.#forget(engine, params.callId);
      throw error;
    }
    if (params.viaBranch === undefined) await this.#forget(engine, params.callId);
    return reply;
  }

  /** Query the call on its engine. */
  async query(params: QueryParams): Promise<NgReply> {
    const engine = await this.#requireSticky(params.callId);
    return this.#request(engine, 'query', queryDict(params));
  }

  /** Call-IDs the engine holds (its `list`, up to `limit`). */
  async list(url: string, limit = 32): Promise<string[]> {
    return replyCalls(await this.#request(this.#engine(url), 'list', { limit }));
  }

  /** The engine's `statistics` reply. */
  async statistics(url: string): Promise<NgReply> {
    return this.#request(this.#engine(url), 'statistics', {});
  }

  /** Every engine with its health, sessions, errors and ng latency, for GET /api/engines. */
  snapshot(): EngineSnapshot[] {
    return this.#engines.map((e) => e.snapshot());
  }

  /** Idempotent: stops pinging and closes every client (requests in flight reject). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#pingTimer) clearInterval(this.#pingTimer);
    this.#pingTimer = undefined;
    for (const engine of this.#engines) {
      engine.client.close();
      this.#metrics?.engineUp.remove({ engine: engine.url });
      this.#metrics?.mediaSessions.remove({ engine: engine.url });
    }
    this.#pinging.clear();
  }

  async #request(engine: Engine, command: string, dict: NgDict, options?: { tries: number }): Promise<NgReply> {
    const started = performance.now();
    const observe = (result: 'ok' | 'error' | 'timeout'): void => {
      this.#metrics?.engineRequests?.inc({ engine: engine.url, command, result });
      this.#metrics?.engineLatency?.observe({ engine: engine.url, command }, (performance.now() - started) / 1000);
    };
    try {
      const reply = await engine.client.request(command, dict, options);
      this.#onSuccess(engine);
      observe('ok');
      return reply;
    } catch (error) {
      if (error instanceof NgTimeoutError) this.#onFailure(engine);
      // An error reply still proves the engine is alive.
      else if (error instanceof NgError) this.#onSuccess(engine);
      observe(error instanceof NgTimeoutError ? 'timeout' : 'error');
      throw error;
    }
  }

  #onSuccess(engine: Engine): void {
    if (!engine.recordSuccess()) return;
    this.#log.info({ engine: engine.url }, 'rtpengine is up');
    this.#metrics?.engineUp.set({ engine: engine.url }, 1);
  }

  #onFailure(engine: Engine): void {
    if (!engine.recordFailure()) return;
    this.#log.warn({ engine: engine.url }, 'rtpengine is down');
    this.#metrics?.engineUp.set({ engine: engine.url }, 0);
  }

  #pingAll(): void {
    for (const engine of this.#engines) {
      // A ping still waiting (a stopped engine) is not doubled up.
      if (this.#pinging.has(engine)) continue;
      this.#pinging.add(engine);
      const startedAt = performance.now();
      this.#request(engine, 'ping', {}, { tries: 1 })
        .then(() => engine.recordPong(performance.now() - startedAt))
        .catch(() => undefined)
        .finally(() => this.#pinging.delete(engine));
    }
  }

  /** Engines for this Call-ID, best first: weighted rendezvous (highest random weight) hashing. */
  #ranking(callId: string): Engine[] {
    const scored = this.#engines.map((engine) => ({ engine, score: rendezvousScore(engine.url, engine.weight, callId) }));
    scored.sort((a, b) => b.score - a.score);
    return scored.map((s) => s.engine);
  }

  async #stickyEngine(callId: string): Promise<Engine | undefined> {
    const url = await this.#store.get(this.#stickyKey(callId));
    if (url === undefined) return undefined;
    const engine = this.#byUrl.get(url);
    if (!engine) this.#log.warn({ engine: url, callId }, 'call is on an engine that is no longer configured');
    return engine;
  }

  async #requireSticky(callId: string): Promise<Engine> {
    const engine = await this.#stickyEngine(callId);
    if (!engine) throw new NoEngineError(`no rtpengine holds call ${callId}`);
    return engine;
  }

  async #forget(engine: Engine, callId: string): Promise<void> {
    if (await this.#store.delete(this.#stickyKey(callId))) {
      engine.removeSession();
      this.#metrics?.mediaSessions.set({ engine: engine.url }, engine.sessions);
    }
  }

  #engine(url: string): Engine {
    const engine = this.#byUrl.get(url);
    if (!engine) throw new NoEngineError(`rtpengine ${url} is not configured`);
    return engine;
  }

  #stickyKey(callId: string): string {
    return stateKey(this.#keyPrefix, KEY_FAMILY.engineCall, callId);
  }
}

/**
 * Weighted rendezvous score: `-weight / ln(u)`, u uniform in (0,1) from a
 * hash of engine and Call-ID. The highest score wins; an engine with twice
 * the weight wins twice as often; stable on every node.
 */
export function rendezvousScore(url: string, weight: number, callId: string): number {
  const digest = createHash('sha1').update(url).update('\n').update(callId).digest();
  // 48 bits are plenty and stay exact in a double; +1 keeps u away from 0 and 1.
  const u = (digest.readUIntBE(0, 6) + 1) / (2 ** 48 + 2);
  return -weight / Math.log(u);
}
