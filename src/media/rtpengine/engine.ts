/**
 * One engine of the pool: its ng client, weight, health and session count.
 *
 *        failure × failuresToDown
 *   up ──────────────────────────► down
 *    ▲                              │
 *    └──────────────────────────────┘
 *        success × successesToUp
 *
 * Any reply counts as a success (the engine is alive); a timeout counts as a
 * failure, whether it was a ping or a command. Engines start up, so calls work
 * before the first ping returns; a dead one is found by the first pings or
 * the first offer that times out.
 */
import type { NgClient, NgClientStats } from './ng-client.js';

export type EngineHealth = 'up' | 'down';

export interface HealthThresholds {
  failuresToDown: number;
  successesToUp: number;
}

/** What GET /api/engines shows for one engine. */
export interface EngineSnapshot {
  url: string;
  weight: number;
  health: EngineHealth;
  /** Media sessions this node created on the engine and has not deleted. */
  sessions: number;
  consecutiveFailures: number;
  /** ISO time of the last ping reply, if any. */
  lastPongAt: string | undefined;
  /** Round trip of the last successful ping, in milliseconds. */
  lastPingMs: number | undefined;
  requests: number;
  errors: number;
  timeouts: number;
  latencyMs: NgClientStats['latencyMs'];
}

export class Engine {
  readonly url: string;
  readonly weight: number;
  readonly client: NgClient;
  #health: EngineHealth = 'up';
  #failures = 0;
  #successes = 0;
  #sessions = 0;
  #lastPongAt: number | undefined;
  #lastPingMs: number | undefined;
  readonly #thresholds: HealthThresholds;

  constructor(client: NgClient, weight: number, thresholds: HealthThresholds) {
    this.url = client.url;
    this.weight = weight;
    this.client = client;
    this.#thresholds = thresholds;
  }

  get health(): EngineHealth {
    return this.#health;
  }

  get sessions(): number {
    return this.#sessions;
  }

  /** Count a reply; returns true when this brings the engine back up. */
  recordSuccess(): boolean {
    this.#failures = 0;
    this.#successes++;
    if (this.#health === 'down' && this.#successes >= this.#thresholds.successesToUp) {
      this.#health = 'up';
      return true;
    }
    return false;
  }

  /** Count a timeout; returns true when this takes the engine down. */
  recordFailure(): boolean {
    this.#successes = 0;
    this.#failures++;
    if (this.#health === 'up' && this.#failures >= this.#thresholds.failuresToDown) {
      this.#health = 'down';
      return true;
    }
    return false;
  }

  recordPong(rttMs: number): void {
    this.#lastPongAt = Date.now();
    this.#lastPingMs = rttMs;
  }

  addSession(): void {
    this.#sessions++;
  }

  /** Sessions created on another node may be deleted here: never below zero. */
  removeSession(): void {
    if (this.#sessions > 0) this.#sessions--;
  }

  snapshot(): EngineSnapshot {
    const stats = this.client.stats();
    return {
      url: this.url,
      weight: this.weight,
      health: this.#health,
      sessions: this.#sessions,
      consecutiveFailures: this.#failures,
      lastPongAt: this.#lastPongAt === undefined ? undefined : new Date(this.#lastPongAt).toISOString(),
      lastPingMs: this.#lastPingMs,
      requests: stats.requests,
      errors: stats.errors,
      timeouts: stats.timeouts,
      latencyMs: stats.latencyMs,
    };
  }
}
