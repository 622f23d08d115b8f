/**
 * registrar.maxBindings for a gateway with workers: the limit is the
 * gateway's, not each worker's. Every worker writes how many bindings it
 * holds into one hash of the shared state store (`regtotal:<gateway>`, a
 * field per worker id: `<count> <latest expiry ms>`), and a REGISTER that
 * adds bindings counts the other workers' fields with its own.
 *
 * A field whose latest binding has expired counts nothing (a worker that died
 * holding bindings stops counting once they would have expired); a worker
 * that replaces it under the same id writes over it. The gateway is named by
 * host and supervisor pid, so several gateways on one Redis count apart.
 */
import { KEY_FAMILY, stateKey, type StateStore } from '../../state/index.js';
import type { Logger } from '../../log/logger.js';

/** The other workers' share of registrar.maxBindings, and this worker's own. */
export interface BindingTotal {
  /** Bindings the other workers of this gateway hold now (0 when the store does not answer). */
  others(): Promise<number>;
  /** This worker now holds `count` bindings; the latest of them expires at `latestExpiry` (wall-clock ms). Resolves once written (never rejects). */
  held(count: number, latestExpiry: number): Promise<void>;
}

export interface GatewayBindingTotalOptions {
  store: StateStore;
  keyPrefix: string;
  /** Names this gateway (every worker of it gives the same). */
  gateway: string;
  /** This worker's id (1..N). */
  worker: number;
  /** TTL of the hash: the longest a binding may live, plus slack. */
  ttlSeconds: number;
  logger: Logger;
  now?: () => number;
}

/** A refreshed binding moves the latest expiry: it is written again only when it moved this much (or the count changed). */
const EXPIRY_SLACK_MS = 60_000;

export class GatewayBindingTotal implements BindingTotal {
  readonly #o: GatewayBindingTotalOptions;
  readonly #key: string;
  readonly #field: string;
  readonly #now: () => number;
  #written: { count: number; latestExpiry: number } | undefined;
  /** Writes go out one after another, so the last one written is the last one made. */
  #writing: Promise<void> = Promise.resolve();

  constructor(options: GatewayBindingTotalOptions) {
    this.#o = options;
    this.#key = stateKey(options.keyPrefix, KEY_FAMILY.registrationTotal, options.gateway);
    this.#field = String(options.worker);
    this.#now = options.now ?? Date.now;
  }

  async others(): Promise<number> {
    // This worker's own writes reach the store first: what the others see of it is current too.
    await this.#writing;
    let fields: Record<string, string>;
    try {
      fields = await this.#o.store.hgetall(this.#key);
    } catch (err) {
      this.#o.logger.warn({ err }, 'the other workers\' registrations could not be counted; this worker\'s own count is used');
      return 0;
    }
    const now = this.#now();
    let total = 0;
    for (const [field, value] of Object.entries(fields)) {
      if (field === this.#field) continue;
      const [count, latest] = value.split(' ').map(Number);
      if (count !== undefined && latest !== undefined && Number.isFinite(count) && count > 0 && latest > now) total += count;
    }
    return total;
  }

  held(count: number, latestExpiry: number): Promise<void> {
    const w = this.#written;
    if (w !== undefined && w.count === count && latestExpiry - w.latestExpiry < EXPIRY_SLACK_MS) return this.#writing;
    this.#written = { count, latestExpiry };
    const op = async (): Promise<void> => {
      if (count === 0) await this.#o.store.hdel(this.#key, this.#field);
      else await this.#o.store.hset(this.#key, { [this.#field]: `${count} ${latestExpiry}` }, this.#o.ttlSeconds);
    };
    this.#writing = this.#writing.then(op).then(
      () => undefined,
      (err: unknown) => {
        // Written again with the next change.
        this.#written = undefined;
        this.#o.logger.warn({ err }, 'this worker\'s registration count could not be written; the other workers count without it');
      },
    );
    return this.#writing;
  }
}
