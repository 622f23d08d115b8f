import type { Result } from './result.js';

/** URI or header parameters in wire order; names lower-cased, a flag parameter has value null. */
export type Params = Map<string, string | null>;

export interface SipUri {
  scheme: 'sip' | 'sips' | 'tel' | string;
  /** Unescaped user part; undefined when absent. */
  user?: string;
  password?: string;
  /** Host as written, IPv6 references without brackets (`::1`), domain names lower-cased. */
  host: string;
  port?: number;
  params: Params;
  /** `?name=value&...` part, raw, without the `?`. */
  headers?: string;
}

/** Parse a SIP/SIPS URI (RFC 3261 §19.1, §25.1); other schemes keep everything after ':' in `user`. */
export function parseUri(_text: string): Result<SipUri> {
  throw new Error('not implemented');
}

/** Serialize a URI, re-escaping the user part and bracketing IPv6 hosts. */
export function formatUri(_uri: SipUri): string {
  throw new Error('not implemented');
}

/** `host` or `[v6]` with optional `:port`. */
export function formatHostPort(host: string, port?: number): string {
  const h = host.includes(':') ? `[${host}]` : host;
  return port === undefined ? h : `${h}:${port}`;
}
