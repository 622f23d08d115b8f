/**
 * Backend dispatcher: groups of targets from `backends`, domain routes from
 * `routes`, health from OPTIONS probes and from the outcome of relayed
 * requests. The proxy core asks it where to send and reports back; it never
 * sends SIP itself (the probe function is the core's).
 *
 *   target health:     up ──failuresToDown consecutive failures──► down
 *                      ▲                                            │
 *                      └────successesToUp consecutive answers──────┘
 *
 * Targets start up (optimistic), so a fresh SBC takes calls at once instead
 * of answering 503 for a probe interval; a host name is usable once resolved.
 *
 * Relayed requests are honest witnesses only (issue 13):
 *  - an answered 503 counts against the target;
 *  - silence (timeout, transport error) counts only when we were not in
 *    trouble ourselves while the request was out (`excuses`: shedding, a
 *    stalled loop, a backlog in our receive queue): our own lateness never
 *    marks a backend down;
 *  - relay failures alone never take down the last up target of a group;
 *    probes can;
 *  - panic mode (as Envoy's): when fewer than half of a group's targets are
 *    up, select() routes over all of them that have an address, since a
 *    view that bleak more likely means our view is wrong than that the
 *    backends died. Logged once per change.
 */
import { performance } from 'node:perf_hooks';
import type { Logger } from '../log/logger.js';
import { createSelectionState, orderTargets, type SelectionKey, type SelectionState } from './algorithms.js';
import { DEFAULT_GROUP, DomainRoutes } from './domain-routes.js';
import { describeOutcome, isAlive, recordHealth, type FailureReason, type ProbeOutcome } from './health.js';
import { ProbeScheduler } from './probe-scheduler.js';
import { systemResolver, type HostResolver } from './resolve.js';
import { PASSIVE_RECOVERY_SECONDS, retryAfterSeconds } from './retry-after.js';
import type { Algorithm, BackendGroupSpec, RouteSpec } from './spec.js';
import { createTarget, parseTargetUri, type LastProbe, type MutableTarget, type Target, type TargetTransport } from './target.js';
import { checkRoutingConfig, RoutingConfigError } from './validate.js';

/** Sends one probe request to `target` and reports what came back. Should not reject. */
export type ProbeFunction = (target: Target, method: string, timeoutMs: number) => Promise<ProbeOutcome>;

export interface DispatcherOptions {
  groups: Readonly<Record<string, BackendGroupSpec>>;
  routes: readonly RouteSpec[];
  logger: Logger;
  probe: ProbeFunction;
  /** Called after a target went up or down. */
  onChange?: (target: Target) => void;
  /** Host name → IP address. @default systemResolver (dns.lookup) */
  resolve?: HostResolver;
  /** Source of probe jitter, [0, 1). @default Math.random */
  random?: () => number;
  /**
   * True when our own trouble since `since` (performance.now() ms) could
   * explain a target's silence (admission control); such failures are not
   * counted. @default never
   */
  excuses?: (since: number) => boolean;
}

/** One target as GET /api/backends shows it. */
export interface TargetSnapshot {
  uri: string;
  transport: TargetTransport;
  address: string | null;
  port: number;
  up: boolean;
  reason: string | null;
  inFlight: number;
  weight: number;
  priority: number;
  lastProbe: LastProbe | null;
}

/** The body of GET /api/backends. */
export interface BackendsSnapshot {
  /** `panic`: fewer than half the targets are up, so all of them are tried. */
  groups: { name: string; algorithm: Algorithm; panic: boolean; targets: TargetSnapshot[] }[];
}

interface GroupState {
  name: string;
  spec: BackendGroupSpec;
  /** Configuration order, which the algorithms rely on. */
  targets: MutableTarget[];
  selection: SelectionState;
  panic: boolean;
}

/** A probe function that never settles must not stop a target's probing. */
const PROBE_GUARD_MS = 1000;
/** Probe timeout when `probe.timeoutMs` is not set: the interval, at most 2 s. */
const MAX_DEFAULT_PROBE_TIMEOUT_MS = 2000;

/** Below this share of up targets a group is in panic mode: every target with an address is tried. */
export const PANIC_THRESHOLD = 0.5;

const FAILURE_TEXT: Readonly<Record<FailureReason, string>> = {
  'timeout': 'request timed out',
  '503': 'request answered 503',
  'transport': 'transport error',
};

export class Dispatcher {
  /** Called after a target went up or down (metrics, logs). */
  onChange: ((target: Target) => void) | undefined;

