import { networkInterfaces } from 'node:os';
import type { ListenerInfo, TransportProtocol } from '../transport/flow.js';
import type { SipUri } from '../sip/uri.js';
import { defaultPort, uriTransport } from './next-hop.js';

const WILDCARD = new Set(['0.0.0.0', '::']);

/**
 * Recognises URIs that point at this SBC (our Record-Route, Path and Route
 * entries, and requests addressed to us): host is one of our advertised or
 * bound addresses and the port is one of our listeners'.
 */
export class OwnAddresses {
  readonly #hosts = new Set<string>();
  readonly #listeners: readonly ListenerInfo[];

  constructor(listeners: readonly ListenerInfo[]) {
    this.#listeners = listeners;
    let wildcard = false;
    for (const l of listeners) {
      this.#hosts.add(l.advertise.toLowerCase());
      if (WILDCARD.has(l.address)) wildcard = true;
      else this.#hosts.add(l.address.toLowerCase());
    }
    if (wildcard) {
      for (const addrs of Object.values(networkInterfaces())) for (const a of addrs ?? []) this.#hosts.add(a.address.toLowerCase());
    }
  }

  /** The listener a URI of ours names, or undefined when the URI is not ours. */
  listenerFor(uri: SipUri): ListenerInfo | undefined {
    if (!this.#hosts.has(uri.host.toLowerCase())) return undefined;
    const transport = uriTransport(uri);
    const port = uri.port ?? defaultPort(transport);
    let samePort: ListenerInfo | undefined;
    for (const l of this.#listeners) {
      if (l.boundPort !== port) continue;
      if (l.transport === transport) return l;
      samePort ??= l;
    }
    return samePort;
  }

  isOwn(uri: SipUri): boolean {
    return this.listenerFor(uri) !== undefined;
  }

  /** Is this Via sent-by one of ours (for loop detection). */
  isOwnSentBy(host: string, port: number | undefined, transport: string): boolean {
    if (!this.#hosts.has(host.toLowerCase())) return false;
    const t = transport.toLowerCase() as TransportProtocol;
    const p = port ?? defaultPort(t in { udp: 1, tcp: 1, tls: 1, ws: 1, wss: 1 } ? t : 'udp');
    return this.#listeners.some((l) => l.boundPort === p);
  }
}
