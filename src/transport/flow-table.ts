import { performance } from 'node:perf_hooks';
import { fail, ok, type Result } from '../sip/result.js';
import type { FlowBase } from './flow-base.js';
import type { FlowTokens } from './flow-token.js';
import type { TransportProtocol } from './flow.js';

export interface FlowTableOptions {
  tokens: FlowTokens;
  /** Most UDP entries; beyond it the oldest UDP flow is dropped. */
  maxUdpFlows: number;
  /** UDP flows idle (no send, no receive) this long are dropped by the sweep. */
  udpFlowIdleMs: number;
  /** How often the UDP sweep runs. @default udpFlowIdleMs / 4, between 1 s and 60 s */
  sweepIntervalMs?: number;
  /** Rebuild a UDP flow from a token's 5-tuple; undefined when that listener is not up. */
  rebuildUdp?: (listenerIndex: number, address: string, port: number) => FlowBase | undefined;
  /** The flow that took over a closed one (flow recovery: the same client on a new connection). */
  aliasResolver?: (flowId: string) => FlowBase | undefined;
}

export type FlowClosedListener = (flow: FlowBase, reason: string) => void;

/**
 * Every open flow by id. Connection flows live as long as their connection;
 * UDP flows are soft state, expired by one coarse sweep and rebuilt from their
 * token when a request needs them again (RFC 5626 §5.3).
 */
export class FlowTable {
  readonly #options: FlowTableOptions;

  /** The tokens naming these flows. */
  get tokens(): FlowTokens {
    return this.#options.tokens;
  }

