/**
 * security.maxCallsPerUser over every worker and node on one state store: a
 * caller's calls count wherever they were admitted.
 *
 * Each node keeps its own slots (CallLimits, decided without waiting) and a
 * copy of the others', kept up to date on the `<prefix>calls` channel:
 *
 *   + <origin> <callId> <user>   a call was admitted on <origin>
 *   - <origin> <callId>          it ended (sent by whoever saw the end)
 *   hb <origin>                  <origin> is alive (every heartbeatMs)
 *   hello <origin>               <origin> started: the others send their slots as `+` lines
 *
 * A message may carry several lines: `+` and `-` lines are published in
 * batches of what one turn of the event loop produced (a batch leaves at
 * the end of that turn, not later: an admission must be known elsewhere
 * before the caller's next INVITE can get there). The copy of a node that went silent
 * (killed, no heartbeat for silenceMs) is dropped, so its calls stop
 * counting; two nodes admitting the same caller at the same instant may
 * both let a call through (the limit may be passed by the number of nodes
 * minus one, never more).
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from '../log/logger.js';
import { BatchedPublisher } from '../state/batched-publisher.js';
import type { StateStore } from '../state/store.js';
import type { CallLimitPeers, CallLimits } from './call-limits.js';

/** Safe defaults, in one place. */
export const SHARED_CALL_LIMITS_DEFAULTS = {
  heartbeatMs: 5000,
  silenceMs: 15_000,
  /** As CallLimits: a slot whose end was never heard is freed after this. */
  maxCallSeconds: 43_200,
  /** Other nodes' calls held at once. */
  maxTracked: 200_000,
  /** `+` lines per message when answering a hello. */
  linesPerMessage: 500,
} as const;

export interface SharedCallLimitsOptions {
  store: StateStore;
  /** state.redis.keyPrefix. */
  prefix: string;
  limits: CallLimits;
  logger: Logger;
  heartbeatMs?: number;
  silenceMs?: number;
  /** Monotonic ms. @default performance.now */
  now?: () => number;
}

interface RemoteSlot {
  user: string;
  origin: string;
  expiresAt: number;
}

export class SharedCallLimits implements CallLimitPeers {
  readonly #o: SharedCallLimitsOptions;
  readonly #channel: string;
  readonly #origin = randomBytes(6).toString('hex');
  readonly #now: () => number;
  readonly #remote = new Map<string, RemoteSlot>();
  readonly #perUser = new Map<string, number>();
  /** Origin → when it was last heard. */
  readonly #heard = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;
  #unsubscribe: (() => Promise<void>) | undefined;
  #closed = false;
  readonly #slots: BatchedPublisher;

  constructor(options: SharedCallLimitsOptions) {
    this.#o = options;
    this.#channel = `${options.prefix}calls`;
    this.#now = options.now ?? (() => performance.now());
    this.#slots = new BatchedPublisher({ store: options.store, channel: this.#channel, logger: options.logger, intervalMs: 0 });
  }

  /** Other nodes' calls this node knows of (diagnostics, tests). */
  get remoteCalls(): number {
    return this.#remote.size;
  }

  async start(): Promise<void> {
    this.#unsubscribe = await this.#o.store.subscribe(this.#channel, (message) => this.#hear(message));
    this.#o.limits.sharedWith(this);
    this.#publish(`hello ${this.#origin}`);
    this.#timer = setInterval(() => this.#tick(), this.#o.heartbeatMs ?? SHARED_CALL_LIMITS_DEFAULTS.heartbeatMs);
    this.#timer.unref();
  }

  count(user: string): number {
    return this.#perUser.get(user) ?? 0;
  }

  admitted(callId: string, user: string): void {
    this.#slots.add(`+ ${this.#origin} ${callId} ${user}`);
  }

  ended(callId: string): void {
    this.#slots.add(`- ${this.#origin} ${callId}`);
  }

  endedElsewhere(callId: string): void {
    if (!this.#drop(callId)) return;
    this.#slots.add(`- ${this.#origin} ${callId}`);
  }

  /** Idempotent: stops sharing; the limits go on counting this node alone. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#slots.close();
    this.#closed = true;
    clearInterval(this.#timer);
    this.#o.limits.sharedWith(undefined);
    this.#remote.clear();
    this.#perUser.clear();
    await this.#unsubscribe?.().catch(() => undefined);
  }

  #publish(message: string): void {
    if (this.#closed) return;
    this.#o.store.publish(this.#channel, message).catch((err: unknown) => this.#o.logger.debug({ err }, 'call slot not shared'));
  }

  #hear(message: string): void {
    const now = this.#now();
    for (const line of message.split('\n')) {
      const [kind, origin, callId, user] = line.split(' ');
      if (origin === undefined || origin === this.#origin) continue;
      this.#heard.set(origin, now);
      switch (kind) {
        case '+':
          if (callId !== undefined && user !== undefined) this.#add(callId, user, origin, now);
          break;
        case '-':
          // Ended where it was not admitted: if it is ours, our slot goes (and the others hear of it).
          if (callId !== undefined && !this.#drop(callId)) this.#o.limits.ended(callId);
          break;
        case 'hello':
          this.#sendSlots();
          break;
        default:
          break;
      }
    }
  }

  #add(callId: string, user: string, origin: string, now: number): void {
    if (this.#remote.has(callId) || this.#remote.size >= SHARED_CALL_LIMITS_DEFAULTS.maxTracked) return;
    this.#remote.set(callId, { user, origin, expiresAt: now + SHARED_CALL_LIMITS_DEFAULTS.maxCallSeconds * 1000 });
    this.#perUser.set(user, this.count(user) + 1);
  }

  #drop(callId: string): boolean {
    const slot = this.#remote.get(callId);
    if (slot === undefined) return false;
    this.#remote.delete(callId);
    const n = this.count(slot.user) - 1;
    if (n > 0) this.#perUser.set(slot.user, n);
    else this.#perUser.delete(slot.user);
    return true;
  }

  #sendSlots(): void {
    let lines: string[] = [];
    for (const [callId, user] of this.#o.limits.slots()) {
      lines.push(`+ ${this.#origin} ${callId} ${user}`);
      if (lines.length >= SHARED_CALL_LIMITS_DEFAULTS.linesPerMessage) {
        this.#publish(lines.join('\n'));
        lines = [];
      }
    }
    if (lines.length > 0) this.#publish(lines.join('\n'));
  }

  /** Heartbeat; forget nodes gone silent and slots past their lifetime. */
  #tick(): void {
    this.#publish(`hb ${this.#origin}`);
    const now = this.#now();
    const silence = this.#o.silenceMs ?? SHARED_CALL_LIMITS_DEFAULTS.silenceMs;
    const gone = new Set<string>();
    for (const [origin, at] of this.#heard) {
      if (now - at <= silence) continue;
      gone.add(origin);
      this.#heard.delete(origin);
    }
    if (gone.size === 0 && this.#remote.size === 0) return;
    for (const [callId, slot] of this.#remote) {
      if (gone.has(slot.origin) || slot.expiresAt <= now) this.#drop(callId);
    }
    if (gone.size > 0) this.#o.logger.info({ nodes: gone.size }, 'call slots of silent workers or nodes no longer count');
  }
}
