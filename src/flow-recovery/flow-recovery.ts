/**
 * Flow recovery: a client connection (WS, WSS, TCP, TLS) that closes while
 * it carries dialogs is held for `flowRecovery.graceSeconds`; the same client
 * (client-identity.ts) coming back on a new flow inherits everything that
 * named the old one. Nothing that stored the old flow's token has to change:
 * the flow table resolves a token whose flow is gone through the alias
 * old flow id → new flow id kept here.
 *
 *        close (dialogs on it)          same client on a new flow
 *   up ─────────────────────► recovering ─────────────────────────► up (alias old → new)
 *                                 │
 *                                 │ grace over
 *                                 ▼
 *                               gone ── onGone(flowId) for it and every flow it had inherited
 *
 * A flow that closes without dialogs (or with grace 0) is gone at once. A
 * client that presents itself on a new flow while its old flow is still
 * open with dialogs on it replaces that flow (RFC 5626 §4.2: one flow per
 * instance): the old one is aliased and closed.
 *
 * With a shared store (state.store redis, or the store the supervisor
 * serves its workers) the client may come back on another node or worker
 * (any worker may accept a reconnecting WebSocket): the holding node writes
 * `recover:<identity>` for the grace;
 * the node that sees the client again writes `flow-alias:<old flow id>`
 * (new flow id, its node URI, the new flow's token) and publishes it, and
 * the holding node then sends what it has for the old flow to that node
 * with a Route naming the new flow (the nodes trust each other and share
 * flowTokens.secret, as for the local registrar).
 */
import type { SbcMetrics } from '../admin/metrics.js';
import type { NextHop } from '../core/own-routes.js';
import type { Logger } from '../log/logger.js';
import type { SipRequest } from '../sip/message.js';
import { formatHostPort, parseUri } from '../sip/uri.js';
import type { StateStore } from '../state/index.js';
import type { Flow } from '../transport/flow.js';
import type { FlowBase } from '../transport/flow-base.js';
import type { FlowTable, FlowTokens } from '../transport/index.js';
import { identityKeys, identityOf } from './client-identity.js';
import { RecoveryRecords, type RecoverRecord } from './recovery-records.js';

/** What a flow id leads to now. */
export type FlowResolution =
  | { kind: 'flow'; flow: FlowBase }
  /** The client came back on another node. */
  | { kind: 'remote'; flowId: string; nodeUri: string; token: string }
  | { kind: 'recovering' }
  | { kind: 'gone' };

/** What GET /api/dialogs shows for a dialog's client flow. */
export type FlowState = 'up' | 'recovering' | 'gone';

export interface FlowRecoveryOptions {
  /** flowRecovery.graceSeconds; 0 = a closed flow is gone at once. */
  graceSeconds: number;
  flows: FlowTable;
  tokens: FlowTokens;
  store: StateStore;
  keyPrefix: string;
  /** Redis, or workers > 1 on the store the supervisor serves: other nodes (workers) may hold the flow or see the client come back. */
  shared: boolean;
  /** This node: its id among the nodes, and the URI the others reach it at (absent on a single node). */
  node: { id: string; uri?: string };
  /** Inbound connections from inside (a backend over TCP) are not clients. */
  isInside(flow: Flow): boolean;
  logger: Logger;
  metrics?: SbcMetrics;
  /** Most flows tracked at once (identities, held flows, aliases, each). @default 100000 */
  maxTracked?: number;
}

/** An alias: where the client of a closed flow is now. */
interface Alias {
  flowId: string;
  /** Set when the new flow lives on another node. */
  remote?: { nodeUri: string; token: string };
}

interface Held {
  timer: NodeJS.Timeout;
  keys: string[];
  /** The client's IP address on the flow that closed. */
  address: string;
}

/** Messages between nodes (JSON on the `flow-recovery` channel). */
type NodeMessage =
  | { t: 'recovered'; from: string; old: string[]; flowId: string; nodeUri: string; token: string }
  | { t: 'gone'; from: string; ids: string[] };

const CHANNEL = 'flow-recovery';
const MAX_CHAIN = 8;

export type FlowGoneListener = (flowId: string) => void;

