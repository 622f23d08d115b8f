/**
 * security.maxCallsPerUser: concurrent calls one user may place through us.
 * A call holds its slot from the INVITE we let through until it fails,
 * is cancelled or ends with BYE; a slot whose end we never saw (a BYE lost
 * on the far side of a dead NAT) is freed after `maxCallSeconds`.
 */
import type { CallAdmission } from '../core/request-checks.js';
import type { SipRequest } from '../sip/message.js';

export interface CallLimitsOptions {
  maxPerUser: number;
  /** Longest a slot is held without a BYE. @default 43200 (12 h, as dialog records) */
  maxCallSeconds?: number;
  /** Most calls tracked at once; beyond it the oldest slots are freed. @default 200000 */
  maxTracked?: number;
  now?: () => number;
}

/** The calls other workers and nodes hold, and what this one tells them (see SharedCallLimits). */
export interface CallLimitPeers {
  /** Calls `user` holds elsewhere. */
  count(user: string): number;
  admitted(callId: string, user: string): void;
  /** A call this node admitted ended. */
  ended(callId: string): void;
  /** A call this node did not admit ended here; the node holding it frees its slot. */
  endedElsewhere(callId: string): void;
}

interface Slot {
  user: string;
  expiresAt: number;
}

export class CallLimits implements CallAdmission {
  #max: number;
  readonly #ttlMs: number;
  readonly #maxTracked: number;
  readonly #now: () => number;
  /** Call-ID → slot; insertion order is age order. */
  readonly #calls = new Map<string, Slot>();
  readonly #perUser = new Map<string, number>();
  #peers: CallLimitPeers | undefined;

  constructor(options: CallLimitsOptions) {
    this.#max = options.maxPerUser;
    this.#ttlMs = (options.maxCallSeconds ?? 43_200) * 1000;
    this.#maxTracked = options.maxTracked ?? 200_000;
    this.#now = options.now ?? Date.now;
  }

  /** 0 = unlimited (nothing is tracked). Calls already up keep their slots. */
  setMaxPerUser(max: number): void {
    this.#max = max;
  }

  /** Share slots with other workers and nodes from now on (undefined: stop). */
  sharedWith(peers: CallLimitPeers | undefined): void {
    this.#peers = peers;
  }

  /** Calls `user` holds elsewhere (0 when nothing is shared). */
  elsewhere(user: string): number {
    return this.#peers?.count(user) ?? 0;
  }

  /** This node's slots, oldest first (for a peer that starts and asks). */
  *slots(): IterableIterator<[callId: string, user: string]> {
    for (const [callId, slot] of this.#calls) yield [callId, slot.user];
  }

  /** Calls `user` holds here. */
  count(user: string): number {
    return this.#perUser.get(user) ?? 0;
  }

  admit(req: SipRequest): { status: number; phrase: string } | undefined {
    if (this.#max === 0) return undefined;
    const callId = req.callId;
    const from = req.from()?.uri;
    if (callId === undefined || from === undefined) return undefined;
    // A retransmission or a second INVITE of a call we already counted holds no second slot.
    if (this.#calls.has(callId)) return undefined;
    const user = `${from.user ?? ''}@${from.host}`.toLowerCase();
    this.#expire();
    if (this.count(user) + this.elsewhere(user) >= this.#max) return { status: 403, phrase: 'Too Many Calls' };
    if (this.#calls.size >= this.#maxTracked) this.#freeOldest();
    this.#calls.set(callId, { user, expiresAt: this.#now() + this.#ttlMs });
    this.#perUser.set(user, this.count(user) + 1);
    this.#peers?.admitted(callId, user);
    return undefined;
  }

  ended(callId: string): void {
    const slot = this.#calls.get(callId);
    if (slot === undefined) {
      // A call another worker or node admitted may end here (its BYE came this way).
      if (this.#max > 0) this.#peers?.endedElsewhere(callId);
      return;
    }
    this.#calls.delete(callId);
    this.#drop(slot.user);
    this.#peers?.ended(callId);
  }

  #drop(user: string): void {
    const n = this.count(user) - 1;
    if (n > 0) this.#perUser.set(user, n);
    else this.#perUser.delete(user);
  }

  /** Slots are in age order with one lifetime, so the expired ones are at the front. */
  #expire(): void {
    const now = this.#now();
    for (const [callId, slot] of this.#calls) {
      if (slot.expiresAt > now) return;
      this.#calls.delete(callId);
      this.#drop(slot.user);
    }
  }

  #freeOldest(): void {
    const first = this.#calls.entries().next();
    if (first.done === true) return;
    this.ended(first.value[0]);
  }
}
