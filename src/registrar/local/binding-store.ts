/**
 * Local registrar bindings in the state store: one hash per AOR
 * (`reg:<aor>`, see src/state/keys.ts), one field per binding. The hash's
 * TTL is reset by every write to the longest lifetime a binding may have, so
 * an AOR nobody refreshes disappears by itself; a binding past its expiry is
 * ignored on read and pruned on the next write. Memory store for one node,
 * Redis when several nodes share the registrations.
 */
import { KEY_FAMILY, stateKey, type StateStore } from '../../state/index.js';

/** One registered contact of an AOR. */
export interface Binding {
  /** Identity within the AOR: instance + reg-id, else the Contact URI (see register-request.ts). */
  key: string;
  /** The Contact URI as registered; the Request-URI of requests for it. */
  uri: string;
  /** Wall-clock ms. */
  expiresAt: number;
  q?: number;
  instance?: string;
  regId?: number;
  /** Token of the flow the REGISTER came on (RFC 5626 §5.2): requests for this contact go back on it. */
  flowToken: string;
  flowId: string;
  transport: string;
  /** The node holding that flow (several nodes on one Redis). */
  node: string;
  /** Where other nodes send requests for this contact: that node's inside SIP URI. */
  nodeUri?: string;
  callId: string;
  cseq: number;
  /** Wall-clock ms of the REGISTER that wrote it. */
  updatedAt: number;
}

export interface BindingStoreOptions {
  store: StateStore;
  keyPrefix: string;
  /** TTL of an AOR's hash: the longest a binding may live, plus slack. */
  ttlSeconds: number;
  now?: () => number;
}

export class BindingStore {
  readonly #o: BindingStoreOptions;
  readonly #now: () => number;
  /** Per-AOR queue: REGISTERs for one AOR are applied one after another on this node. */
  readonly #queues = new Map<string, Promise<unknown>>();

  constructor(options: BindingStoreOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
  }

  /** Live bindings of `aor`, most preferred first (higher q, then the most recent). */
  async read(aor: string): Promise<Binding[]> {
    return sortBindings((await this.#readAll(aor)).live);
  }

  /**
   * Run `update` on the AOR's live bindings with no other update of that AOR
   * in between (on this node) and store what it returns: the new live set.
   * Fields that expired or were dropped are deleted; an empty set deletes the AOR.
   */
  async update<T>(aor: string, update: (live: Binding[]) => Promise<{ next: Binding[]; result: T }> | { next: Binding[]; result: T }): Promise<T> {
    const previous = this.#queues.get(aor) ?? Promise.resolve();
    const run = previous.catch(() => undefined).then(async () => {
      const { live, stale } = await this.#readAll(aor);
      const { next, result } = await update(sortBindings(live));
      await this.#write(aor, live, stale, next);
      return result;
    });
    this.#queues.set(aor, run);
    try {
      return await run;
    } finally {
      if (this.#queues.get(aor) === run) this.#queues.delete(aor);
    }
  }

  async #readAll(aor: string): Promise<{ live: Binding[]; stale: string[] }> {
    const fields = await this.#o.store.hgetall(this.#key(aor));
    const now = this.#now();
    const live: Binding[] = [];
    const stale: string[] = [];
    for (const [field, value] of Object.entries(fields)) {
      const b = decodeBinding(value);
      if (b === undefined || b.expiresAt <= now || b.key !== field) stale.push(field);
      else live.push(b);
    }
    return { live, stale };
  }

  async #write(aor: string, before: Binding[], stale: string[], next: Binding[]): Promise<void> {
    const key = this.#key(aor);
    const keep = new Set(next.map((b) => b.key));
    const drop = [...stale, ...before.filter((b) => !keep.has(b.key)).map((b) => b.key)];
    if (next.length === 0) {
      if (before.length > 0 || stale.length > 0) await this.#o.store.delete(key);
      return;
    }
    const fields: Record<string, string> = {};
    for (const b of next) fields[b.key] = JSON.stringify(b);
    await this.#o.store.hset(key, fields, this.#o.ttlSeconds);
    if (drop.length > 0) await this.#o.store.hdel(key, ...drop);
  }

  #key(aor: string): string {
    return stateKey(this.#o.keyPrefix, KEY_FAMILY.registration, aor);
  }
}

/** Higher q first (RFC 3261 gives absent q no value; it sorts as 0.5), then the newest. */
export function sortBindings(list: Binding[]): Binding[] {
  return list.sort((a, b) => (b.q ?? 0.5) - (a.q ?? 0.5) || b.updatedAt - a.updatedAt);
}

/** A stored binding, checked field by field: the store may hold what another version wrote. */
function decodeBinding(text: string): Binding | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const b = v as Record<string, unknown>;
  const str = (k: string): boolean => typeof b[k] === 'string';
  const num = (k: string): boolean => typeof b[k] === 'number' && Number.isFinite(b[k]);
  if (!str('key') || !str('uri') || !str('flowToken') || !str('flowId') || !str('transport') || !str('node') || !str('callId')) return undefined;
  if (!num('expiresAt') || !num('cseq') || !num('updatedAt')) return undefined;
  if (b.q !== undefined && !num('q')) return undefined;
  if (b.regId !== undefined && !num('regId')) return undefined;
  if (b.instance !== undefined && !str('instance')) return undefined;
  if (b.nodeUri !== undefined && !str('nodeUri')) return undefined;
  return b as unknown as Binding;
}
