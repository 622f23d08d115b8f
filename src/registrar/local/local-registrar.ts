/**
 * The SBC as registrar (registrar.mode: local), RFC 3261 §10.3 with the
 * RFC 5626 flow binding:
 *
 *   Request-URI or To domain not ours ─► 403 Domain Not Served Here
 *   malformed Expires / Contact / q / reg-id ─► 400 naming it
 *   `Contact: *` without `Expires: 0` ─► 400
 *   0 < expires < registrar.minExpires ─► 423 + Min-Expires
 *   more than maxBindingsPerAor (after dropping bindings whose flow is gone) ─► 403
 *   more than maxBindings on this node (with workers: on all of them) ─► 503 + Retry-After
 *   otherwise ─► bindings stored with the flow the REGISTER came on;
 *                200 listing every current binding with its expires
 *
 * Digest authentication (security.auth.mode local) has already run in the
 * pipeline: what reaches here is authenticated or needs no authentication.
 */
import type { SbcMetrics as Metrics } from '../../admin/metrics.js';
import type { LocalDecision } from '../../core/local-domain.js';
import type { Logger } from '../../log/logger.js';
import { detached } from '../../sip/detached.js';
import type { SipRequest } from '../../sip/message.js';
import type { Flow } from '../../transport/flow.js';
import type { FlowTable, FlowTokens } from '../../transport/index.js';
import type { Binding, BindingStore } from './binding-store.js';
import type { BindingTotal } from './gateway-binding-total.js';
import type { LocalDomains } from './local-domains.js';
import { readRegister, type ExpiryRules, type RegisterIntent, type RequestedContact } from './register-request.js';

export interface LocalRegistrarOptions extends ExpiryRules {
  bindings: BindingStore;
  domains: LocalDomains;
  tokens: FlowTokens;
  flows: FlowTable;
  maxBindingsPerAor: number;
  /** Bindings this node holds in total. */
  maxBindings: number;
  /** Under a supervisor: the other workers' bindings count toward maxBindings too. */
  total?: BindingTotal;
  /** This node's name in the bindings it writes. */
  node: string;
  /** This node's SIP URI for the other nodes (state.store redis), e.g. `sip:10.0.0.5:5060;transport=udp`. */
  nodeUri?: string;
  logger: Logger;
  metrics?: Metrics;
  /** After each accepted REGISTER: the AOR's bindings on the flow it came on (for /api/flows and NAT keepalives). */
  onFlowBindings?(flow: Flow, aor: string, contacts: Array<{ contact: string; expiresSeconds: number }>): void;
  now?: () => number;
}

/** What this node registered, per AOR: how many bindings and until when (for the total limit and the listing). */
interface HeldAor {
  count: number;
  expiresAt: number;
}

const MAX_HELD_AORS_LISTED = 10_000;

type Outcome = { ok: true; bindings: Binding[] } | { ok: false; reply: LocalDecision & { kind: 'reply' }; reason: string };

export class LocalRegistrar {
  readonly #o: LocalRegistrarOptions;
  readonly #now: () => number;
  readonly #held = new Map<string, HeldAor>();
  #total = 0;
  /** The latest expiry of any binding held (wall-clock ms), for `total`. */
  #latest = 0;

  constructor(options: LocalRegistrarOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
  }

  /** This node's name in bindings. */
  get node(): string {
    return this.#o.node;
  }

  get domains(): LocalDomains {
    return this.#o.domains;
  }

  /** Bindings this node holds (expired ones no longer count). */
  count(): number {
    this.#prune();
    return this.#total;
  }

