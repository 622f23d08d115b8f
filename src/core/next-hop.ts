import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { TransportProtocol } from '../transport/flow.js';
import type { SipUri } from '../sip/uri.js';

/** Where a request goes next: a transport and an address we can send to. */
export interface Destination {
  transport: TransportProtocol;
  address: string;
  port: number;
}

const DEFAULT_PORT: Readonly<Record<TransportProtocol, number>> = { udp: 5060, tcp: 5060, tls: 5061, ws: 80, wss: 443 };
const TRANSPORTS: ReadonlySet<string> = new Set(['udp', 'tcp', 'tls', 'ws', 'wss']);

/** Transport a URI asks for (RFC 3261 §19.1.4 / RFC 3263 without NAPTR/SRV). */
export function uriTransport(uri: SipUri): TransportProtocol {
  const t = uri.params.get('transport')?.toLowerCase();
  if (t !== undefined && TRANSPORTS.has(t)) return t as TransportProtocol;
  return uri.scheme === 'sips' ? 'tls' : 'udp';
}

export function defaultPort(transport: TransportProtocol): number {
  return DEFAULT_PORT[transport];
}

const DNS_TTL_MS = 60_000;
const DNS_MAX = 4096;
const dnsCache = new Map<string, { address: string; expires: number }>();

/**
 * Resolve a URI to a destination (A/AAAA only; no SRV). Undefined when the
 * host does not resolve. WS/WSS destinations are returned as such: they can
 * only be reached over an existing flow.
 */
export async function resolveUri(uri: SipUri): Promise<Destination | undefined> {
  const transport = uriTransport(uri);
  const port = uri.port ?? DEFAULT_PORT[transport];
  if (isIP(uri.host) !== 0) return { transport, address: uri.host, port };
  const now = Date.now();
  const cached = dnsCache.get(uri.host);
  if (cached !== undefined && cached.expires > now) return { transport, address: cached.address, port };
  try {
    const { address } = await lookup(uri.host);
    if (dnsCache.size >= DNS_MAX) dnsCache.clear();
    dnsCache.set(uri.host, { address, expires: now + DNS_TTL_MS });
    return { transport, address, port };
  } catch {
    return undefined;
  }
}
