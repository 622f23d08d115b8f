/**
 * Proxy mode keeps no dialog state of its own, but a call whose client is
 * gone must still be ended toward the other side: this remembers, for each
 * call answered through us with a client of ours on one side, what a BYE on
 * the client's behalf needs (RFC 3261 §12.2.1.1: Call-ID, both tags, the
 * inside party's target and the route set toward it, a CSeq above the
 * client's). One small entry per call, learnt from the 2xx on its way,
 * bounded in number and age; a BYE (or the gone client) removes it.
 *
 *   client is the caller   2xx from inside: To (inside tag), Contact, Record-Route above ours, reversed
 *   client is the callee   INVITE from inside: From (inside tag), Contact, Record-Route in order
 */
import type { SbcMetrics } from '../admin/metrics.js';
import type { RelayedFinal } from '../core/client-flow-hooks.js';
import type { OwnAddresses } from '../core/own-addresses.js';
import type { Logger } from '../log/logger.js';
import type { SipRequest, SipResponse } from '../sip/message.js';
import { parseUri } from '../sip/uri.js';
import type { Flow } from '../transport/flow.js';
import type { FlowState } from './flow-recovery.js';
import type { ByeOnBehalf } from './client-gone-bye.js';

/** What a BYE toward the inside party of a call needs. */
export interface ProxyDialog {
  callId: string;
  /** The client's flow when the call was answered (flow recovery follows it to later flows). */
  clientFlowId: string;
  clientIsCaller: boolean;
  /** The client's party (From of its requests) with its tag. */
  clientParty: string;
  /** The inside party with its tag. */
  insideParty: string;
  /** The inside party's Contact (remote target). */
  insideTarget: string;
  /** Route set from us toward the inside party. */
  routeSet: string[];
  /** Highest CSeq the client used in the dialog. */
  cseq: number;
  /** Topology record of the call, deleted with it. */
  topologyKey?: string;
  createdAt: number;
}

/** What ending a call needs besides the BYE: everything the pipeline would do on a BYE. */
export interface CallTeardown {
  /** Media session, call limits, the drain's count, the ended hook (reason `client-gone`). */
  ended(callId: string, topologyKey: string | undefined): void;
}

export interface ProxyDialogsOptions {
  own: OwnAddresses;
  bye: ByeOnBehalf;
  teardown: CallTeardown;
  logger: Logger;
  metrics?: SbcMetrics;
  /** @default 200000 */
  maxTracked?: number;
  /** @default 43200 (12 h) */
  maxCallSeconds?: number;
}

/** Reason header of the BYE we send for a client that is gone (RFC 3326). */
export const CLIENT_GONE_REASON = 'SIP;cause=480;text="client connection lost"';

export class ProxyDialogs {
  readonly #o: ProxyDialogsOptions;
  readonly #max: number;
  readonly #ttlMs: number;
  /** Call-ID → dialog; insertion order is age order. */
  readonly #byCallId = new Map<string, ProxyDialog>();
  /** Client flow id → Call-IDs through it. */
  readonly #byFlow = new Map<string, Set<string>>();

  constructor(options: ProxyDialogsOptions) {
    this.#o = options;
    this.#max = options.maxTracked ?? 200_000;
    this.#ttlMs = (options.maxCallSeconds ?? 43_200) * 1000;
  }

  get size(): number {
    return this.#byCallId.size;
  }

  has(flowId: string): boolean {
    return this.#byFlow.has(flowId);
  }

  /** The final response to a request the proxy relayed. */
  final(f: RelayedFinal): void {
    const { req, res } = f;
    const callId = req.callId;
    if (callId === undefined) return;
    const method = req.method;
    if (method === 'BYE') {
      this.#remove(callId);
      return;
    }
    const d = this.#byCallId.get(callId);
    if (d === undefined) {
      // Only a 2xx to an initial INVITE starts a call worth tracking (REGISTER and the rest cost one lookup).
      if (method === 'INVITE' && res.status >= 200 && res.status < 300 && req.to()?.params.get('tag') == null) this.#learn(f);
      return;
    }
    if (res.status >= 300) return;
    const seq = req.cseq()?.seq ?? 0;
    if (!f.inside && seq > d.cseq) d.cseq = seq;
    // A target refresh (RFC 3261 §12.2): the inside party's new Contact.
    if (method === 'INVITE' || method === 'UPDATE') {
      const target = f.inside ? contactUri(req) : contactUri(res);
      if (target !== undefined) d.insideTarget = target;
    }
  }

