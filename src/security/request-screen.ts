/**
 * Screening of every request from outside, by source IP, before any parsing
 * or transaction (CONTRACT.md: blocked sources are silently dropped; rate
 * limited ones get 503 with Retry-After, then are dropped while banned):
 *
 *   banned?                      → drop   'banned'
 *   User-Agent of a scanner?     → ban, drop 'blocked-user-agent'
 *   over its rate (token bucket)? → ban, 503 + Retry-After 'rate-limited'
 *   otherwise                    → pass
 *
 * A scanner is banned too because it comes back under another User-Agent.
 * Expiry costs no timer per source: reads check deadlines, and one coarse
 * unref'd sweep frees what has ended. Verdicts are shared constants, so a
 * screened request allocates nothing here.
 */
import type { RequestScreen, Screening } from '../core/request-checks.js';
import type { Logger } from '../log/logger.js';
import type { SipRequest } from '../sip/message.js';
import type { Flow } from '../transport/flow.js';
import { BanList } from './ban-list.js';
import { SourceRateLimiter } from './rate-limiter.js';
import { UserAgentBlocklist } from './scanner-block.js';
import { bucketRate, takeToken, type BucketRate, type TokenBucket } from './token-bucket.js';

export interface ScreenLimits {
  maxTrackedSources: number;
  maxBannedSources: number;
  sweepIntervalMs: number;
  banLogsPerSecond: number;
}

/** Safe defaults for what the configuration does not set. */
export const SCREEN_LIMITS: Readonly<ScreenLimits> = {
  /** Source IPs with a rate bucket at once (a spoofed-source flood must not grow the table). */
  maxTrackedSources: 100_000,
  /** Banned source IPs at once. */
  maxBannedSources: 100_000,
  /** How often ended bans and refilled buckets are freed. */
  sweepIntervalMs: 10_000,
  /** Ban log lines per second (and at once) before the rest are only counted: bans of spoofed sources must not flood the log. */
  banLogsPerSecond: 20,
};

/** What POST /api/reload may change. */
export interface ScreenSettings {
  /** security.rateLimit.requestsPerSecondPerIp; 0 = unlimited. */
  requestsPerSecondPerIp: number;
  /** security.rateLimit.burst. */
  burst: number;
  /** security.rateLimit.banSeconds; 0 = no ban (each request over the rate still gets 503). */
  banSeconds: number;
  /** security.blockedUserAgents: case-insensitive substrings. */
  blockedUserAgents: readonly string[];
}

export interface SourceScreenOptions extends ScreenSettings {
  logger: Logger;
  limits?: Partial<ScreenLimits>;
  /** Monotonic ms. @default performance.now */
  now?: () => number;
}

const PASS: Screening = Object.freeze({ kind: 'pass' });
const BANNED: Screening = Object.freeze({ kind: 'drop', reason: 'banned' });
const BLOCKED_USER_AGENT: Screening = Object.freeze({ kind: 'drop', reason: 'blocked-user-agent' });

export type BanReason = 'blocked-user-agent' | 'rate-limited';

/** How a screen shares what it sees with other workers and nodes (see SharedScreen). */
export interface ScreenPeers {
  /** A ban began here (not one a peer told us about). */
  banned(source: string, reason: BanReason): void;
  /** A request from `source` passed this screen's own rate check. */
  passed(source: string): void;
}

export class SourceScreen implements RequestScreen {
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #limits: ScreenLimits;
  #banSeconds = 0;
  #limiter: SourceRateLimiter | undefined;
  #agents: UserAgentBlocklist | undefined;
  #bans: BanList | undefined;
  #rateLimited: Screening = PASS;
  readonly #banLogRate: BucketRate;
  readonly #banLogBudget: TokenBucket;
  #unloggedBans = 0;
  #sweepTimer: NodeJS.Timeout | undefined;
  #peers: ScreenPeers | undefined;

  constructor(options: SourceScreenOptions) {
    const limits: ScreenLimits = { ...SCREEN_LIMITS, ...options.limits };
    this.#limits = limits;
    this.#log = options.logger;
    this.#now = options.now ?? (() => performance.now());
    this.#banLogRate = bucketRate(limits.banLogsPerSecond, limits.banLogsPerSecond);
    this.#banLogBudget = { tokens: limits.banLogsPerSecond, at: this.#now() };
    this.reconfigure(options);
  }

