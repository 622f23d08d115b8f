import { isDigit, isTokenChar, isWsp } from './chars.js';
import { canonicalName, HeaderList, type HeaderField } from './headers.js';
import { SipRequest, SipResponse, type SipMessage } from './message.js';
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

/** Status per error code: size problems are 513 Message Too Large (RFC 3261 §21.5.14), a foreign version 505 (§21.5.7). */
const STATUS: Readonly<Record<ParseErrorCode, number>> = {
  'empty': 400,
  'bad-start-line': 400,
  'bad-version': 505,
  'bad-header': 400,
  'too-many-headers': 513,
  'header-too-long': 513,
  'too-large': 513,
  'bad-content-length': 400,
  'truncated-body': 400,
};

function parseError(code: ParseErrorCode, reason: string, partial?: SipMessage): { ok: false; error: ParseError } {
  const error: ParseError = { code, reason, status: STATUS[code] };
  if (partial !== undefined) error.partial = partial;
  return { ok: false, error };
}

const NL_CRLF = Buffer.from('\n\r\n');
const LF_LF = Buffer.from('\n\n');

/** The header section's extent: `headEnd` is the index of the LF ending the last header line. */
interface HeadExtent {
  headEnd: number;
  bodyStart: number;
}

/**
 * Find the empty line that ends the header section. CRLF is the rule; LF-only
 * line ends are tolerated (RFC 3261 §7.5 asks for leniency on receipt).
 */
export function findHeadEnd(data: Buffer, from: number): HeadExtent | undefined {
  const crlf = data.indexOf(NL_CRLF, from);
  const lfScope = crlf >= 0 ? data.subarray(0, crlf + 1) : data;
  const lf = lfScope.indexOf(LF_LF, from);
  if (lf >= 0) return { headEnd: lf, bodyStart: lf + 2 };
  if (crlf >= 0) return { headEnd: crlf, bodyStart: crlf + 3 };
  return undefined;
}

type StartLine =
  | { ok: true; kind: 'request'; method: string; uri: string }
  | { ok: true; kind: 'response'; status: number; reason: string }
  | { ok: false; code: ParseErrorCode; reason: string };

function isSipVersion(s: string, at: number): boolean {
  // SIP-Version is case-insensitive on receipt (RFC 3261 §7.1).
  return s.length - at >= 7 && (s.charCodeAt(at) | 0x20) === 0x73 && (s.charCodeAt(at + 1) | 0x20) === 0x69 &&
    (s.charCodeAt(at + 2) | 0x20) === 0x70 && s.startsWith('/2.0', at + 3);
}

function startsWithSipSlash(s: string, at: number): boolean {
  return s.length - at >= 4 && (s.charCodeAt(at) | 0x20) === 0x73 && (s.charCodeAt(at + 1) | 0x20) === 0x69 &&
    (s.charCodeAt(at + 2) | 0x20) === 0x70 && s.charCodeAt(at + 3) === 47;
}

/** Request-Line = Method SP Request-URI SP SIP-Version; Status-Line = SIP-Version SP Status-Code SP Reason-Phrase (RFC 3261 §7.1, §7.2). */
function parseStartLine(line: string): StartLine {
  if (startsWithSipSlash(line, 0)) {
    if (!isSipVersion(line, 0) || line.charCodeAt(7) !== 32) {
      return { ok: false, code: 'bad-version', reason: 'Version Not Supported' };
    }
    const c0 = line.charCodeAt(8), c1 = line.charCodeAt(9), c2 = line.charCodeAt(10);
    if (!isDigit(c0) || !isDigit(c1) || !isDigit(c2) || c0 < 49 || c0 > 54) {
      return { ok: false, code: 'bad-start-line', reason: 'Bad Status Line' };
    }
    const status = (c0 - 48) * 100 + (c1 - 48) * 10 + (c2 - 48);
    if (line.length > 11 && line.charCodeAt(11) !== 32) return { ok: false, code: 'bad-start-line', reason: 'Bad Status Line' };
    return { ok: true, kind: 'response', status, reason: line.length > 12 ? line.slice(12) : '' };
  }
  const sp1 = line.indexOf(' ');
  const sp2 = line.lastIndexOf(' ');
  if (sp1 <= 0 || sp2 <= sp1 + 1) return { ok: false, code: 'bad-start-line', reason: 'Bad Request Line' };
  for (let i = 0; i < sp1; i++) {
    if (!isTokenChar(line.charCodeAt(i))) return { ok: false, code: 'bad-start-line', reason: 'Bad Method' };
  }
  const uri = line.slice(sp1 + 1, sp2);
  // Exactly one SP between elements; a URI with whitespace or controls is malformed (RFC 4475 §3.1.2.10).
  for (let i = 0; i < uri.length; i++) {
    const c = uri.charCodeAt(i);
    if (c <= 32 || c === 127) return { ok: false, code: 'bad-start-line', reason: 'Bad Request-URI' };
  }
  if (uri.indexOf(':') <= 0) return { ok: false, code: 'bad-start-line', reason: 'Bad Request-URI' };
  if (!isSipVersion(line, sp2 + 1) || line.length !== sp2 + 8) {
    return startsWithSipSlash(line, sp2 + 1)
      ? { ok: false, code: 'bad-version', reason: 'Version Not Supported' }
      : { ok: false, code: 'bad-start-line', reason: 'Bad Request Line' };
  }
  return { ok: true, kind: 'request', method: line.slice(0, sp1), uri };
}