  readonly #log: Logger;
  readonly #probe: ProbeFunction;
  readonly #resolve: HostResolver;
  readonly #scheduler: ProbeScheduler;
  readonly #excuses: ((since: number) => boolean) | undefined;
  #groups = new Map<string, GroupState>();
  #targets = new Map<string, MutableTarget>();
  #routes: DomainRoutes;
  /** Hold-down timers for targets taken down by failed requests in groups that do not probe. */
  readonly #recovery = new Map<string, NodeJS.Timeout>();
  /** Lookups in progress, keyed by target object. */
  readonly #resolving = new Map<MutableTarget, Promise<void>>();
  #started = false;
  #stopped = false;

  constructor(options: DispatcherOptions) {
    this.#log = options.logger.child({ component: 'routing' });
    this.#probe = options.probe;
    this.#resolve = options.resolve ?? systemResolver;
    this.#scheduler = new ProbeScheduler(options.random);
    this.#excuses = options.excuses;
    this.onChange = options.onChange;
    this.#routes = new DomainRoutes([]);
    this.#apply(options.groups, options.routes);
  }

  /** True when no backend group is configured: every request gets 503. */
  get isEmpty(): boolean {
    return this.#groups.size === 0;
  }

  hasGroup(name: string): boolean {
    return this.#groups.has(name);
  }