export class FlowRecovery {
  readonly #o: FlowRecoveryOptions;
  /** recover:<identity> and flow-alias:<flowId> in the shared store. */
  readonly #records: RecoveryRecords;
  readonly #graceMs: number;
  readonly #max: number;
  readonly #log: Logger;
  /** Flow id → the identity keys it presented (live flows and held ones). */
  readonly #identityOf = new Map<string, string[]>();
  /** Identity key → the flow that presented it last. */
  readonly #byIdentity = new Map<string, string>();
  readonly #held = new Map<string, Held>();
  readonly #aliases = new Map<string, Alias>();
  /** Flow id → the earlier flows it inherited (here), which are gone when it is. */
  readonly #lineage = new Map<string, Set<string>>();
  /** Flows held by another node that a flow here inherited: their dialogs are there, not here. */
  readonly #remoteOrigin = new Set<string>();
  /** `address:port` of the other nodes we exchanged a client with (their node URIs). */
  readonly #siblings = new Set<string>();
  /** Flows already looked up in the shared store, and whether with the registrar's word. */
  readonly #storeChecked = new WeakMap<Flow, 'plain' | 'vouched'>();
  /**
   * Flows whose client another node holds, found from another address: the
   * record, kept until the registrar vouches for the client (registered()),
   * which then takes over at once, before its 2xx reaches the client, with no
   * store round trip in between.
   */
  readonly #awaitingVouch = new WeakMap<Flow, { key: string; record: RecoverRecord; at: number }>();
  readonly #dialogSources: Array<(flowId: string) => boolean> = [];
  readonly #goneListeners = new Set<FlowGoneListener>();
  readonly #unsubscribe: Array<() => void> = [];
  #closed = false;

  constructor(options: FlowRecoveryOptions) {
    this.#o = options;
    this.#graceMs = Math.round(options.graceSeconds * 1000);
    this.#max = options.maxTracked ?? 100_000;
    this.#log = options.logger;
    this.#records = new RecoveryRecords(options.store, options.keyPrefix, options.logger);
    this.#unsubscribe.push(options.flows.onClose((flow, reason) => this.#flowClosed(flow, reason)));
    options.flows.aliasResolver = (flowId) => {
      const r = this.resolve(flowId);
      return r.kind === 'flow' ? r.flow : undefined;
    };
  }

