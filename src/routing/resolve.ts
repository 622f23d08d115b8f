import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';

/** Turns a host name into one IP address (IPv4 or IPv6); rejects when it cannot. */
export type HostResolver = (host: string) => Promise<string>;

/**
 * Default resolver: the system resolver (getaddrinfo through dns.lookup, so
 * /etc/hosts counts), first address in the order the system returns them.
 */
export const systemResolver: HostResolver = async (host) => {
  if (isIP(host) !== 0) return host;
  const { address } = await lookup(host, { verbatim: true });
  return address;
};
