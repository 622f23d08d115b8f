import type { BlockList } from 'node:net';
import { cidrList, inCidrList } from '../config/net-formats.js';
import type { Flow } from '../transport/flow.js';
import { SiblingWorkers } from './sibling-workers.js';

/** A backend target as far as recognising its traffic goes. */
export interface BackendAddress {
  transport: string;
  address: string;
  port: number;
}

/**
 * Which flows are inside (backends and trusted sources) and which are
 * clients. Backends are recognised by transport, address and port: a client's
 * TCP or WebSocket connection from the port number a backend listens on over
 * UDP is still a client. Trusted sources are CIDRs.
 */
export class InsideSources {
  readonly #trusted: BlockList;
  /** Flows we opened toward backends. */
  readonly #dialed = new WeakSet<Flow>();
  #backends = new Set<string>();
  /** The other workers' own ports (workers > 1), from one of this machine's addresses. */
  readonly #siblings = new SiblingWorkers();
  /** The verdict per flow: a flow's remote address never changes, and the check allocates. */
  #verdicts = new WeakMap<Flow, boolean>();
  /**
   * The trusted-CIDR verdict per address: a new flow from a known address (the
   * next call of a phone on a new port, a NATed site) skips BlockList.check,
   * which builds a SocketAddress each time (~6 µs). Bounded: cleared when full.
   */
  readonly #trustedByAddress = new Map<string, boolean>();

  constructor(trustedCidrs: readonly string[]) {
    this.#trusted = cidrList(trustedCidrs);
  }

  /** The backends now configured (at start and after a reload). */
  setBackends(backends: Iterable<BackendAddress>): void {
    const set = new Set<string>();
    for (const b of backends) set.add(key(b.transport, b.address, b.port));
    this.#backends = set;
    this.#verdicts = new WeakMap();
  }

  /**
   * The other workers of this gateway (workers > 1): what they send from
   * their own ports, from an address of this machine, is inside (a call
   * relayed to the worker holding the callee's flow).
   */
  setSiblings(ports: Iterable<{ transport: string; port: number }>): void {
    this.#siblings.set(ports);
    this.#verdicts = new WeakMap();
  }

  /** A flow we opened toward a backend target. */
  markDialed(flow: Flow): void {
    this.#dialed.add(flow);
  }

  has(flow: Flow): boolean {
    if (this.#dialed.has(flow)) return true;
    let inside = this.#verdicts.get(flow);
    if (inside === undefined) {
      const { address, port, family } = flow.remote;
      inside = this.#backends.has(key(flow.transport, address, port)) || this.#isTrusted(address, family) || this.#siblings.has(flow);
      this.#verdicts.set(flow, inside);
    }
    return inside;
  }

  #isTrusted(address: string, family: string): boolean {
    let trusted = this.#trustedByAddress.get(address);
    if (trusted === undefined) {
      trusted = this.#trusted.check(address, family === 'IPv6' ? 'ipv6' : 'ipv4');
      if (this.#trustedByAddress.size >= TRUSTED_CACHE_MAX) this.#trustedByAddress.clear();
      this.#trustedByAddress.set(address, trusted);
    }
    return trusted;
  }

  /** For a hop with no flow yet (stateless response forwarding, UDP only). */
  hasUdpAddress(address: string, port: number): boolean {
    if (this.#backends.has(key('udp', address, port))) return true;
    return inCidrList(this.#trusted, address);
  }
}

/** Addresses whose trusted-CIDR verdict is remembered at most. */
const TRUSTED_CACHE_MAX = 4096;

function key(transport: string, address: string, port: number): string {
  return `${transport} ${address}:${port}`;
}
