import type { Result } from '../result.js';
import type { Params } from '../uri.js';

/** One Via value (RFC 3261 §20.42). */
export interface Via {
  /** Upper-case transport token: UDP, TCP, TLS, WS, WSS, SCTP. */
  transport: string;
  host: string;
  port?: number;
  params: Params;
}

/** Parse every Via value of a header line (comma-joined allowed). */
export function parseVia(_value: string): Result<Via[]> {
  throw new Error('not implemented');
}

export function formatVia(_via: Via): string {
  throw new Error('not implemented');
}

/** The branch parameter, if any. */
export function viaBranch(via: Via): string | undefined {
  return via.params.get('branch') ?? undefined;
}
