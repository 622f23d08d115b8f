import { isIPv6 } from 'node:net';
import { fail, ok, type Result } from '../sip/result.js';

/** A `host:port` listen address, host without brackets. */
export interface ListenAddress {
  host: string;
  port: number;
}

/**
 * Parse `admin.listen`: `host:port`, with an IPv6 host in brackets
 * (`[::1]:9060`). Port 0 asks the OS for a free port.
 */
export function parseListenAddress(listen: string): Result<ListenAddress> {
  let host: string;
  let portText: string;
  if (listen.startsWith('[')) {
    const close = listen.indexOf(']');
    if (close < 0 || listen[close + 1] !== ':') return fail(`"${listen}" is not [IPv6]:port`);
    host = listen.slice(1, close);
    portText = listen.slice(close + 2);
    if (!isIPv6(host)) return fail(`"${host}" is not an IPv6 address`);
  } else {
    const colon = listen.lastIndexOf(':');
    if (colon <= 0) return fail(`"${listen}" is not host:port`);
    host = listen.slice(0, colon);
    portText = listen.slice(colon + 1);
    if (host.includes(':')) return fail(`"${listen}": an IPv6 address needs brackets, e.g. [::1]:9060`);
  }
  if (!/^\d{1,5}$/.test(portText)) return fail(`"${listen}": port must be a number 0-65535`);
  const port = Number(portText);
  if (port > 65535) return fail(`"${listen}": port must be a number 0-65535`);
  return ok({ host, port });
}

/**
 * The URL a local client uses to reach a listener: a wildcard address is
 * reached over loopback, and an IPv6 host gets its brackets back.
 */
export function listenUrl({ host, port }: ListenAddress): string {
  const reachable = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `http://${reachable.includes(':') ? `[${reachable}]` : reachable}:${port}`;
}