  /**
   * Apply new settings (at start and on POST /api/reload). Rate buckets start
   * afresh; bans in force keep their end unless bans are turned off.
   */
  reconfigure(settings: ScreenSettings): void {
    const limits = this.#limits;
    this.#banSeconds = settings.banSeconds;
    this.#limiter = settings.requestsPerSecondPerIp > 0
      ? new SourceRateLimiter({ requestsPerSecond: settings.requestsPerSecondPerIp, burst: settings.burst, maxSources: limits.maxTrackedSources })
      : undefined;
    const agents = new UserAgentBlocklist(settings.blockedUserAgents);
    this.#agents = agents.isEmpty ? undefined : agents;
    const refuses = this.#limiter !== undefined || this.#agents !== undefined;
    if (refuses && settings.banSeconds > 0) {
      if (this.#bans === undefined) this.#bans = new BanList({ durationMs: settings.banSeconds * 1000, maxSources: limits.maxBannedSources });
      else this.#bans.setDuration(settings.banSeconds * 1000);
    } else {
      this.#bans?.clear();
      this.#bans = undefined;
    }
    // Retry-After is whole seconds (RFC 3261 §20.33); with no ban, come back in a second.
    const retryAfter = String(Math.max(1, Math.ceil(settings.banSeconds)));
    this.#rateLimited = Object.freeze({ kind: 'reject', reason: 'rate-limited', status: 503, phrase: 'Service Unavailable', headers: Object.freeze({ 'retry-after': retryAfter }) });
    const needsSweep = this.#limiter !== undefined || this.#bans !== undefined;
    if (needsSweep && this.#sweepTimer === undefined) {
      this.#sweepTimer = setInterval(() => this.sweep(), limits.sweepIntervalMs);
      // The sweep only frees memory; it must not keep the process alive.
      this.#sweepTimer.unref();
    } else if (!needsSweep && this.#sweepTimer !== undefined) {
      clearInterval(this.#sweepTimer);
      this.#sweepTimer = undefined;
    }
  }

  /** True when this screen can refuse anything (a rate, or User-Agents to block). */
  get active(): boolean {
    return this.#limiter !== undefined || this.#agents !== undefined;
  }

  /** Sources currently tracked: with a rate bucket, and banned (diagnostics, tests). */
  get tracked(): { buckets: number; bans: number } {
    return { buckets: this.#limiter?.size ?? 0, bans: this.#bans?.size ?? 0 };
  }

  screen(req: SipRequest, flow: Flow): Screening {
    const source = flow.remote.address;
    const now = this.#now();
    if (this.#bans?.isBanned(source, now) === true) return BANNED;
    if (this.#agents !== undefined) {
      const userAgent = req.headers.get('user-agent');
      if (userAgent !== undefined && this.#agents.matches(userAgent)) {
        this.#ban(source, now, 'blocked-user-agent');
        return BLOCKED_USER_AGENT;
      }
    }
    if (this.#limiter !== undefined) {
      if (!this.#limiter.take(source, now)) {
        // A banned source starts afresh when its ban ends; unbanned, it stays limited.
        if (this.#ban(source, now, 'rate-limited')) this.#limiter.forget(source);
        return this.#rateLimited;
      }
      this.#peers?.passed(source);
    }
    return PASS;
  }

  /** Share bans and request counts with other workers and nodes from now on (undefined: stop). */
  sharedWith(peers: ScreenPeers | undefined): void {
    this.#peers = peers;
  }

  /**
   * A ban another worker or node began (or that shared counting found):
   * applied here without being passed on again. True when it began here now.
   */
  banFromPeers(source: string, reason: BanReason): boolean {
    return this.#ban(source, this.#now(), reason, false);
  }

  /** Free ended bans and refilled buckets (the timer calls this; tests may too). */
  sweep(): void {
    const now = this.#now();
    this.#bans?.sweep(now);
    this.#limiter?.sweep(now);
    if (this.#unloggedBans > 0) {
      this.#log.info({ count: this.#unloggedBans, seconds: this.#banSeconds }, 'sources banned without a line each (too many to log one by one)');
      this.#unloggedBans = 0;
    }
  }

  /** Idempotent: stops the sweep and forgets every bucket and ban. */
  close(): void {
    if (this.#sweepTimer !== undefined) clearInterval(this.#sweepTimer);
    this.#sweepTimer = undefined;
    this.#limiter?.clear();
    this.#bans?.clear();
  }

  /** True when a new ban began. */
  #ban(source: string, now: number, reason: BanReason, tellPeers = true): boolean {
    if (this.#bans === undefined || !this.#bans.ban(source, now)) return false;
    if (tellPeers) this.#peers?.banned(source, reason);
    if (takeToken(this.#banLogBudget, this.#banLogRate, now)) this.#log.info({ ip: source, reason, seconds: this.#banSeconds }, 'source banned');
    else this.#unloggedBans++;
    return true;
  }
}