/**
 * Canonical names of the headers seen in nearly every message, matched by
 * plain string comparison: cheaper than hashing every sliced name.
 */
function commonCanonicalName(raw: string): string | undefined {
  switch (raw.length) {
    case 2: return raw === 'To' ? 'to' : undefined;
    case 3: return raw === 'Via' ? 'via' : undefined;
    case 4: return raw === 'From' ? 'from' : raw === 'CSeq' ? 'cseq' : undefined;
    case 5: return raw === 'Route' ? 'route' : raw === 'Allow' ? 'allow' : undefined;
    case 7: return raw === 'Call-ID' ? 'call-id' : raw === 'Contact' ? 'contact' : raw === 'Expires' ? 'expires' : undefined;
    case 9: return raw === 'Supported' ? 'supported' : undefined;
    case 10: return raw === 'User-Agent' ? 'user-agent' : undefined;
    case 12: return raw === 'Max-Forwards' ? 'max-forwards' : raw === 'Content-Type' ? 'content-type' : raw === 'Record-Route' ? 'record-route' : undefined;
    case 14: return raw === 'Content-Length' ? 'content-length' : undefined;
    default: return undefined;
  }
}

/** Content-Length = 1*DIGIT; returns -1 when malformed. */
function contentLengthValue(value: string): number {
  if (value.length === 0 || value.length > 9) return -1;
  let n = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (!isDigit(c)) return -1;
    n = n * 10 + (c - 48);
  }
  return n;
}

/**
 * Parse one complete datagram or framed message.
 * Never throws: hostile bytes give `{ ok: false }`.
 */
export function parseMessage(data: Buffer, limits?: Partial<ParserLimits>): Result<SipMessage, ParseError> {
  const lim: ParserLimits = limits === undefined ? PARSER_LIMITS : { ...PARSER_LIMITS, ...limits };
  const len = data.length;

  // CRLFs before the start line are ignored (RFC 3261 §7.5); they are also keepalives.
  let start = 0;
  while (start < len && (data[start] === 13 || data[start] === 10)) start++;
  if (start === len) return parseError('empty', 'Empty Message');

  const tooLarge = len - start > lim.maxMessageBytes;
  const scope = tooLarge ? data.subarray(0, start + lim.maxMessageBytes) : data;
  // Fast path: one search for the CRLF empty line. An LF-only empty line before it is
  // noticed while walking the lines, and then the exact search runs.
  const crlf = scope.indexOf(NL_CRLF, start);
  if (crlf >= 0) {
    const r = parseSections(data, scope, start, { headEnd: crlf, bodyStart: crlf + 3 }, lim, tooLarge, true);
    if (r !== LF_EMPTY_LINE) return r;
  }
  const r = parseSections(data, scope, start, findHeadEnd(scope, start), lim, tooLarge, false);
  return r === LF_EMPTY_LINE ? parseError('bad-header', 'Malformed Header Section') : r;
}

/** Returned when an LF-only empty line ends the headers before the CRLF one that was assumed. */
const LF_EMPTY_LINE = Symbol('lf-empty-line');

