import { isKeepalive } from '../sip/framer.js';

/**
 * CRLF keepalives on message transports (RFC 5626 §4.4.1, RFC 7118 §6 as
 * SIP.js uses it): a double CRLF is a ping that wants a single CRLF back; a
 * single CRLF is the pong. Streams get the same treatment from the framer.
 */
export type CrlfKeepalive = 'ping' | 'pong';

export const CRLF_PONG: Buffer = Buffer.from('\r\n');

/** 'ping' / 'pong' for a message made only of CR and LF, else undefined (a SIP message). */
export function crlfKeepalive(data: Buffer): CrlfKeepalive | undefined {
  if (!isKeepalive(data)) return undefined;
  return data.length >= 4 ? 'ping' : 'pong';
}