  /** Answer a REGISTER that came on `flow`. */
  async register(req: SipRequest, flow: Flow): Promise<LocalDecision> {
    const ruri = req.requestUri();
    if (ruri === undefined || !this.#o.domains.has(ruri.host)) return this.#refuse(403, 'Domain Not Served Here', 'foreign-domain');
    const read = readRegister(req, this.#o);
    if (!read.ok) {
      const e = read.error;
      return this.#refuse(e.status, e.reason, e.status === 423 ? 'interval-too-brief' : 'bad-register', e.headers);
    }
    const intent = read.value;
    if (!this.#o.domains.has(intent.aorUri.host)) return this.#refuse(403, 'Domain Not Served Here', 'foreign-domain');

    const outcome = await this.#o.bindings.update<Outcome>(intent.aor, async (live) => {
      const result = await this.#apply(live, intent, req, flow);
      return { next: result.ok ? result.bindings : live, result };
    });
    if (!outcome.ok) {
      this.#o.metrics?.rejectedRequests.inc({ reason: outcome.reason });
      return outcome.reply;
    }
    // The 200 goes out once the other workers would count what it granted.
    await this.#hold(intent.aor, outcome.bindings);
    if (this.#o.onFlowBindings !== undefined) {
      const now = this.#now();
      const mine = outcome.bindings.filter((b) => b.flowId === flow.id).map((b) => ({ contact: b.uri, expiresSeconds: Math.round((b.expiresAt - now) / 1000) }));
      this.#o.onFlowBindings(flow, detached(intent.aor), mine);
    }
    if (intent.kind !== 'query') {
      this.#o.logger.info({ aor: intent.aor, flow: flow.id, bindings: outcome.bindings.length }, intent.kind === 'remove-all' || outcome.bindings.length === 0 ? 'unregistered' : 'registered');
    }
    return { kind: 'reply', status: 200, reason: 'OK', headers: this.#okHeaders(outcome.bindings, req) };
  }

  /** GET /api/registrations: the AORs this node registered, with their live contacts. */
  async list(): Promise<Array<{ aor: string; contacts: unknown[] }>> {
    this.#prune();
    const now = this.#now();
    const out: Array<{ aor: string; contacts: unknown[] }> = [];
    for (const aor of [...this.#held.keys()].slice(0, MAX_HELD_AORS_LISTED)) {
      const bindings = await this.#o.bindings.read(aor);
      if (bindings.length === 0) continue;
      out.push({
        aor,
        contacts: bindings.map((b) => ({
          contact: b.uri,
          expiresInSeconds: Math.max(0, Math.round((b.expiresAt - now) / 1000)),
          ...(b.q !== undefined ? { q: b.q } : {}),
          ...(b.instance !== undefined ? { instance: b.instance } : {}),
          ...(b.regId !== undefined ? { regId: b.regId } : {}),
          flow: b.flowId,
          transport: b.transport,
          node: b.node,
          flowUp: this.flowOf(b) !== undefined,
        })),
      });
    }
    return out;
  }

  /** The live flow a binding registered on, if this node still has it (UDP flows are rebuilt from the token). */
  flowOf(b: Binding): Flow | undefined {
    if (b.node !== this.#o.node) return undefined;
    const found = this.#o.flows.byToken(b.flowToken);
    return found.ok && !found.value.closed ? found.value : undefined;
  }

  async #apply(live: Binding[], intent: RegisterIntent, req: SipRequest, flow: Flow): Promise<Outcome> {
    if (intent.kind === 'query') return { ok: true, bindings: live };
    if (intent.kind === 'remove-all') return { ok: true, bindings: [] };
    const callId = req.callId ?? '';
    const cseq = req.cseq()?.seq ?? 0;
    const byKey = new Map(live.map((b) => [b.key, b]));
    const added: string[] = [];
    for (const c of intent.contacts) {
      const existing = byKey.get(c.key);
      // RFC 3261 §10.3 step 7: an older request of the same registration changes nothing.
      if (existing !== undefined && existing.callId === callId && existing.cseq > cseq) {
        return this.#refused(400, 'CSeq Out Of Order', 'bad-register');
      }
      if (c.expires === 0) {
        byKey.delete(c.key);
        continue;
      }
      if (existing === undefined) added.push(c.key);
      byKey.set(c.key, this.#binding(c, callId, cseq, flow));
    }
    let next = [...byKey.values()];
    if (next.length > this.#o.maxBindingsPerAor && added.length > 0) {
      next = this.#makeRoom(next, new Set(intent.contacts.map((c) => c.key)));
      if (next.length > this.#o.maxBindingsPerAor) return this.#refused(403, 'Too Many Registrations For This Address', 'binding-limit-aor');
    }
    const grows = next.length - (this.#held.get(intent.aor)?.count ?? 0);
    const others = grows > 0 && this.#o.total !== undefined ? await this.#o.total.others() : 0;
    if (grows > 0 && others + this.#total + grows > this.#o.maxBindings) {
      // Only when full: forgetting what expired walks every AOR this node holds.
      this.#prune();
      if (others + this.#total + grows > this.#o.maxBindings) return this.#refused(503, 'Registrar Full', 'binding-limit-total', { 'Retry-After': '60' });
    }
    return { ok: true, bindings: next };
  }

  /** Over the per-AOR limit: drop bindings whose flow is gone (a reloaded page, a phone on a new connection), oldest first. */
  #makeRoom(list: Binding[], fresh: ReadonlySet<string>): Binding[] {
    const dead = list.filter((b) => !fresh.has(b.key) && b.node === this.#o.node && this.flowOf(b) === undefined).sort((a, b) => a.updatedAt - b.updatedAt);
    const drop = new Set<string>();
    for (const b of dead) {
      if (list.length - drop.size <= this.#o.maxBindingsPerAor) break;
      drop.add(b.key);
    }
    return list.filter((b) => !drop.has(b.key));
  }

  #binding(c: RequestedContact, callId: string, cseq: number, flow: Flow): Binding {
    const now = this.#now();
    // Copied out of the message text: a binding outlives its REGISTER.
    const b: Binding = {
      key: detached(c.key),
      uri: detached(c.uri),
      expiresAt: now + c.expires * 1000,
      flowToken: this.#o.tokens.issue(flow),
      flowId: flow.id,
      transport: flow.transport,
      node: this.#o.node,
      callId: detached(callId),
      cseq,
      updatedAt: now,
    };
    if (c.q !== undefined) b.q = c.q;
    if (c.instance !== undefined) b.instance = detached(c.instance);
    if (c.regId !== undefined) b.regId = c.regId;
    if (this.#o.nodeUri !== undefined) b.nodeUri = this.#o.nodeUri;
    return b;
  }

  /** The 200's headers: every current binding with its remaining expires (RFC 3261 §10.3 step 8). */
  #okHeaders(bindings: Binding[], req: SipRequest): Record<string, string> {
    const now = this.#now();
    const headers: Record<string, string> = {};
    if (bindings.length > 0) {
      headers.Contact = bindings
        .map((b) => {
          let v = `<${b.uri}>;expires=${Math.max(0, Math.round((b.expiresAt - now) / 1000))}`;
          if (b.q !== undefined) v += `;q=${b.q}`;
          if (b.instance !== undefined) v += `;+sip.instance="${b.instance}"`;
          if (b.regId !== undefined) v += `;reg-id=${b.regId}`;
          return v;
        })
        .join(', ');
    }
    // RFC 5626 §6: a registrar that used reg-id says it supports outbound.
    const contacts = req.contacts();
    if (Array.isArray(contacts) && contacts.some((c) => c.params.has('reg-id'))) headers.Supported = 'outbound';
    return headers;
  }

  #hold(aor: string, bindings: Binding[]): Promise<void> | undefined {
    const before = this.#held.get(aor);
    if (before !== undefined) this.#total -= before.count;
    if (bindings.length === 0) {
      this.#held.delete(aor);
    } else {
      const expiresAt = bindings.reduce((m, b) => Math.max(m, b.expiresAt), 0);
      this.#held.delete(aor);
      this.#held.set(detached(aor), { count: bindings.length, expiresAt });
      this.#total += bindings.length;
      this.#latest = Math.max(this.#latest, expiresAt);
    }
    return this.#o.total?.held(this.#total, this.#latest);
  }

  /** Forget AORs whose every binding has expired. */
  #prune(): void {
    const now = this.#now();
    const before = this.#total;
    for (const [aor, h] of this.#held) {
      if (h.expiresAt > now) continue;
      this.#held.delete(aor);
      this.#total -= h.count;
    }
    if (this.#total !== before) void this.#o.total?.held(this.#total, this.#latest);
  }

  #refuse(status: number, reason: string, metric: string, headers?: Record<string, string>): LocalDecision {
    this.#o.metrics?.rejectedRequests.inc({ reason: metric });
    return { kind: 'reply', status, reason, ...(headers !== undefined ? { headers } : {}) };
  }

  #refused(status: number, reason: string, metric: string, headers?: Record<string, string>): Outcome {
    return { ok: false, reason: metric, reply: { kind: 'reply', status, reason, ...(headers !== undefined ? { headers } : {}) } };
  }
}