  readonly #connections = new Map<string, FlowBase>();
  /** Insertion order doubles as age order for eviction. */
  readonly #udp = new Map<string, FlowBase>();
  /** Connection flows by `transport address port`, for reuse by connect(). */
  readonly #byRemote = new Map<string, FlowBase>();
  readonly #unsubscribe = new Map<string, () => void>();
  readonly #closeListeners = new Set<FlowClosedListener>();
  /**
   * UDP flows closed on purpose (e.g. the phone stopped answering keepalives),
   * by id → expiry (ms): their tokens answer 'gone' instead of being rebuilt,
   * until the peer sends again from that address.
   */
  readonly #deadUdp = new Map<string, number>();
  #sweepTimer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: FlowTableOptions) {
    this.#options = options;
  }

  get size(): number {
    return this.#connections.size + this.#udp.size;
  }

  get udpSize(): number {
    return this.#udp.size;
  }

  /** Set by the transport layer once its UDP listeners exist. */
  set rebuildUdp(fn: FlowTableOptions['rebuildUdp']) {
    this.#options.rebuildUdp = fn;
  }

  /** Set by flow recovery: a token naming a closed flow reaches the flow its client came back on. */
  set aliasResolver(fn: FlowTableOptions['aliasResolver']) {
    this.#options.aliasResolver = fn;
  }

  get(id: string): FlowBase | undefined {
    // UDP first: every datagram looks its flow up here, and under call load the UDP flows are most of them.
    return this.#udp.get(id) ?? this.#connections.get(id);
  }

  *values(): IterableIterator<FlowBase> {
    yield* this.#connections.values();
    yield* this.#udp.values();
  }

  /** Track an open flow until it closes. Returns the flow already held under that id, if any. */
  add(flow: FlowBase): FlowBase {
    if (this.#closed || flow.closed) throw new Error(`cannot add flow ${flow.id}: ${this.#closed ? 'table closed' : 'flow closed'}`);
    const existing = this.get(flow.id);
    if (existing !== undefined) return existing;
    if (flow.transport === 'udp') {
      this.#deadUdp.delete(flow.id);
      if (this.#udp.size >= this.#options.maxUdpFlows) this.#makeUdpRoom();
      this.#udp.set(flow.id, flow);
      this.#startSweep();
    } else {
      this.#connections.set(flow.id, flow);
      this.#byRemote.set(remoteKey(flow.transport, flow.remote.address, flow.remote.port), flow);
    }
    this.#unsubscribe.set(flow.id, flow.onClose((f, reason) => this.#forget(f, reason)));
    return flow;
  }

  /** The open connection flow (TCP, TLS, WS, WSS) to that remote address and port, if any. */
  byRemote(transport: TransportProtocol, address: string, port: number): FlowBase | undefined {
    const flow = this.#byRemote.get(remoteKey(transport, address, port));
    return flow === undefined || flow.closed ? undefined : flow;
  }

  /** Close the flow and drop it. */
  delete(id: string): boolean {
    const flow = this.get(id);
    if (flow === undefined) return false;
    flow.close('deleted');
    return true;
  }

  /**
   * The flow a token names. 'tampered' covers every token we did not issue
   * (answer 403); 'gone' a flow that closed and cannot be rebuilt (answer 430).
   * RFC 5626 §5.3.
   */
  byToken(token: string): Result<FlowBase, 'tampered' | 'gone'> {
    const verified = this.#options.tokens.verify(token);
    if (!verified.ok) return fail('tampered');
    const { flowId, udp } = verified.value;
    const flow = this.get(flowId);
    if (flow !== undefined && !flow.closed) return ok(flow);
    const alias = this.#closed ? undefined : this.#options.aliasResolver?.(flowId);
    if (alias !== undefined) return ok(alias);
    if (udp === undefined || this.#closed) return fail('gone');
    const deadUntil = this.#deadUdp.get(flowId);
    if (deadUntil !== undefined) {
      if (deadUntil > performance.now()) return fail('gone');
      this.#deadUdp.delete(flowId);
    }
    const rebuilt = this.#options.rebuildUdp?.(udp.listenerIndex, udp.address, udp.port);
    return rebuilt === undefined ? fail('gone') : ok(rebuilt);
  }

  /** Called with every flow that closes while in the table. Returns an unsubscribe function. */
  onClose(listener: FlowClosedListener): () => void {
    this.#closeListeners.add(listener);
    return () => this.#closeListeners.delete(listener);
  }

  /** Drop UDP flows idle longer than udpFlowIdleMs; runs on the sweep timer. */
  sweep(now: number = performance.now()): void {
    const cutoff = now - this.#options.udpFlowIdleMs;
    // Deleting the current entry while iterating a Map is safe.
    for (const flow of this.#udp.values()) {
      if (flow.lastActivity <= cutoff) flow.close('udp-idle');
    }
    if (this.#udp.size === 0) this.#stopSweep();
  }

  /** Close every flow and stop the sweep. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopSweep();
    for (const flow of [...this.values()]) flow.close('shutdown');
    this.#connections.clear();
    this.#udp.clear();
    this.#byRemote.clear();
    this.#deadUdp.clear();
    this.#unsubscribe.clear();
    this.#closeListeners.clear();
  }

  #forget(flow: FlowBase, reason: string): void {
    const map = flow.transport === 'udp' ? this.#udp : this.#connections;
    if (map.get(flow.id) !== flow) return;
    map.delete(flow.id);
    if (flow.transport !== 'udp') {
      const key = remoteKey(flow.transport, flow.remote.address, flow.remote.port);
      if (this.#byRemote.get(key) === flow) this.#byRemote.delete(key);
    }
    this.#unsubscribe.delete(flow.id);
    if (flow.transport === 'udp' && !SOFT_UDP_CLOSE.has(reason)) this.#rememberDead(flow.id);
    for (const l of this.#closeListeners) l(flow, reason);
  }

  #rememberDead(id: string): void {
    if (this.#deadUdp.size >= DEAD_UDP_MAX) {
      const oldest = this.#deadUdp.keys().next().value;
      if (oldest !== undefined) this.#deadUdp.delete(oldest);
    }
    this.#deadUdp.set(id, performance.now() + DEAD_UDP_TTL_MS);
  }

  #makeUdpRoom(): void {
    this.sweep();
    while (this.#udp.size >= this.#options.maxUdpFlows) {
      const oldest = this.#udp.values().next();
      if (oldest.done === true) break;
      oldest.value.close('udp-evicted');
    }
  }

  #startSweep(): void {
    if (this.#sweepTimer !== undefined) return;
    const every = this.#options.sweepIntervalMs ?? Math.min(60_000, Math.max(1000, this.#options.udpFlowIdleMs / 4));
    this.#sweepTimer = setInterval(() => this.sweep(), every);
    this.#sweepTimer.unref();
  }

  #stopSweep(): void {
    if (this.#sweepTimer === undefined) return;
    clearInterval(this.#sweepTimer);
    this.#sweepTimer = undefined;
  }
}

/** Closes that only end our soft state: the peer may well still be there. */
const SOFT_UDP_CLOSE: ReadonlySet<string> = new Set(['udp-idle', 'udp-evicted', 'shutdown']);
const DEAD_UDP_TTL_MS = 3_600_000;
const DEAD_UDP_MAX = 100_000;

function remoteKey(transport: TransportProtocol, address: string, port: number): string {
  return `${transport} ${address} ${port}`;
}
