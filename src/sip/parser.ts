import type { SipMessage } from './message.js';
import type { Result } from './result.js';

/** Safe defaults for every parser limit, in one place. */
export const PARSER_LIMITS = {
  maxMessageBytes: 65535,
  maxHeaderCount: 128,
  maxHeaderLineBytes: 8192,
} as const;

export interface ParserLimits {
  maxMessageBytes: number;
  maxHeaderCount: number;
  maxHeaderLineBytes: number;
}

export type ParseErrorCode =
  | 'empty' | 'bad-start-line' | 'bad-version' | 'bad-header' | 'too-many-headers'
  | 'header-too-long' | 'too-large' | 'bad-content-length' | 'truncated-body';

export interface ParseError {
  code: ParseErrorCode;
  /** Human-readable, safe to put in a SIP reason phrase. */
  reason: string;
  /** The SIP status a request with this problem should get (400, 413, 513). */
  status: number;
  /**
   * What could be parsed before the problem, when the start line and headers
   * were readable: enough for the core to build an error response.
   */
  partial?: SipMessage;
}

/**
 * Parse one complete datagram or framed message.
 * Never throws: hostile bytes give `{ ok: false }`.
 */
export function parseMessage(_data: Buffer, _limits?: Partial<ParserLimits>): Result<SipMessage, ParseError> {
  throw new Error('not implemented');
}
