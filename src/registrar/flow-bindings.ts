/**
 * Which AORs are registered through which flow. Registrations live in the
 * backend (it stores our Path); this is only our view of them, learnt from the
 * registrar's 2xx to REGISTERs we relayed, so that operators can see who is
 * reachable on which connection and NAT keepalives know whom to ping.
 * Bounded per flow and in total; a closed flow loses its bindings at once.
 */

export interface Binding {
  aor: string;
  contact: string;
  /** Wall-clock ms. */
  expiresAt: number;
}

export interface FlowBindingsOptions {
  maxPerFlow: number;
  maxFlows: number;
  now?: () => number;
}

export interface FlowBindingsView {
  flowId: string;
  bindings: Array<{ aor: string; contact: string; expiresInSeconds: number }>;
}

export class FlowBindings {
  readonly #byFlow = new Map<string, Map<string, Binding>>();
  readonly #maxPerFlow: number;
  readonly #maxFlows: number;
  readonly #now: () => number;

  constructor(options: FlowBindingsOptions) {
    this.#maxPerFlow = options.maxPerFlow;
    this.#maxFlows = options.maxFlows;
    this.#now = options.now ?? Date.now;
  }

  /** Flows with at least one live binding. */
  get flowCount(): number {
    return this.#byFlow.size;
  }

  /**
   * Record the registrar's answer for one AOR on a flow: the bindings it
   * listed for contacts of this flow replace what we had; none left means
   * the AOR is gone from this flow (unregister, RFC 3261 §10.3 step 8).
   */
  update(flowId: string, aor: string, contacts: Array<{ contact: string; expiresSeconds: number }>): void {
    let map = this.#byFlow.get(flowId);
    const live = contacts.filter((c) => c.expiresSeconds > 0);
    if (live.length === 0) {
      if (map === undefined) return;
      map.delete(aor);
      if (map.size === 0) this.#byFlow.delete(flowId);
      return;
    }
    if (map === undefined) {
      if (this.#byFlow.size >= this.#maxFlows) this.#evictOldestFlow();
      map = new Map();
      this.#byFlow.set(flowId, map);
    }
    if (!map.has(aor) && map.size >= this.#maxPerFlow) {
      // A storm of AORs from one flow keeps the most recent ones only.
      const oldest = map.keys().next().value;
      if (oldest !== undefined) map.delete(oldest);
    }
    const longest = live.reduce((a, b) => (b.expiresSeconds > a.expiresSeconds ? b : a));
    map.delete(aor); // re-insert: Map order is recency
    map.set(aor, { aor, contact: longest.contact, expiresAt: this.#now() + longest.expiresSeconds * 1000 });
  }

  /** A flow closed: everything registered through it is unreachable through us. */
  dropFlow(flowId: string): void {
    this.#byFlow.delete(flowId);
  }

  has(flowId: string): boolean {
    return this.#live(flowId) !== undefined;
  }

  bindingsOf(flowId: string): Binding[] {
    const map = this.#live(flowId);
    return map === undefined ? [] : [...map.values()];
  }

  /** Flow ids with live bindings (expired ones are pruned on the way). */
  flowIds(): string[] {
    const out: string[] = [];
    for (const id of [...this.#byFlow.keys()]) if (this.#live(id) !== undefined) out.push(id);
    return out;
  }

  view(flowId: string): FlowBindingsView {
    const now = this.#now();
    return {
      flowId,
      bindings: this.bindingsOf(flowId).map((b) => ({ aor: b.aor, contact: b.contact, expiresInSeconds: Math.max(0, Math.round((b.expiresAt - now) / 1000)) })),
    };
  }

  clear(): void {
    this.#byFlow.clear();
  }

  #live(flowId: string): Map<string, Binding> | undefined {
    const map = this.#byFlow.get(flowId);
    if (map === undefined) return undefined;
    const now = this.#now();
    for (const [aor, b] of map) if (b.expiresAt <= now) map.delete(aor);
    if (map.size === 0) {
      this.#byFlow.delete(flowId);
      return undefined;
    }
    return map;
  }

  #evictOldestFlow(): void {
    const oldest = this.#byFlow.keys().next().value;
    if (oldest !== undefined) this.#byFlow.delete(oldest);
  }
}