  /** End every call of a client that did not come back: BYE inside with Reason, then the call's teardown. */
  clientGone(flowId: string): void {
    const ids = this.#byFlow.get(flowId);
    if (ids === undefined) return;
    this.#byFlow.delete(flowId);
    for (const callId of ids) {
      const d = this.#byCallId.get(callId);
      if (d === undefined) continue;
      this.#byCallId.delete(callId);
      this.#o.logger.info({ callId, flow: flowId }, 'client gone: ending its call toward the other side');
      this.#o.metrics?.clientGone.inc();
      void this.#o.bye.send({ callId, from: d.clientParty, to: d.insideParty, target: d.insideTarget, routeSet: d.routeSet, cseq: d.cseq + 1, reason: CLIENT_GONE_REASON });
      this.#o.teardown.ended(callId, d.topologyKey);
    }
  }

  /** For GET /api/dialogs. */
  snapshot(state: (flowId: string) => FlowState): Array<{ callId: string; mode: 'proxy'; client: 'caller' | 'callee'; flow: FlowState; ageSeconds: number }> {
    this.#expire();
    const now = Date.now();
    const out = [];
    for (const d of this.#byCallId.values()) {
      out.push({ callId: d.callId, mode: 'proxy' as const, client: d.clientIsCaller ? 'caller' as const : 'callee' as const, flow: state(d.clientFlowId), ageSeconds: Math.round((now - d.createdAt) / 1000) });
      if (out.length >= 10_000) break;
    }
    return out;
  }

  clear(): void {
    this.#byCallId.clear();
    this.#byFlow.clear();
  }

  #learn(f: RelayedFinal): void {
    const { req, res, source, inside, clientFlow } = f;
    let d: ProxyDialog | undefined;
    if (!inside) {
      // From a client to inside: the 2xx carries the inside party.
      const target = contactUri(res);
      const from = req.headers.get('from');
      const to = res.headers.get('to');
      if (target === undefined || from === undefined || to === undefined || !reliable(source)) return;
      const rr = res.headers.values('record-route');
      const ours = rr.findIndex((v) => this.#isOwn(v));
      const above = ours < 0 ? rr : rr.slice(0, ours);
      d = { callId: req.callId!, clientFlowId: source.id, clientIsCaller: true, clientParty: from, insideParty: to, insideTarget: target, routeSet: above.reverse(), cseq: req.cseq()?.seq ?? 1, createdAt: Date.now() };
    } else if (clientFlow !== undefined && reliable(clientFlow)) {
      // From inside to a client: the INVITE carries the inside party.
      const target = contactUri(req);
      const from = req.headers.get('from');
      const to = res.headers.get('to');
      if (target === undefined || from === undefined || to === undefined) return;
      const rr = req.headers.values('record-route').filter((v) => !this.#isOwn(v));
      d = { callId: req.callId!, clientFlowId: clientFlow.id, clientIsCaller: false, clientParty: to, insideParty: from, insideTarget: target, routeSet: rr, cseq: 0, createdAt: Date.now() };
    }
    if (d === undefined) return;
    if (f.key !== undefined) d.topologyKey = f.key;
    this.#expire();
    if (this.#byCallId.size >= this.#max) {
      const oldest = this.#byCallId.keys().next();
      if (oldest.done !== true) this.#remove(oldest.value);
    }
    this.#byCallId.set(d.callId, d);
    let set = this.#byFlow.get(d.clientFlowId);
    if (set === undefined) {
      set = new Set();
      this.#byFlow.set(d.clientFlowId, set);
    }
    set.add(d.callId);
  }

  #remove(callId: string): void {
    const d = this.#byCallId.get(callId);
    if (d === undefined) return;
    this.#byCallId.delete(callId);
    const set = this.#byFlow.get(d.clientFlowId);
    set?.delete(callId);
    if (set?.size === 0) this.#byFlow.delete(d.clientFlowId);
  }

  #expire(): void {
    const cutoff = Date.now() - this.#ttlMs;
    for (const d of this.#byCallId.values()) {
      if (d.createdAt > cutoff) return;
      this.#remove(d.callId);
    }
  }

  #isOwn(value: string): boolean {
    const uri = parseUri(innerUri(value));
    return uri.ok && this.#o.own.isOwn(uri.value);
  }
}

/** UDP flows are soft state: only a connection that closes means the client left. */
function reliable(flow: Flow): boolean {
  return flow.reliable;
}

function innerUri(value: string): string {
  const lt = value.indexOf('<');
  const gt = value.indexOf('>', lt);
  return lt >= 0 && gt > lt ? value.slice(lt + 1, gt) : value.split(';')[0]!.trim();
}

function contactUri(msg: SipRequest | SipResponse): string | undefined {
  const raw = msg.headers.values('contact')[0];
  return raw === undefined || raw === '*' ? undefined : innerUri(raw);
}
