/**
 * Every call through the SBC ends in one record. The recorder tracks the
 * calls in progress (Call-ID → ActiveCall, bounded in number and age: a call
 * nobody ended is written as `max-duration` after maxCallSeconds), hears
 * their few events from the proxy (ProxyCallWatcher), the B2BUA and the
 * services (UaCallWatcher) and anyone who ends a call for a reason of the
 * SBC's own (CallEnder: client gone, media limit), and hands each finished
 * record, serialized once, to its sinks.
 *
 * Several nodes (state.store redis): an answered call is also put in the
 * store; a BYE (or an end signal) for a call this node does not hold reads
 * it from there, and whichever node ends a call claims `callrec-done` with
 * setIfAbsent first, so a call is written once however its messages spread.
 */
import { hostname } from 'node:os';
import type { CallDirection, CallEnding, CallRecordHandle, ProxyCallObserver, ProxyCallWatcher, UaCallStart, UaCallWatcher } from '../core/call-events.js';
import type { Logger } from '../log/logger.js';
import type { SipRequest } from '../sip/message.js';
import { KEY_FAMILY, stateKey, type StateStore } from '../state/index.js';
import type { Flow } from '../transport/flow.js';
import { ActiveCall, type ActiveCallInit, type CallEvents, type CallRecord, type MediaPath } from './active-call.js';

export interface CallRecorderOptions {
  /** Longest a call is tracked without its end. @default 43200 */
  maxCallSeconds?: number;
  /** Most calls tracked at once; beyond it new ones are not recorded (counted as dropped). @default 200000 */
  maxCalls?: number;
  /** The media relay that runs (read at each call's start). */
  media: () => MediaPath;
  /** The rtpengine that holds (or, before the offer, will hold) a call's media. */
  mediaEngine?: (callId: string) => Promise<string | undefined> | undefined;
  /** The Call-ID a proxied dialog shows outside (topology hiding's mask), when it differs. */
  outsideCallId?: (callId: string, key: string | undefined) => string | undefined;
  /** Shared store of several nodes; absent = one node, nothing stored. */
  shared?: { store: StateStore; keyPrefix: string };
  /** Every finished record: the object and its JSON text (serialized once). */
  write: (record: CallRecord, json: string) => void;
  dropped: (reason: string, n?: number) => void;
  /** Whether records go anywhere now (a file or a webhook); when not, calls are not tracked. */
  enabled?: () => boolean;
  logger: Logger;
  now?: () => number;
}

const SWEEP_MS = 30_000;

/** What the store keeps of an answered call, for the node that ends it. */
type SharedCall = Omit<CallRecord, 'end' | 'duration' | 'endedBy' | 'reason'> & { fromTag: string; answerMs: number; startMs: number };

export class CallRecorder implements ProxyCallWatcher, UaCallWatcher, CallEvents {
  readonly #o: CallRecorderOptions;
  #maxMs: number;
  #max: number;
  readonly #now: () => number;
  readonly #log: Logger;
  /** Call-ID → call in progress; insertion order is age order. */
  readonly #calls = new Map<string, ActiveCall>();
  readonly #node = `${hostname()}:${process.pid}`;
  #sweep: NodeJS.Timeout | undefined;
  #stopped = false;
  /** Store round trips of records being written (multi-node), awaited by stop(). */
  readonly #pending = new Set<Promise<void>>();

  constructor(options: CallRecorderOptions) {
    this.#o = options;
    this.#maxMs = (options.maxCallSeconds ?? 43_200) * 1000;
    this.#max = options.maxCalls ?? 200_000;
    this.#now = options.now ?? Date.now;
    this.#log = options.logger;
  }

  /** A reload's new limits (calls already tracked keep their start). */
  configure(limits: { maxCallSeconds: number; maxCalls: number }): void {
    this.#maxMs = limits.maxCallSeconds * 1000;
    this.#max = limits.maxCalls;
  }

  /** Calls in progress. */
  get size(): number {
    return this.#calls.size;
  }

  start(): void {
    this.#sweep ??= setInterval(() => this.expire(), SWEEP_MS).unref();
  }

