/**
 * Bans and rate counts shared by every worker and node on one state store:
 * an attacker spread over workers (connections round-robin, UDP from many
 * ports) or nodes is still one attacker.
 *
 * - A ban begun anywhere is published on `<prefix>ban` (in batches, one
 *   message per 50 ms at most) and applied by every screen that hears it
 *   (each keeps its local fast path: no store access per request).
 * - Rate: each screen counts the requests that passed its own bucket, per
 *   source and one-second wall-clock window. A source that reached a share
 *   of the limit here (`(rate + burst) / (2 × workers)`) has its count added
 *   to `rate:<ip>:<window>` in the store every `flushIntervalMs`; when the
 *   total passes `rate + burst` the source is banned everywhere. Sources
 *   under the share cost no store traffic, so a spoofed-source flood does
 *   not become a store flood; the total is then off by at most the shares
 *   not reported, so a spread attacker is banned from 1.5 × the limit on.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from '../log/logger.js';
import { KEY_FAMILY, stateKey } from '../state/keys.js';
import { BatchedPublisher } from '../state/batched-publisher.js';
import type { StateStore } from '../state/store.js';
import type { BanReason, ScreenPeers, ScreenSettings, SourceScreen } from './request-screen.js';

/** Safe defaults for every limit, in one place. */
export const SHARED_SCREEN_DEFAULTS = {
  flushIntervalMs: 100,
  /** Sources whose counts one flush reports at most. */
  maxReportsPerFlush: 1000,
  /** Sources counted per window at most (beyond: counted by the local bucket only). */
  maxCountedSources: 100_000,
} as const;

export interface SharedScreenOptions {
  store: StateStore;
  /** state.redis.keyPrefix. */
  prefix: string;
  screen: SourceScreen;
  settings: ScreenSettings;
  /** Workers (or nodes) sharing the store, for each one's share of the limit. @default 1 */
  peers?: number;
  logger: Logger;
  /** Wall clock in ms. @default Date.now */
  now?: () => number;
  flushIntervalMs?: number;
}

const REASONS: ReadonlySet<string> = new Set<BanReason>(['blocked-user-agent', 'rate-limited']);

interface Count {
  /** Requests in this window here. */
  seen: number;
  /** Of those, not yet added to the shared total. */
  unreported: number;
}

export class SharedScreen implements ScreenPeers {
  readonly #o: SharedScreenOptions;
  readonly #channel: string;
  /** Names this screen in what it publishes, so it can skip its own echo. */
  readonly #origin = randomBytes(6).toString('hex');
  readonly #now: () => number;
  #limit = 0;
  #share = 0;
  #window = 0;
  readonly #counts = new Map<string, Count>();
  #timer: NodeJS.Timeout | undefined;
  #unsubscribe: (() => Promise<void>) | undefined;
  #flushing = false;
  #closed = false;
  readonly #bans: BatchedPublisher;

  constructor(options: SharedScreenOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.#channel = stateKey(options.prefix, KEY_FAMILY.ban);
    this.#bans = new BatchedPublisher({ store: options.store, channel: this.#channel, logger: options.logger });
    this.reconfigure(options.settings);
  }

  /** Subscribe to bans and begin sharing; the screen reports to this from now on. */
  async start(): Promise<void> {
    this.#unsubscribe = await this.#o.store.subscribe(this.#channel, (message) => this.#heard(message));
    this.#o.screen.sharedWith(this);
    this.#timer = setInterval(() => void this.#flush(), this.#o.flushIntervalMs ?? SHARED_SCREEN_DEFAULTS.flushIntervalMs);
    this.#timer.unref();
  }

  /** New limits (POST /api/reload); counts start afresh. */
  reconfigure(settings: ScreenSettings): void {
    const peers = Math.max(1, this.#o.peers ?? 1);
    this.#limit = settings.requestsPerSecondPerIp > 0 ? settings.requestsPerSecondPerIp + settings.burst : 0;
    this.#share = Math.max(1, Math.floor(this.#limit / (2 * peers)));
    this.#counts.clear();
  }

  banned(source: string, reason: BanReason): void {
    if (this.#closed) return;
    this.#bans.add(`${this.#origin} ${reason} ${source}`);
  }

  passed(source: string): void {
    if (this.#limit === 0) return;
    const window = Math.floor(this.#now() / 1000);
    if (window !== this.#window) {
      this.#window = window;
      this.#counts.clear();
    }
    let count = this.#counts.get(source);
    if (count === undefined) {
      if (this.#counts.size >= SHARED_SCREEN_DEFAULTS.maxCountedSources) return;
      count = { seen: 0, unreported: 0 };
      this.#counts.set(source, count);
    }
    count.seen++;
    count.unreported++;
  }

  /** Idempotent: stops sharing; the screen goes on alone. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    this.#bans.close();
    this.#o.screen.sharedWith(undefined);
    this.#counts.clear();
    await this.#unsubscribe?.().catch(() => undefined);
  }

  #heard(message: string): void {
    for (const line of message.split('\n')) {
      const [origin, reason, source] = line.split(' ');
      if (origin === this.#origin || reason === undefined || source === undefined || !REASONS.has(reason)) continue;
      this.#o.screen.banFromPeers(source, reason as BanReason);
    }
  }

  /** Add the counts of sources over their share to the shared totals; ban the ones whose total passed the limit. */
  async #flush(): Promise<void> {
    if (this.#flushing || this.#closed || this.#limit === 0) return;
    const window = this.#window;
    const reports: Array<[string, number]> = [];
    for (const [source, count] of this.#counts) {
      if (count.unreported === 0 || count.seen < this.#share) continue;
      reports.push([source, count.unreported]);
      count.unreported = 0;
      if (reports.length >= SHARED_SCREEN_DEFAULTS.maxReportsPerFlush) break;
    }
    if (reports.length === 0) return;
    this.#flushing = true;
    try {
      const store = this.#o.store;
      const totals = await Promise.all(reports.map(([source, n]) => store.incr(stateKey(this.#o.prefix, KEY_FAMILY.rate, source, String(window)), n, 2)));
      for (let i = 0; i < reports.length; i++) {
        if (totals[i]! <= this.#limit) continue;
        const source = reports[i]![0];
        // Banned here first, then everywhere (this screen passes a ban it begins on).
        if (this.#o.screen.banFromPeers(source, 'rate-limited')) this.banned(source, 'rate-limited');
      }
    } catch (err) {
      this.#o.logger.warn({ err }, 'shared rate counts not updated');
    } finally {
      this.#flushing = false;
    }
  }
}
