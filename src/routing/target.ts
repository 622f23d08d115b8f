import { isIP } from 'node:net';
import { fail, ok, type Result } from '../sip/result.js';
import type { TargetSpec } from './spec.js';

/** Transports a backend target can be reached on. */
export type TargetTransport = 'udp' | 'tcp' | 'tls';

/** What the last health probe of a target saw. */
export interface LastProbe {
  /** ISO 8601 time the probe finished. */
  at: string;
  /** `response 200`, `response 503`, `timeout` or `error: <message>`. */
  outcome: string;
  /** Round trip, for probes that got a response. */
  rttMs?: number;
}

/**
 * One backend target of a dispatcher group, with its health. The dispatcher
 * owns and updates these objects; everyone else reads them (hence readonly).
 */
export interface Target {
  /** `<group>/<uri>`: stable across reloads while the uri is unchanged. */
  readonly id: string;
  readonly group: string;
  /** The URI as configured. */
  readonly uri: string;
  readonly transport: TargetTransport;
  /** Host as written (IPv6 without brackets, names lower-cased). */
  readonly host: string;
  readonly port: number;
  /** Resolved IP address to send to; undefined while the name is unresolved. */
  readonly address?: string;
  readonly weight: number;
  readonly priority: number;
  /** Selectable. A down target is skipped by select(). */
  readonly up: boolean;
  /** Why the target is down, when it is. */
  readonly reason?: string;
  /** Requests currently relayed to this target (acquire/release). */
  readonly inFlight: number;
  readonly consecutiveFailures: number;
  readonly consecutiveSuccesses: number;
  readonly lastProbe?: LastProbe;
}

/** The dispatcher's own, writable view of a Target. */
export type MutableTarget = { -readonly [K in keyof Target]: Target[K] };

/** The parts of a target URI that say where to send. */
export interface TargetAddress {
  transport: TargetTransport;
  host: string;
  port: number;
}

const DEFAULT_PORT: Readonly<Record<TargetTransport, number>> = { udp: 5060, tcp: 5060, tls: 5061 };

/**
 * Parse a target URI: `sip:host[:port][;transport=udp|tcp|tls]`, or `sips:` for
 * TLS (RFC 3261 §19.1.2: default port 5060, 5061 for TLS). A user part and
 * other parameters are accepted and ignored; they do not change where we send.
 */
export function parseTargetUri(uri: string): Result<TargetAddress> {
  const text = uri.trim();
  const colon = text.indexOf(':');
  const scheme = colon > 0 ? text.slice(0, colon).toLowerCase() : '';
  if (scheme !== 'sip' && scheme !== 'sips') return fail(`"${uri}" is not a sip: or sips: URI`);
  let rest = text.slice(colon + 1);
  const headersAt = rest.indexOf('?');
  if (headersAt >= 0) rest = rest.slice(0, headersAt);
  const [hostPortUser = '', ...params] = rest.split(';');
  const at = hostPortUser.lastIndexOf('@');
  const hostPort = at >= 0 ? hostPortUser.slice(at + 1) : hostPortUser;

  let host: string;
  let portText: string | undefined;
  if (hostPort.startsWith('[')) {
    const close = hostPort.indexOf(']');
    if (close < 0) return fail(`"${uri}": unterminated IPv6 reference`);
    host = hostPort.slice(1, close);
    if (isIP(host) !== 6) return fail(`"${uri}": "${host}" is not an IPv6 address`);
    const after = hostPort.slice(close + 1);
    if (after !== '' && !after.startsWith(':')) return fail(`"${uri}": unexpected "${after}" after the host`);
    portText = after === '' ? undefined : after.slice(1);
  } else {
    const portAt = hostPort.indexOf(':');
    host = portAt >= 0 ? hostPort.slice(0, portAt) : hostPort;
    portText = portAt >= 0 ? hostPort.slice(portAt + 1) : undefined;
    if (!isHostName(host)) return fail(`"${uri}": "${host}" is not a host name or IP address`);
    host = host.toLowerCase();
  }

  let transport: TargetTransport = scheme === 'sips' ? 'tls' : 'udp';
  for (const param of params) {
    const eq = param.indexOf('=');
    const name = (eq >= 0 ? param.slice(0, eq) : param).trim().toLowerCase();
    if (name !== 'transport') continue;
    const value = (eq >= 0 ? param.slice(eq + 1) : '').trim().toLowerCase();
    if (value !== 'udp' && value !== 'tcp' && value !== 'tls') {
      return fail(`"${uri}": transport "${value}" is not supported for backends (use udp, tcp or tls)`);
    }
    // sips means TLS on every hop (RFC 3261 §26.2.2); ;transport=tcp under sips is still TLS.
    if (scheme === 'sips' && value === 'udp') return fail(`"${uri}": sips cannot use transport=udp`);
    transport = scheme === 'sips' ? 'tls' : value;
  }

  let port = DEFAULT_PORT[transport];
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText)) return fail(`"${uri}": port "${portText}" is not a number`);
    port = Number(portText);
    if (port < 1 || port > 65535) return fail(`"${uri}": port ${port} is out of range`);
  }
  return ok({ transport, host, port });
}

/** A fresh target for `group`; IP hosts are resolved already, names wait for the dispatcher. */
export function createTarget(group: string, spec: TargetSpec, where: TargetAddress): MutableTarget {
  const literal = isIP(where.host) !== 0;
  return {
    id: `${group}/${spec.uri}`,
    group,
    uri: spec.uri,
    transport: where.transport,
    host: where.host,
    port: where.port,
    address: literal ? where.host : undefined,
    weight: spec.weight,
    priority: spec.priority,
    // Optimistic start: a configured target takes traffic until probes or
    // failed requests say otherwise, so the first calls after start-up do
    // not wait a probe interval. A name is not usable before it resolves.
    up: literal,
    reason: literal ? undefined : 'resolving host name',
    inFlight: 0,
    consecutiveFailures: 0,
    consecutiveSuccesses: 0,
    lastProbe: undefined,
  };
}

function isHostName(host: string): boolean {
  if (host === '' || host.length > 253) return false;
  if (isIP(host) === 4) return true;
  for (const label of host.split('.')) {
    if (label === '' || label.length > 63) return false;
    if (!/^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$/.test(label)) return false;
  }
  return true;
}
