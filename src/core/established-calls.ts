/**
 * Proxy mode keeps no dialog state, but a drain must know whether calls are
 * still up: this counts the calls whose initial INVITE got a 2xx through us
 * and whose BYE has not been seen. One small entry per established call,
 * bounded in number and age (a BYE that went around us cannot hold it forever).
 *
 * It is also where the proxy's calls meet their records (src/records): every
 * relayed request is shown to the watcher (`observe`), and a call the SBC
 * ends itself (its client gone, …) is reported with why (`ended(callId, ending)`).
 */
import type { SipRequest } from '../sip/message.js';
import type { Flow } from '../transport/flow.js';
import type { CallEnding, ProxyCallObserver, ProxyCallWatcher } from './call-events.js';

export interface EstablishedCallsOptions {
  /** Longest a call is counted without its BYE. @default 43200 (12 h, as dialog records) */
  maxCallSeconds?: number;
  /** Most calls counted; beyond it the oldest are forgotten. @default 200000 */
  maxTracked?: number;
  now?: () => number;
  /** The call records, once they run (read per request: the records part may start after us). */
  watcher?: () => ProxyCallWatcher | undefined;
  /**
   * Whether a request's source is another worker of this gateway (workers > 1):
   * a call it relayed here is recorded by that worker, which had it first.
   */
  fromSibling?: (source: Flow) => boolean;
}

/**
 * Why a call ended, for whoever keeps call records. The pipeline reports
 * `bye` (its BYE was answered); flow recovery reports `client-gone` (the
 * client's connection closed and it did not come back within the grace).
 */
export type DialogEndReason = 'bye' | 'client-gone';

export type DialogEndedListener = (callId: string, reason: DialogEndReason) => void;

export class EstablishedCalls {
  readonly #ttlMs: number;
  readonly #max: number;
  readonly #now: () => number;
  readonly #watcher: () => ProxyCallWatcher | undefined;
  readonly #fromSibling: ((source: Flow) => boolean) | undefined;
  /** Call-ID → when it is forgotten; insertion order is age order. */
  readonly #calls = new Map<string, number>();
  readonly #endedListeners = new Set<DialogEndedListener>();

  constructor(options: EstablishedCallsOptions = {}) {
    this.#ttlMs = (options.maxCallSeconds ?? 43_200) * 1000;
    this.#max = options.maxTracked ?? 200_000;
    this.#now = options.now ?? Date.now;
    this.#watcher = options.watcher ?? (() => undefined);
    this.#fromSibling = options.fromSibling;
  }

  /** A request the proxy relays: the observer of an initial INVITE's record, if records are kept. */
  observe(req: SipRequest, source: Flow, inside: boolean, local: boolean, key: string | undefined): ProxyCallObserver | undefined {
    // Its BYE is still shown: it may end a call whose record this worker began.
    if (req.method === 'INVITE' && this.#fromSibling?.(source) === true) return undefined;
    return this.#watcher()?.observe(req, source, inside, local, key);
  }

  /** Calls up now. */
  get size(): number {
    this.#expire();
    return this.#calls.size;
  }

  /** A 2xx to an initial INVITE went through (every fork's 2xx may repeat it). */
  confirmed(callId: string | undefined): void {
    if (callId === undefined || this.#calls.has(callId)) return;
    this.#expire();
    if (this.#calls.size >= this.#max) {
      const oldest = this.#calls.keys().next();
      if (oldest.done !== true) this.#calls.delete(oldest.value);
    }
    this.#calls.set(callId, this.#now() + this.#ttlMs);
  }

  /**
   * Its BYE was answered (or it failed to start); or, with `ending`, the SBC
   * ended it (e.g. `{ by: 'sbc', reason: 'client-gone' }`): its record is
   * written with that. Listeners hear of every established call that ends,
   * and of every call ended with an explicit reason (the B2BUA's too).
   */
  ended(callId: string | undefined, ending?: CallEnding): void {
    if (callId === undefined) return;
    const was = this.#calls.delete(callId);
    if (ending !== undefined) this.#watcher()?.end(callId, ending);
    if (!was && ending === undefined) return;
    const reason: DialogEndReason = ending?.reason === 'client-gone' ? 'client-gone' : 'bye';
    for (const l of this.#endedListeners) {
      try {
        l(callId, reason);
      } catch {
        // A listener's failure is its own: the call is over either way.
      }
    }
  }

  /** The ended hook: called as `(callId, reason)`. Returns an unsubscribe function. */
  onDialogEnded(listener: DialogEndedListener): () => void {
    this.#endedListeners.add(listener);
    return () => this.#endedListeners.delete(listener);
  }

  #expire(): void {
    const now = this.#now();
    for (const [callId, until] of this.#calls) {
      if (until > now) return;
      this.#calls.delete(callId);
    }
  }
}