  /**
   * Resolve host names and start probing every target at its group's
   * interval. Probing starts at once; the promise settles when every name
   * has been looked up (an unresolvable one stays down, with the reason).
   */
  async start(): Promise<void> {
    if (this.#started || this.#stopped) return;
    this.#started = true;
    for (const group of this.#groups.values()) this.#scheduleGroup(group);
    await this.#resolveNames([...this.#targets.values()]);
  }

  /** Idempotent: stops probing and clears every timer. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#scheduler.close();
    for (const timer of this.#recovery.values()) clearTimeout(timer);
    this.#recovery.clear();
    this.#resolving.clear();
  }

  /** Same as stop(), for owners that close their children. */
  close(): void {
    this.stop();
  }

  /**
   * The backend group for a Request-URI host: the first route whose domain
   * matches (exact, or `*.suffix`), else group "default" when it exists.
   */
  groupFor(requestUriHost: string): string | undefined {
    return this.#routes.match(requestUriHost) ?? (this.#groups.has(DEFAULT_GROUP) ? DEFAULT_GROUP : undefined);
  }

  /**
   * Targets to try, in order, for one initial request: every up target of
   * the group once, first choice first. Empty when none is up or the group
   * is unknown; the caller then answers 503 with retryAfterSeconds(group).
   */
  select(group: string, key: SelectionKey): Target[] {
    const g = this.#groups.get(group);
    if (g === undefined) return [];
    if (!g.panic) return orderTargets(g.spec.algorithm, g.targets, key, g.selection);
    return orderTargets(g.spec.algorithm, g.targets, key, g.selection, hasAddress);
  }

  /** The group routes over all its targets because most look down. */
  isPanicking(group: string): boolean {
    return this.#groups.get(group)?.panic === true;
  }

  /** The target answered a relayed request (any response but 503). */
  reportSuccess(target: Target): void {
    const t = this.#own(target);
    if (t !== undefined) this.#record(t, true, 'request answered');
  }

  /**
   * A relayed request failed; counts like a failed probe toward
   * failuresToDown, unless it is silence (timeout, transport error) that our
   * own trouble since `since` (when the request went out, performance.now()
   * ms) could explain. Never takes the group's last up target down.
   */
  reportFailure(target: Target, reason: FailureReason, since: number = performance.now()): void {
    const t = this.#own(target);
    if (t === undefined) return;
    if (reason !== '503' && this.#excuses?.(since) === true) {
      this.#log.debug({ group: t.group, target: t.uri, reason }, 'relay failure not counted: we were overloaded or late ourselves');
      return;
    }
    this.#record(t, false, FAILURE_TEXT[reason], false);
  }

  /** A request was relayed to `target` and awaits its final response. */
  acquire(target: Target): void {
    const t = this.#own(target);
    if (t !== undefined) t.inFlight++;
  }

  /** The request counted by acquire() finished, whatever the outcome. */
  release(target: Target): void {
    const t = this.#own(target);
    if (t !== undefined && t.inFlight > 0) t.inFlight--;
  }

  /** Retry-After for the 503 sent when no target of `group` is up. */
  retryAfterSeconds(group: string): number {
    return retryAfterSeconds(this.#groups.get(group)?.spec.probe);
  }

  /** JSON-serializable view for GET /api/backends. */
  snapshot(): BackendsSnapshot {
    return {
      groups: [...this.#groups.values()].map((g) => ({
        name: g.name,
        algorithm: g.spec.algorithm,
        panic: g.panic,
        targets: g.targets.map((t) => ({
          uri: t.uri,
          transport: t.transport,
          address: t.address ?? null,
          port: t.port,
          up: t.up,
          reason: t.reason ?? null,
          inFlight: t.inFlight,
          weight: t.weight,
          priority: t.priority,
          lastProbe: t.lastProbe === undefined ? null : { ...t.lastProbe },
        })),
      })),
    };
  }

  /**
   * Apply a new `backends`/`routes` configuration. Targets whose group and
   * uri are unchanged keep their health, counters and in-flight count;
   * names are looked up again. Throws RoutingConfigError (nothing changed)
   * when the configuration is invalid.
   */
  async reload(groups: Readonly<Record<string, BackendGroupSpec>>, routes: readonly RouteSpec[]): Promise<void> {
    if (this.#stopped) return;
    const before = new Set(this.#targets.keys());
    this.#apply(groups, routes);
    for (const id of before) {
      if (this.#targets.has(id)) continue;
      this.#scheduler.remove(id);
      clearTimeout(this.#recovery.get(id));
      this.#recovery.delete(id);
    }
    this.#log.info({ groups: this.#groups.size, targets: this.#targets.size }, 'backends reloaded');
    if (!this.#started) return;
    for (const group of this.#groups.values()) this.#scheduleGroup(group);
    await this.#resolveNames([...this.#targets.values()]);
  }

  #apply(groups: Readonly<Record<string, BackendGroupSpec>>, routes: readonly RouteSpec[]): void {
    const problems = checkRoutingConfig(groups, routes);
    if (problems.length > 0) throw new RoutingConfigError(problems);
    const nextGroups = new Map<string, GroupState>();
    const nextTargets = new Map<string, MutableTarget>();
    for (const [name, spec] of Object.entries(groups)) {
      const targets = spec.targets.map((ts) => {
        const parsed = parseTargetUri(ts.uri);
        if (!parsed.ok) throw new RoutingConfigError([{ key: `backends.${name}`, message: parsed.error }]);
        const kept = this.#targets.get(`${name}/${ts.uri}`);
        if (kept !== undefined) {
          kept.weight = ts.weight;
          kept.priority = ts.priority;
          return kept;
        }
        return createTarget(name, ts, parsed.value);
      });
      for (const t of targets) nextTargets.set(t.id, t);
      nextGroups.set(name, { name, spec, targets, selection: createSelectionState(), panic: false });
    }
    this.#groups = nextGroups;
    this.#targets = nextTargets;
    this.#routes = new DomainRoutes(routes);
    for (const g of nextGroups.values()) this.#updatePanic(g);
  }

  /** Panic mode follows the share of up targets; a change is logged once. */
  #updatePanic(g: GroupState): void {
    const up = g.targets.reduce((n, t) => n + (t.up ? 1 : 0), 0);
    const panic = g.targets.length > 0 && up < g.targets.length * PANIC_THRESHOLD && g.targets.some(hasAddress);
    if (panic === g.panic) return;
    g.panic = panic;
    if (panic) this.#log.warn({ group: g.name, up, targets: g.targets.length }, 'backend group in panic mode: most targets look down, routing over all of them');
    else this.#log.info({ group: g.name, up, targets: g.targets.length }, 'backend group out of panic mode');
  }

  /** The dispatcher's live object for a target handed out earlier; undefined once it was removed. */
  #own(target: Target): MutableTarget | undefined {
    return this.#targets.get(target.id);
  }

  #isCurrent(t: MutableTarget): boolean {
    return !this.#stopped && this.#targets.get(t.id) === t;
  }

  #scheduleGroup(group: GroupState): void {
    const intervalMs = group.spec.probe.intervalSeconds * 1000;
    for (const t of group.targets) this.#scheduler.add(t.id, intervalMs, () => this.#probeOnce(t));
  }

  async #probeOnce(t: MutableTarget): Promise<void> {
    if (!this.#isCurrent(t)) return;
    if (t.address === undefined) {
      // A name that did not resolve is retried at the probe interval: DNS may come back.
      await this.#resolveName(t);
      if (t.address === undefined || !this.#isCurrent(t)) return;
    }
    const probe = this.#groups.get(t.group)?.spec.probe;
    if (probe === undefined) return;
    const timeoutMs = probe.timeoutMs ?? Math.min(MAX_DEFAULT_PROBE_TIMEOUT_MS, probe.intervalSeconds * 1000);
    const sentAt = performance.now();
    const outcome = await this.#guardedProbe(t, probe.method, timeoutMs);
    if (!this.#isCurrent(t)) return;
    const lastProbe: LastProbe = { at: new Date().toISOString(), outcome: describeOutcome(outcome) };
    if (outcome.kind === 'response') lastProbe.rttMs = Math.round((performance.now() - sentAt) * 10) / 10;
    t.lastProbe = lastProbe;
    this.#log.debug({ target: t.uri, outcome: lastProbe.outcome }, 'probe');
    // A probe that heard nothing while we were late ourselves says nothing about the target.
    if (outcome.kind !== 'response' && this.#excuses?.(sentAt) === true) return;
    this.#record(t, isAlive(outcome, probe.aliveCodes), `probe ${lastProbe.outcome}`);
  }

  async #guardedProbe(t: MutableTarget, method: string, timeoutMs: number): Promise<ProbeOutcome> {
    let guard: NodeJS.Timeout | undefined;
    const expired = new Promise<ProbeOutcome>((resolve) => {
      guard = setTimeout(() => resolve({ kind: 'timeout' }), timeoutMs + PROBE_GUARD_MS);
      guard.unref();
    });
    try {
      return await Promise.race([this.#probe(t, method, timeoutMs), expired]);
    } catch (err) {
      return { kind: 'error', message: err instanceof Error ? err.message : String(err) };
    } finally {
      clearTimeout(guard);
    }
  }

  /** `fromProbe` false: a relayed request's outcome, which may not take down the group's last up target. */
  #record(t: MutableTarget, alive: boolean, what: string, fromProbe = true): void {
    const group = this.#groups.get(t.group);
    if (group === undefined) return;
    const last = !fromProbe && !alive && t.up && !group.targets.some((o) => o !== t && o.up);
    const change = recordHealth(t, alive, last ? { ...group.spec.probe, failuresToDown: Infinity } : group.spec.probe, what);
    if (change === undefined) return;
    if (change === 'down') {
      this.#log.warn({ group: t.group, target: t.uri, reason: t.reason }, 'backend target down');
      if (group.spec.probe.intervalSeconds <= 0) this.#holdDown(t);
    } else {
      this.#log.info({ group: t.group, target: t.uri }, 'backend target up');
    }
    this.#notify(t);
  }

  /** Without probes nothing would ever bring the target back: give it another chance later. */
  #holdDown(t: MutableTarget): void {
    clearTimeout(this.#recovery.get(t.id));
    const timer = setTimeout(() => {
      this.#recovery.delete(t.id);
      if (!this.#isCurrent(t) || t.up || t.address === undefined) return;
      t.up = true;
      t.reason = undefined;
      t.consecutiveFailures = 0;
      this.#log.info({ group: t.group, target: t.uri }, 'backend target back after hold-down');
      this.#notify(t);
    }, PASSIVE_RECOVERY_SECONDS * 1000);
    timer.unref();
    this.#recovery.set(t.id, timer);
  }

  #notify(t: MutableTarget): void {
    const g = this.#groups.get(t.group);
    if (g !== undefined) this.#updatePanic(g);
    try {
      this.onChange?.(t);
    } catch (err) {
      this.#log.error({ err, target: t.uri }, 'onChange hook threw');
    }
  }

  async #resolveNames(targets: MutableTarget[]): Promise<void> {
    await Promise.all(targets.filter((t) => t.address !== t.host).map((t) => this.#resolveName(t)));
  }

  /** One lookup per target at a time: start(), reload() and probe ticks may all ask. */
  #resolveName(t: MutableTarget): Promise<void> {
    const pending = this.#resolving.get(t);
    if (pending !== undefined) return pending;
    const lookup = this.#lookup(t).finally(() => this.#resolving.delete(t));
    this.#resolving.set(t, lookup);
    return lookup;
  }

  async #lookup(t: MutableTarget): Promise<void> {
    let address: string | undefined;
    let error: string | undefined;
    try {
      address = await this.#resolve(t.host);
    } catch (err) {
      error = err instanceof Error ? ((err as NodeJS.ErrnoException).code ?? err.message) : String(err);
    }
    if (!this.#isCurrent(t)) return;
    if (address !== undefined) {
      if (address === t.address) return;
      const wasUnresolved = t.address === undefined;
      t.address = address;
      this.#log.info({ group: t.group, target: t.uri, address }, 'backend host resolved');
      if (wasUnresolved && !t.up) {
        t.up = true;
        t.reason = undefined;
        t.consecutiveFailures = 0;
        t.consecutiveSuccesses = 0;
        this.#notify(t);
      }
      return;
    }
    const reason = `cannot resolve host "${t.host}": ${error ?? 'no address'}`;
    const wasUp = t.up;
    t.address = undefined;
    t.up = false;
    t.reason = reason;
    this.#log.warn({ group: t.group, target: t.uri, reason }, 'backend host unresolvable; target stays down');
    if (wasUp) this.#notify(t);
  }
}

const hasAddress = (t: Target): boolean => t.address !== undefined;