  /** Subscribe to other nodes' recoveries (shared store only). */
  async start(): Promise<void> {
    if (!this.#o.shared || this.#graceMs === 0) return;
    const off = await this.#o.store.subscribe(this.#channel(), (text) => this.#onNodeMessage(text));
    this.#unsubscribe.push(() => void off().catch(() => undefined));
  }

  get enabled(): boolean {
    return this.#graceMs > 0;
  }

  /** The URI other nodes reach this one at, when several share the store. */
  get nodeUri(): string | undefined {
    return this.#o.shared ? this.#o.node.uri : undefined;
  }

  /** Something that keeps dialogs per client flow (the proxy's tracker, the B2BUA): a flow with dialogs is held. */
  addDialogSource(hasDialogs: (flowId: string) => boolean): void {
    this.#dialogSources.push(hasDialogs);
  }

  /**
   * Called with every flow that is gone for good: closed without dialogs,
   * or its grace over without the client coming back (then once for it and
   * once for each flow it had inherited). Returns an unsubscribe function.
   */
  onGone(listener: FlowGoneListener): () => void {
    this.#goneListeners.add(listener);
    return () => this.#goneListeners.delete(listener);
  }

  /**
   * A request from outside on `flow`: learn who the client is; a client that
   * comes back from the IP address it had takes over the dialogs of its
   * held (or replaced) flow at once. Cheap after the first request with a
   * Contact on a flow, REGISTER aside.
   */
  seen(req: SipRequest, flow: Flow): void {
    this.#take(req, flow, false);
  }

  /**
   * The registrar accepted a REGISTER from `flow` (2xx): who it names is
   * vouched for, so the client takes over its dialogs from any address
   * (a network change: Wi-Fi to mobile). A Contact alone, from another
   * address, does not: anyone could send it.
   */
  registered(req: SipRequest, flow: Flow): void {
    this.#take(req, flow, true);
  }

  #take(req: SipRequest, flow: Flow, vouched: boolean): void {
    if (this.#graceMs === 0 || !flow.reliable || this.#closed) return;
    const known = this.#identityOf.get(flow.id);
    if (known !== undefined && req.method !== 'REGISTER') return;
    const id = identityOf(req);
    if (id === undefined) return;
    const keys = identityKeys(id);
    if (!vouched && known !== undefined && keys.length === known.length && keys.every((k, i) => k === known[i])) return;
    this.#remember(this.#identityOf, flow.id, keys);
    let previous: string | undefined;
    let waiting = false;
    for (const key of keys) {
      const prev = this.#byIdentity.get(key);
      if (prev !== undefined && prev !== flow.id && previous === undefined && this.#inheritable(prev) && !otherInstance(keys, this.#identityOf.get(prev))) {
        if (vouched || this.#addressOf(prev) === flow.remote.address) previous = prev;
        else {
          // Another address: the dialogs wait for the registrar's word (registered()).
          waiting = true;
          continue;
        }
      }
      this.#remember(this.#byIdentity, key, flow.id);
    }
    if (previous !== undefined) {
      this.#recoverHere(previous, flow, keys);
      return;
    }
    if (waiting || !this.#o.shared) return;
    const found = vouched ? this.#awaitingVouch.get(flow) : undefined;
    // Only while the other node may still hold the flow (its record lives for the grace).
    if (found !== undefined && performance.now() - found.at <= this.#graceMs) {
      this.#awaitingVouch.delete(flow);
      this.#storeChecked.set(flow, 'vouched');
      this.#inheritFromNode(found.key, found.record, flow);
      return;
    }
    const checked = this.#storeChecked.get(flow);
    if (checked === 'vouched' || (checked === 'plain' && !vouched)) return;
    this.#storeChecked.set(flow, vouched ? 'vouched' : 'plain');
    void this.#lookUpElsewhere(keys, flow, vouched);
  }

  /** The client's IP address on a held or open flow. */
  #addressOf(flowId: string): string | undefined {
    return this.#held.get(flowId)?.address ?? this.#o.flows.get(flowId)?.remote.address;
  }

  /** Where a flow id leads now (alias chain followed). */
  resolve(flowId: string): FlowResolution {
    let id = flowId;
    for (let i = 0; i < MAX_CHAIN; i++) {
      const flow = this.#o.flows.get(id);
      if (flow !== undefined && !flow.closed) return { kind: 'flow', flow };
      if (this.#held.has(id)) return { kind: 'recovering' };
      const alias = this.#aliases.get(id);
      if (alias === undefined) return { kind: 'gone' };
      if (alias.remote !== undefined && !this.#aliases.has(alias.flowId) && this.#o.flows.get(alias.flowId) === undefined) {
        return { kind: 'remote', flowId: alias.flowId, nodeUri: alias.remote.nodeUri, token: alias.remote.token };
      }
      id = alias.flowId;
    }
    return { kind: 'gone' };
  }

  /** The state of a client flow for GET /api/dialogs. */
  state(flowId: string): FlowState {
    const r = this.resolve(flowId);
    return r.kind === 'recovering' ? 'recovering' : r.kind === 'gone' ? 'gone' : 'up';
  }

  /** The state of the flow a token names (undefined for a token we cannot read). */
  tokenState(token: string): FlowState | undefined {
    const v = this.#o.tokens.verify(token);
    return v.ok ? this.state(v.value.flowId) : undefined;
  }

  /**
   * The status for a request whose token names a flow that is down: 480
   * while the client may still come back (so the other side retries, RFC
   * 3261 §21.4.18), undefined once it is gone (the caller's 430).
   */
  goneStatus(token: string): number | undefined {
    return this.tokenState(token) === 'recovering' ? 480 : undefined;
  }

  /**
   * The hop toward the node where the client of `token`'s flow came back:
   * that node's URI, with a Route naming the new flow (and the topology key,
   * so the node hides with the same record).
   */
  elsewhere(token: string, topologyKey?: string): NextHop | undefined {
    const v = this.#o.tokens.verify(token);
    if (!v.ok) return undefined;
    const r = this.resolve(v.value.flowId);
    if (r.kind !== 'remote') return undefined;
    const node = parseUri(r.nodeUri);
    if (!node.ok) return undefined;
    const transport = node.value.params.get('transport');
    const tk = topologyKey === undefined ? '' : `;tk=${topologyKey}`;
    const route = `<sip:${r.token}@${formatHostPort(node.value.host, node.value.port)}${typeof transport === 'string' ? `;transport=${transport}` : ''};lr${tk}>`;
    return { kind: 'address', uri: node.value, route };
  }

  /**
   * A flow to or from another node of ours that a client moved to or from
   * (its node URI): a request relayed between the nodes has its media done
   * by the node next to the client only.
   */
  isSiblingNode(flow: Flow): boolean {
    return this.#siblings.size > 0 && this.#siblings.has(`${flow.remote.address}:${flow.remote.port}`);
  }

  #addSibling(nodeUri: string): void {
    const uri = parseUri(nodeUri);
    if (!uri.ok || this.#siblings.size >= 1024) return;
    this.#siblings.add(`${uri.value.host.replace(/^\[|\]$/g, '')}:${uri.value.port ?? 5060}`);
  }

  /** Stop every timer; nothing more is reported. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const off of this.#unsubscribe) off();
    for (const h of this.#held.values()) clearTimeout(h.timer);
    this.#held.clear();
    this.#identityOf.clear();
    this.#byIdentity.clear();
    this.#aliases.clear();
    this.#lineage.clear();
    this.#remoteOrigin.clear();
    this.#goneListeners.clear();
  }

  // ── flows closing ─────────────────────────────────────────────────────

  #isClient(flow: Flow & { inbound?: boolean }): boolean {
    if (!flow.reliable) return false;
    if (flow.transport === 'ws' || flow.transport === 'wss') return true;
    if (flow.inbound === false) return false;
    try {
      return !this.#o.isInside(flow);
    } catch {
      return true;
    }
  }

  #flowClosed(flow: Flow, reason: string): void {
    if (this.#closed || !this.#isClient(flow)) return;
    const id = flow.id;
    if (this.#aliases.has(id)) {
      // Replaced by a newer flow of the same client: it inherited everything already.
      this.#forgetIdentity(id);
      return;
    }
    if (this.#graceMs === 0 || reason === 'shutdown' || !this.#hasDialogs(id)) {
      this.#gone(id, false);
      return;
    }
    const keys = this.#identityOf.get(id) ?? [];
    if (this.#held.size >= this.#max) {
      // Never unbounded: the oldest held flow is given up now.
      const oldest = this.#held.keys().next().value;
      if (oldest !== undefined) void this.#expire(oldest);
    }
    const timer = setTimeout(() => void this.#expire(id), this.#graceMs);
    timer.unref();
    this.#held.set(id, { timer, keys, address: flow.remote.address });
    this.#log.info({ flow: id, reason, graceSeconds: this.#o.graceSeconds, identity: keys.length > 0 }, 'client flow closed with dialogs; waiting for the client to come back');
    if (this.#o.shared && keys.length > 0) {
      this.#records.hold(keys, { flowId: id, node: this.#o.node.id, nodeUri: this.#o.node.uri, address: flow.remote.address, instance: keys.find((k) => k.startsWith('i:')) }, this.#o.graceSeconds);
    }
  }

  #hasDialogs(flowId: string): boolean {
    const ids = [flowId, ...(this.#lineage.get(flowId) ?? [])];
    for (const id of ids) {
      if (this.#remoteOrigin.has(id)) return true;
      for (const has of this.#dialogSources) if (has(id)) return true;
    }
    return false;
  }

  /** Can the dialogs of `flowId` pass to a new flow: it is held, or still open with dialogs on it. */
  #inheritable(flowId: string): boolean {
    if (this.#held.has(flowId)) return true;
    const flow = this.#o.flows.get(flowId);
    return flow !== undefined && !flow.closed && this.#hasDialogs(flowId);
  }

  async #expire(id: string): Promise<void> {
    const held = this.#held.get(id);
    if (held === undefined) return;
    clearTimeout(held.timer);
    if (this.#o.shared) {
      // Came back on another node while its message did not reach us?
      const parsed = await this.#records.aliasOf(id);
      if (parsed !== undefined && parsed.node !== this.#o.node.id && this.#held.has(id)) {
        this.#recoveredElsewhere([id], parsed.flowId, parsed.nodeUri, parsed.token);
        return;
      }
      this.#records.release(held.keys);
    }
    if (!this.#held.has(id)) return;
    this.#held.delete(id);
    this.#log.info({ flow: id }, 'client did not come back within the grace; its dialogs end');
    this.#gone(id, true);
  }

  /** The flow and everything it inherited are gone: tell the listeners, forget them. */
  #gone(id: string, afterGrace: boolean): void {
    const ids = [id, ...(this.#lineage.get(id) ?? [])];
    this.#lineage.delete(id);
    let remote = false;
    for (const x of ids) {
      this.#held.delete(x);
      this.#aliases.delete(x);
      if (this.#remoteOrigin.delete(x)) remote = true;
      this.#forgetIdentity(x);
    }
    if (afterGrace) this.#o.metrics?.clientGoneFlows.inc();
    for (const l of [...this.#goneListeners]) {
      for (const x of ids) {
        try {
          l(x);
        } catch (err) {
          this.#log.error({ err, flow: x }, 'flow gone listener failed');
        }
      }
    }
    // The node that held one of these flows first still has its dialogs.
    if (remote && this.#o.shared) this.#publish({ t: 'gone', from: this.#o.node.id, ids });
  }

  #forgetIdentity(id: string): void {
    const keys = this.#identityOf.get(id);
    this.#identityOf.delete(id);
    for (const key of keys ?? []) if (this.#byIdentity.get(key) === id) this.#byIdentity.delete(key);
  }

  // ── coming back ───────────────────────────────────────────────────────

  /** The client of `oldId` (held or replaced, here) is on `flow` now. */
  #recoverHere(oldId: string, flow: Flow, keys: string[]): void {
    const held = this.#held.get(oldId);
    if (held !== undefined) {
      clearTimeout(held.timer);
      this.#held.delete(oldId);
    }
    const inherited = this.#alias(oldId, { flowId: flow.id }, flow.id);
    this.#o.metrics?.flowRecoveries.inc();
    this.#log.info({ flow: flow.id, previous: oldId, inherited: inherited.length }, held !== undefined ? 'client came back on a new flow; its dialogs follow' : 'client opened a new flow; it replaces the old one');
    if (this.#o.shared) {
      this.#records.release(keys);
      this.#writeAliases(inherited, flow);
    }
    if (held === undefined) {
      // Replaced (RFC 5626 §4.2): the old connection is of no more use.
      this.#o.flows.get(oldId)?.close('replaced');
    }
  }

  /** Alias `oldId` and what it inherited to `to`; `localNew` takes them over here. Returns the ids aliased. */
  #alias(oldId: string, to: Alias, localNew: string | undefined): string[] {
    const inherited = [oldId, ...(this.#lineage.get(oldId) ?? [])];
    this.#lineage.delete(oldId);
    for (const x of inherited) this.#remember(this.#aliases, x, to);
    if (localNew !== undefined) {
      const lineage = this.#lineage.get(localNew) ?? new Set<string>();
      for (const x of inherited) lineage.add(x);
      this.#remember(this.#lineage, localNew, lineage);
    }
    return inherited;
  }

  async #lookUpElsewhere(keys: string[], flow: Flow, vouched: boolean): Promise<void> {
    for (const key of keys) {
      let record: RecoverRecord | undefined;
      try {
        record = await this.#records.held(key);
      } catch (err) {
        this.#log.debug({ err }, 'flow recovery lookup failed');
        return;
      }
      if (record === undefined) continue;
      if (typeof record.flowId !== 'string' || record.node === this.#o.node.id || flow.closed || this.#closed) continue;
      if (typeof record.instance === 'string' && otherInstance(keys, [record.instance])) continue;
      // As here: from another address only once the registrar accepted the client's REGISTER.
      if (!vouched && record.address !== flow.remote.address) {
        this.#awaitingVouch.set(flow, { key, record, at: performance.now() });
        return;
      }
      // The registrar vouched while this lookup was under way: taken over already.
      if (this.#storeChecked.get(flow) === 'vouched' && !vouched) return;
      this.#inheritFromNode(key, record, flow);
      return;
    }
  }

  /** The client of a flow another node holds (its recover record under `key`) is on `flow` here now. */
  #inheritFromNode(key: string, record: RecoverRecord, flow: Flow): void {
    if (typeof record.flowId !== 'string' || flow.closed || this.#closed || this.#aliases.has(record.flowId)) return;
    const oldId = record.flowId;
    if (typeof record.nodeUri === 'string') this.#addSibling(record.nodeUri);
    this.#records.release([key]);
    const inherited = this.#alias(oldId, { flowId: flow.id }, flow.id);
    for (const x of inherited) this.#remoteOrigin.add(x);
    this.#o.metrics?.flowRecoveries.inc();
    this.#log.info({ flow: flow.id, previous: oldId }, 'client came back on this node; its dialogs on another node follow');
    this.#writeAliases(inherited, flow);
  }

  /** Tell the store (and the other nodes) where the clients of `ids` are now. */
  #writeAliases(ids: string[], flow: Flow): void {
    const nodeUri = this.#o.node.uri;
    if (nodeUri === undefined) return;
    const token = this.#o.tokens.issue(flow);
    this.#records.alias(ids, { flowId: flow.id, node: this.#o.node.id, nodeUri, token });
    this.#publish({ t: 'recovered', from: this.#o.node.id, old: ids, flowId: flow.id, nodeUri, token });
  }

  /** Another node took over flows of ours: what we hold for them goes there. */
  #recoveredElsewhere(ids: string[], flowId: string, nodeUri: string, token: string): void {
    for (const id of ids) {
      const held = this.#held.get(id);
      const known = held !== undefined || this.#aliases.has(id) || this.#lineage.has(id) || this.#hasDialogs(id);
      if (!known) continue;
      if (held !== undefined) {
        clearTimeout(held.timer);
        this.#held.delete(id);
      }
      this.#alias(id, { flowId, remote: { nodeUri, token } }, undefined);
      this.#addSibling(nodeUri);
      this.#log.info({ flow: id, now: flowId, node: nodeUri }, 'client came back on another node; its dialogs here follow it there');
    }
  }

  #onNodeMessage(text: string): void {
    let msg: NodeMessage;
    try {
      msg = JSON.parse(text) as NodeMessage;
    } catch {
      return;
    }
    if (msg.from === this.#o.node.id || this.#closed) return;
    if (msg.t === 'recovered' && Array.isArray(msg.old) && typeof msg.flowId === 'string' && typeof msg.nodeUri === 'string' && typeof msg.token === 'string') {
      this.#recoveredElsewhere(msg.old.filter((x): x is string => typeof x === 'string'), msg.flowId, msg.nodeUri, msg.token);
    } else if (msg.t === 'gone' && Array.isArray(msg.ids)) {
      // The client of flows of ours came back elsewhere and is gone from there too.
      const ids = new Set(msg.ids);
      for (const [old, alias] of [...this.#aliases]) {
        if (alias.remote !== undefined && ids.has(alias.flowId)) this.#gone(old, true);
      }
    }
  }

  #publish(msg: NodeMessage): void {
    this.#o.store.publish(this.#channel(), JSON.stringify(msg)).catch((err: unknown) => this.#log.warn({ err }, 'flow recovery message not published'));
  }

  #channel(): string {
    return `${this.#o.keyPrefix}${CHANNEL}`;
  }

  /** Set in a bounded map: beyond `maxTracked` the oldest entry goes. */
  #remember<V>(map: Map<string, V>, key: string, value: V): void {
    map.delete(key);
    if (map.size >= this.#max) {
      const oldest = map.keys().next().value;
      if (oldest !== undefined) map.delete(oldest);
    }
    map.set(key, value);
  }
}

/** Both flows name an RFC 5626 instance, and not the same one: a Contact alike is not the same client. */
function otherInstance(keys: readonly string[], previous: readonly string[] | undefined): boolean {
  const mine = keys.find((k) => k.startsWith('i:'));
  const theirs = previous?.find((k) => k.startsWith('i:'));
  return mine !== undefined && theirs !== undefined && mine !== theirs;
}