  /** Shutdown: every call still up is written as ended by the drain. */
  async stop(): Promise<void> {
    if (!this.#stopped) {
      if (this.#sweep !== undefined) clearInterval(this.#sweep);
      this.#sweep = undefined;
      for (const call of [...this.#calls.values()]) this.finish(call, call.status, { by: 'sbc', reason: 'drain' });
      this.#stopped = true;
    }
    await Promise.all([...this.#pending]);
  }

  // ── the proxy ─────────────────────────────────────────────────────────

  observe(req: SipRequest, source: Flow, inside: boolean, local: boolean, key: string | undefined): ProxyCallObserver | undefined {
    const method = req.method;
    if (method === 'BYE') {
      this.#bye(req);
      return undefined;
    }
    if (method !== 'INVITE' || req.to()?.params.get('tag') != null) return undefined;
    const callId = req.callId ?? '';
    const outside = inside ? this.#o.outsideCallId?.(callId, key) : undefined;
    const direction: CallDirection = local ? 'local' : inside ? 'inbound' : 'outbound';
    return this.#begin({ callId, outsideCallId: outside ?? callId, insideCallId: callId, mode: 'proxy', direction, invite: req, source });
  }

  // ── the B2BUA and the services ────────────────────────────────────────

  begin(start: UaCallStart): CallRecordHandle | undefined {
    const other = start.otherCallId ?? start.callId;
    const call = this.#begin({
      callId: start.callId,
      // The A leg is the caller's: outside for a call from a client, inside for one toward a client.
      outsideCallId: start.inside ? other : start.callId,
      insideCallId: start.inside ? start.callId : other,
      mode: start.mode,
      direction: start.direction,
      invite: start.invite,
      source: start.source,
    });
    if (call === undefined) return undefined;
    if (start.target !== undefined) call.target = { service: start.target };
    // The engine ranked for the call now is the one its offer goes to; by its end the pool has forgotten it.
    this.#lookUpEngine(call);
    return call;
  }

  routed(handle: CallRecordHandle, target: Flow): void {
    if (handle instanceof ActiveCall) handle.reached(target);
  }

  /**
   * A user agent of ours answered. Not shared with the other nodes: a
   * B2BUA or service call lives on the node that holds its legs.
   */
  answered(handle: CallRecordHandle, atMs?: number): void {
    if (!(handle instanceof ActiveCall) || handle.events === undefined || handle.answerMs !== undefined) return;
    handle.answerMs = atMs ?? this.#now();
    if (handle.media === 'none') handle.media = handle.mediaIfSdp;
    if (handle.status === null || handle.status >= 300) handle.status = 200;
  }

  /** A proxied call was answered: with several nodes its end may pass through another one. */
  proxyAnswered(call: ActiveCall): void {
    if (call.answerMs !== undefined) return;
    call.answerMs = this.#now();
    this.#lookUpEngine(call);
    if (this.#o.shared !== undefined) this.#share(call);
  }

  finish(handle: CallRecordHandle, status: number | null, ending: CallEnding): void {
    if (!(handle instanceof ActiveCall) || handle.events === undefined) return;
    handle.events = undefined;
    if (this.#calls.get(handle.callId) === handle) this.#calls.delete(handle.callId);
    if (status !== null && (handle.answerMs === undefined || status < 300)) handle.status = status;
    const record = handle.toRecord(handle.noted ?? ending, this.#now());
    if (handle.shared) this.#track(this.#writeOnce(record, handle));
    else this.#write(record);
  }

  // ── anyone ────────────────────────────────────────────────────────────

  /**
   * A proxied call is written at once. A call of our own user agents (B2BUA,
   * service) only takes the reason: it is written when the user agent lets
   * go of it, a moment later, with the answer time and status it knows.
   */
  end(callId: string, ending: CallEnding): void {
    const call = this.#calls.get(callId);
    if (call !== undefined) {
      if (call.mode === 'proxy') this.finish(call, call.status, ending);
      else call.noted ??= ending;
      return;
    }
    if (this.#o.shared !== undefined && !this.#stopped) this.#track(this.#endShared(callId, () => ending));
  }

  /** Calls older than maxCallSeconds are written as `max-duration` (their end went around us). */
  expire(): void {
    const oldest = this.#now() - this.#maxMs;
    for (const call of this.#calls.values()) {
      if (call.startMs > oldest) return;
      this.finish(call, call.status, { by: 'sbc', reason: 'max-duration' });
    }
  }

  // ── internals ─────────────────────────────────────────────────────────

  #begin(init: Omit<ActiveCallInit, 'media' | 'startMs'>): ActiveCall | undefined {
    if (this.#stopped || !this.#enabled()) return undefined;
    // A second initial INVITE of a call in progress (a spiral through the backend back to us) is part of the same call.
    if (this.#calls.has(init.callId)) return undefined;
    if (this.#calls.size >= this.#max) {
      this.expire();
      if (this.#calls.size >= this.#max) {
        this.#o.dropped('tracking-full');
        return undefined;
      }
    }
    const call = new ActiveCall({ ...init, media: this.#o.media(), startMs: this.#now() }, this);
    this.#calls.set(init.callId, call);
    return call;
  }

  #bye(req: SipRequest): void {
    const callId = req.callId ?? '';
    const fromTag = req.from()?.params.get('tag') ?? '';
    const call = this.#calls.get(callId);
    if (call !== undefined) {
      this.finish(call, call.status, byeEnding(fromTag === call.fromTag));
      return;
    }
    if (this.#o.shared !== undefined && this.#enabled()) this.#track(this.#endShared(callId, (shared) => byeEnding(fromTag === shared.fromTag)));
  }

  /** One state-store read per rtpengine call, off the call's path. */
  #lookUpEngine(call: ActiveCall): void {
    if (call.mediaIfSdp !== 'rtpengine' || this.#o.mediaEngine === undefined) return;
    const found = this.#o.mediaEngine(call.callId);
    if (found === undefined) return;
    found.then((url) => {
      if (url !== undefined) call.mediaEngine = url;
    }, () => undefined);
  }

  #enabled(): boolean {
    return this.#o.enabled?.() ?? true;
  }

  #track(work: Promise<void>): void {
    this.#pending.add(work);
    void work.finally(() => this.#pending.delete(work));
  }

  #write(record: CallRecord): void {
    let json: string;
    try {
      json = JSON.stringify(record);
    } catch (err) {
      this.#log.warn({ err, callId: record.callId }, 'call record not serializable');
      this.#o.dropped('unserializable');
      return;
    }
    this.#o.write(record, json);
  }

  #share(call: ActiveCall): void {
    const s = this.#o.shared!;
    const snapshot: SharedCall = { ...call.toRecord({ by: 'sbc', reason: 'drain' }, call.answerMs ?? 0), fromTag: call.fromTag, answerMs: call.answerMs ?? 0, startMs: call.startMs };
    call.shared = true;
    s.store.set(stateKey(s.keyPrefix, KEY_FAMILY.callRecord, call.callId), JSON.stringify(snapshot), Math.ceil(this.#maxMs / 1000))
      .catch((err: unknown) => this.#log.warn({ err, callId: call.callId }, 'answered call not shared with the other nodes'));
  }

  /** A call shared in the store: write it only if no node has yet. */
  async #writeOnce(record: CallRecord, call: ActiveCall): Promise<void> {
    const s = this.#o.shared!;
    try {
      const mine = await s.store.setIfAbsent(doneKey(s.keyPrefix, call.callId, call.startMs), this.#node, Math.ceil(this.#maxMs / 1000) + 60);
      if (!mine) return;
      void s.store.delete(stateKey(s.keyPrefix, KEY_FAMILY.callRecord, call.callId)).catch(() => undefined);
    } catch (err) {
      // Better a record twice than none.
      this.#log.warn({ err, callId: call.callId }, 'call record write not claimed in the store; writing it here');
    }
    this.#write(record);
  }

  /** The end of a call another node answered: its record comes from the store. */
  async #endShared(callId: string, ending: (shared: SharedCall) => CallEnding): Promise<void> {
    const s = this.#o.shared!;
    const endMs = this.#now();
    let shared: SharedCall;
    try {
      const text = await s.store.get(stateKey(s.keyPrefix, KEY_FAMILY.callRecord, callId));
      if (text === undefined) return;
      shared = JSON.parse(text) as SharedCall;
      const mine = await s.store.setIfAbsent(doneKey(s.keyPrefix, callId, shared.startMs), this.#node, Math.ceil(this.#maxMs / 1000) + 60);
      if (!mine) return;
      void s.store.delete(stateKey(s.keyPrefix, KEY_FAMILY.callRecord, callId)).catch(() => undefined);
    } catch (err) {
      this.#log.warn({ err, callId }, 'shared call record unreadable');
      return;
    }
    const e = ending(shared);
    const { fromTag: _t, answerMs, startMs: _s, ...rest } = shared;
    this.#write({
      ...rest,
      end: new Date(endMs).toISOString(),
      duration: Math.max(0, Math.round(endMs - answerMs)) / 1000,
      endedBy: e.by,
      reason: e.reason,
    });
  }
}

function byeEnding(byCaller: boolean): CallEnding {
  return byCaller ? { by: 'caller', reason: 'bye-caller' } : { by: 'callee', reason: 'bye-callee' };
}

function doneKey(prefix: string, callId: string, startMs: number): string {
  return stateKey(prefix, KEY_FAMILY.callRecordDone, callId, String(startMs));
}
