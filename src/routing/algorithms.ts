/**
 * Selection algorithms. Each turns a group's targets (in configuration order)
 * into an ordered failover list of the targets that are up: the proxy tries
 * the first and moves down the list on timeout, 503 or transport error.
 *
 * The functions are pure apart from the SelectionState they are handed, which
 * carries the rotation cursor and the smooth-weighted counters of one group.
 */
import { fnv1a32, uriHashKey } from './hash.js';
import type { Algorithm } from './spec.js';
import type { Target } from './target.js';

/** The request fields the hash algorithms look at. */
export interface SelectionKey {
  callId?: string;
  /** From URI or whole From value; tags are ignored. */
  fromUri?: string;
  /** To URI or whole To value; tags are ignored. */
  toUri?: string;
  requestUri?: string;
}

/** Per-group memory of the stateful algorithms. Bounded by the configured targets. */
export interface SelectionState {
  /** Round-robin position; also the fallback when a hash key is missing. */
  cursor: number;
  /** Smooth weighted round-robin "current weight" per target id. */
  current: Map<string, number>;
}

export function createSelectionState(): SelectionState {
  return { cursor: 0, current: new Map() };
}

type Candidate = Pick<Target, 'id' | 'up' | 'weight' | 'priority'>;

const isUp = (t: Candidate): boolean => t.up;

/**
 * Ordered failover list for `algorithm`; empty when no target is usable.
 * `usable` says which targets may be chosen: the up ones, or in panic mode
 * (most of the group looks down) every one that has an address.
 */
export function orderTargets<T extends Candidate>(
  algorithm: Algorithm,
  targets: readonly T[],
  key: SelectionKey,
  state: SelectionState,
  usable: (t: T) => boolean = isUp,
): T[] {
  switch (algorithm) {
    case 'round-robin': return roundRobinOrder(targets.filter(usable), state);
    case 'weighted': return weightedOrder(targets.filter(usable), state);
    case 'priority': return priorityOrder(targets.filter(usable));
    case 'hash-callid': return hashOrder(targets, key.callId, state, usable);
    case 'hash-from': return hashOrder(targets, key.fromUri === undefined ? undefined : uriHashKey(key.fromUri), state, usable);
    case 'hash-to': return hashOrder(targets, key.toUri === undefined ? undefined : uriHashKey(key.toUri), state, usable);
    case 'hash-ruri': return hashOrder(targets, key.requestUri === undefined ? undefined : uriHashKey(key.requestUri), state, usable);
  }
}

/** Each call starts one further along; the rest follow in configuration order. */
export function roundRobinOrder<T>(up: readonly T[], state: SelectionState): T[] {
  const n = up.length;
  if (n === 0) return [];
  const start = state.cursor % n;
  state.cursor = (state.cursor + 1) % 0x7fffffff;
  return rotate(up, start);
}

/**
 * Smooth weighted round-robin (the nginx algorithm): every pick adds each
 * weight to its counter, takes the largest counter and subtracts the total
 * from it. Over any window of sum(weights) picks each target is chosen exactly
 * `weight` times, interleaved rather than in bursts. The failover list after
 * the pick is ordered by counter, i.e. by who would be picked next.
 * Weight 0 targets are never picked first; they come last, as a reserve.
 */
export function weightedOrder<T extends Candidate>(up: readonly T[], state: SelectionState): T[] {
  if (up.length === 0) return [];
  let total = 0;
  let best: T | undefined;
  let bestCurrent = -Infinity;
  for (const t of up) {
    if (t.weight <= 0) continue;
    const current = (state.current.get(t.id) ?? 0) + t.weight;
    state.current.set(t.id, current);
    total += t.weight;
    if (current > bestCurrent) {
      best = t;
      bestCurrent = current;
    }
  }
  if (best === undefined) return [...up]; // every weight is 0: configuration order
  state.current.set(best.id, bestCurrent - total);
  const rest = up.filter((t) => t !== best);
  // Array.prototype.sort is stable, so ties keep configuration order.
  rest.sort((a, b) => counterOf(b, state) - counterOf(a, state));
  return [best, ...rest];
}

function counterOf(t: Candidate, state: SelectionState): number {
  return t.weight <= 0 ? -Infinity : state.current.get(t.id) ?? 0;
}

/** Lowest `priority` first; equal priorities by higher weight, then configuration order. */
export function priorityOrder<T extends Candidate>(up: readonly T[]): T[] {
  return [...up].sort((a, b) => a.priority - b.priority || b.weight - a.weight);
}

/**
 * The key's hash picks a position on the ring of all configured targets; the
 * list is the up targets from there on, in ring order. A key therefore keeps
 * its target while that target is up, whatever happens to the others, and
 * its failover order never changes. Without a key (no Call-ID, no From, …)
 * the group falls back to round-robin.
 */
export function hashOrder<T extends Candidate>(
  targets: readonly T[],
  key: string | undefined,
  state: SelectionState,
  usable: (t: T) => boolean = isUp,
): T[] {
  if (key === undefined || key === '') return roundRobinOrder(targets.filter(usable), state);
  const n = targets.length;
  const out: T[] = [];
  if (n === 0) return out;
  const start = fnv1a32(key) % n;
  for (let i = 0; i < n; i++) {
    const t = targets[(start + i) % n];
    if (t !== undefined && usable(t)) out.push(t);
  }
  return out;
}

function rotate<T>(items: readonly T[], start: number): T[] {
  return start === 0 ? [...items] : [...items.slice(start), ...items.slice(0, start)];
}