function parseSections(
  data: Buffer, scope: Buffer, start: number, extent: HeadExtent | undefined,
  lim: ParserLimits, tooLarge: boolean, assumedCrlf: boolean,
): Result<SipMessage, ParseError> | typeof LF_EMPTY_LINE {
  const len = data.length;
  let headEnd: number;
  let bodyStart: number;
  let unterminated = false;
  if (extent !== undefined) {
    headEnd = extent.headEnd;
    bodyStart = extent.bodyStart;
  } else {
    // No empty line: the message is cut off, or a sloppy sender omitted it after the last header.
    headEnd = scope.length;
    bodyStart = scope.length;
    unterminated = tooLarge || scope[scope.length - 1] !== 10;
  }

  const head = scope.toString('utf8', start, headEnd);
  let lineEnd = head.indexOf('\n');
  if (lineEnd < 0) lineEnd = head.length;
  const firstLine = head.charCodeAt(lineEnd - 1) === 13 ? head.slice(0, lineEnd - 1) : head.slice(0, lineEnd);
  if (firstLine.length > lim.maxHeaderLineBytes) return parseError('header-too-long', 'Start Line Too Long');
  const sl = parseStartLine(firstLine);
  if (!sl.ok) return parseError(sl.code, sl.reason);

  const fields: HeaderField[] = [];
  let firstError: ParseErrorCode | undefined;
  let errorReason = '';
  let contentLength = -2; // -2: absent, -1: malformed or conflicting
  const headLen = head.length;
  const maxLine = lim.maxHeaderLineBytes;

  // Walk the header lines by index; values are sliced once from `head`.
  // The next CR and colon positions are remembered so that lines without them
  // don't rescan the rest of the head: the walk stays linear on hostile input.
  let nextCr = -1;
  let nextColon = -1;
  let pos = lineEnd + 1;
  while (pos < headLen) {
    let next = head.indexOf('\n', pos);
    if (next < 0) next = headLen;
    if (next === pos && assumedCrlf) return LF_EMPTY_LINE;
    let end = next > pos && head.charCodeAt(next - 1) === 13 ? next - 1 : next;
    const lineStart = pos;
    pos = next + 1;
    if (end - lineStart > maxLine) {
      if (firstError === undefined) { firstError = 'header-too-long'; errorReason = 'Header Too Long'; }
      continue;
    }
    if (nextCr < lineStart) {
      nextCr = head.indexOf('\r', lineStart);
      if (nextCr === -1) nextCr = headLen + 1; // none left
    }
    if (nextCr < end) {
      if (firstError === undefined) { firstError = 'bad-header'; errorReason = 'Bare CR In Header'; }
      continue;
    }
    const c0 = head.charCodeAt(lineStart);
    if (c0 === 32 || c0 === 9) {
      // A continuation line with no header above it (folds are consumed below).
      if (firstError === undefined) { firstError = 'bad-header'; errorReason = 'Misplaced Continuation Line'; }
      continue;
    }
    if (nextColon < lineStart) {
      nextColon = head.indexOf(':', lineStart);
      if (nextColon === -1) nextColon = headLen + 1;
    }
    const colon = nextColon;
    let nameEnd = colon < end ? colon : -1;
    // LWS between the name and the colon is allowed (RFC 3261 §7.3.1 HCOLON).
    while (nameEnd > lineStart && isWsp(head.charCodeAt(nameEnd - 1))) nameEnd--;
    let valid = nameEnd > lineStart;
    for (let i = lineStart; valid && i < nameEnd; i++) valid = isTokenChar(head.charCodeAt(i));
    if (!valid) {
      if (firstError === undefined) { firstError = 'bad-header'; errorReason = 'Malformed Header'; }
      continue;
    }
    let vs = colon + 1;
    while (vs < end && isWsp(head.charCodeAt(vs))) vs++;
    while (end > vs && isWsp(head.charCodeAt(end - 1))) end--;
    let value = head.slice(vs, end);

    // Line folding: continuation lines join the value with one SP (RFC 3261 §7.3.1).
    while (pos < headLen && isWsp(head.charCodeAt(pos))) {
      let fnext = head.indexOf('\n', pos);
      if (fnext < 0) fnext = headLen;
      let fs = pos;
      let fe = fnext > pos && head.charCodeAt(fnext - 1) === 13 ? fnext - 1 : fnext;
      pos = fnext + 1;
      while (fs < fe && isWsp(head.charCodeAt(fs))) fs++;
      while (fe > fs && isWsp(head.charCodeAt(fe - 1))) fe--;
      if (fe > fs) value = value.length > 0 ? value + ' ' + head.slice(fs, fe) : head.slice(fs, fe);
      if (nextCr < fs) {
        nextCr = head.indexOf('\r', fs);
        if (nextCr === -1) nextCr = headLen + 1;
      }
      if (nextCr < fe && firstError === undefined) { firstError = 'bad-header'; errorReason = 'Bare CR In Header'; }
    }

    if (value.length > maxLine) {
      if (firstError === undefined) { firstError = 'header-too-long'; errorReason = 'Header Too Long'; }
      continue;
    }
    if (fields.length >= lim.maxHeaderCount) {
      if (firstError === undefined) { firstError = 'too-many-headers'; errorReason = 'Too Many Headers'; }
      continue;
    }
    const rawName = head.slice(lineStart, nameEnd);
    const name = commonCanonicalName(rawName) ?? canonicalName(rawName);
    fields.push({ name, rawName, value });
    if (name === 'content-length') {
      const n = contentLengthValue(value);
      contentLength = n < 0 || (contentLength !== -2 && contentLength !== n) ? -1 : n;
    }
  }

  const headers = new HeaderList(fields);
  const msg: SipMessage = sl.kind === 'request'
    ? new SipRequest(sl.method, sl.uri, headers)
    : new SipResponse(sl.status, sl.reason, headers);

  if (tooLarge) return parseError('too-large', 'Message Too Large', unterminated ? undefined : msg);
  if (unterminated) return parseError('bad-header', 'Missing Empty Line After Headers', msg);
  if (firstError !== undefined) return parseError(firstError, errorReason, msg);
  if (contentLength === -1) return parseError('bad-content-length', 'Bad Content-Length', msg);
  if (contentLength >= 0) {
    if (bodyStart + contentLength > len) return parseError('truncated-body', 'Body Shorter Than Content-Length', msg);
    msg.body = data.subarray(bodyStart, bodyStart + contentLength);
  } else {
    // No Content-Length on a datagram: the body is the rest of it (RFC 3261 §18.3).
    msg.body = data.subarray(bodyStart);
  }
  return { ok: true, value: msg };
}
