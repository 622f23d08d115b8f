/**
 * Splits a TCP/TLS byte stream into SIP messages.
 *
 *   ┌──────────┐ start-line byte ┌──────────┐ empty line + Content-Length ┌──────────┐
 *   │ between  │────────────────►│  head    │────────────────────────────►│  body    │
 *   │ messages │◄────────────────┴──────────┴─────────────────────────────│          │
 *   └──────────┘          message complete (event 'message')               └──────────┘
 *     CRLFCRLF → 'ping', CRLF → pong (skipped); any limit violated → 'error', then nothing more.
 */
import { PARSER_LIMITS, findHeadEnd, type ParseError } from './parser.js';

export type FramerEvent =
  | { kind: 'message'; data: Buffer }
  /** The peer sent a double CRLF; answer with a single CRLF (RFC 5626 §4.4.1, §5.4). */
  | { kind: 'ping' }
  /** The stream is unusable; the caller closes the connection. */
  | { kind: 'error'; error: ParseError };

export interface FramerLimits {
  /** Header section plus body. */
  maxMessageBytes: number;
  /** Bytes buffered while looking for the empty line that ends the headers. */
  maxHeaderBytes: number;
}

/** Safe defaults, in one place. */
export const FRAMER_LIMITS: Readonly<FramerLimits> = {
  maxMessageBytes: PARSER_LIMITS.maxMessageBytes,
  maxHeaderBytes: 16384,
};

const EMPTY = Buffer.alloc(0);

function streamError(code: ParseError['code'], reason: string, status: number): FramerEvent {
  return { kind: 'error', error: { code, reason, status } };
}

function isContentLengthName(head: string, start: number, colon: number): boolean {
  let end = colon;
  while (end > start && (head.charCodeAt(end - 1) === 32 || head.charCodeAt(end - 1) === 9)) end--;
  const n = end - start;
  if (n === 1) return (head.charCodeAt(start) | 0x20) === 0x6c; // compact "l" (RFC 3261 §7.3.3)
  return n === 14 && head.slice(start, end).toLowerCase() === 'content-length';
}

/** Content-Length in a header section: -2 when absent, -1 when malformed or conflicting. */
function findContentLength(head: string): number {
  let found = -2;
  let nextColon = -1; // remembered so colon-less lines don't rescan the head
  let pos = head.indexOf('\n') + 1; // skip the start line
  while (pos > 0 && pos < head.length) {
    let next = head.indexOf('\n', pos);
    if (next < 0) next = head.length;
    if (nextColon < pos) {
      nextColon = head.indexOf(':', pos);
      if (nextColon === -1) nextColon = head.length + 1;
    }
    const colon = nextColon;
    if (colon > pos && colon < next && isContentLengthName(head, pos, colon)) {
      let value = head.slice(colon + 1, next).trim();
      // A folded value continues on lines that start with whitespace.
      let cont = next + 1;
      while (cont < head.length && (head.charCodeAt(cont) === 32 || head.charCodeAt(cont) === 9)) {
        let end = head.indexOf('\n', cont);
        if (end < 0) end = head.length;
        value += head.slice(cont, end).trim();
        cont = end + 1;
      }
      if (!/^\d{1,9}$/.test(value)) return -1;
      const n = Number(value);
      if (found !== -2 && found !== n) return -1;
      found = n;
    }
    pos = next + 1;
  }
  return found;
}

/**
 * Content-Length framing for stream transports (RFC 3261 §18.3): every
 * message must carry Content-Length, bytes are buffered until it is complete.
 * Handles messages split anywhere and several messages in one chunk.
 */
export class StreamFramer {
  readonly #limits: FramerLimits;
  #buf: Buffer = EMPTY;
  /** Bytes already searched for the end of the header section. */
  #scanned = 0;
  /** Total size of the message being received once its head is known, else -1. */
  #expected = -1;
  #closed = false;

  constructor(limits: Partial<FramerLimits> = {}) {
    this.#limits = { ...FRAMER_LIMITS, ...limits };
  }

  /** Bytes held waiting for the rest of a message. */
  get buffered(): number {
    return this.#buf.length;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Feed bytes; returns the events they complete, in order. After an 'error' nothing more is returned. */
  push(chunk: Buffer): FramerEvent[] {
    const events: FramerEvent[] = [];
    if (this.#closed || chunk.length === 0) return events;
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
    for (;;) {
      if (this.#expected < 0) {
        if (!this.#skipKeepalives(events)) break;
        const head = this.#readHead();
        if (head === undefined) break;
        if (head.kind === 'error') {
          events.push(head);
          this.close();
          break;
        }
      }
      if (this.#buf.length < this.#expected) break;
      events.push({ kind: 'message', data: this.#buf.subarray(0, this.#expected) });
      this.#buf = this.#buf.length === this.#expected ? EMPTY : this.#buf.subarray(this.#expected);
      this.#expected = -1;
      this.#scanned = 0;
    }
    return events;
  }

  /** Idempotent: drops buffered bytes; later pushes return nothing. */
  close(): void {
    this.#closed = true;
    this.#buf = EMPTY;
    this.#expected = -1;
  }

  /**
   * Consume CRLF keepalives before a message. Returns true when a message
   * start byte is next, false when more bytes are needed.
   */
  #skipKeepalives(events: FramerEvent[]): boolean {
    let buf = this.#buf;
    let p = 0;
    for (;;) {
      const left = buf.length - p;
      if (left === 0) break;
      const c = buf[p];
      if (c === 10) {
        p++; // a stray LF before a start line is ignored (RFC 3261 §7.5)
        continue;
      }
      if (c !== 13) break;
      if (left < 2) break;
      if (buf[p + 1] !== 10) {
        p++;
        continue;
      }
      // CRLF: a pong unless another CRLF follows, which makes it a ping (RFC 5626 §4.4.1).
      if (left < 3) break;
      if (buf[p + 2] !== 13) {
        p += 2;
        continue;
      }
      if (left < 4) break;
      if (buf[p + 3] === 10) {
        events.push({ kind: 'ping' });
        p += 4;
      } else p += 2;
    }
    if (p > 0) {
      buf = p === buf.length ? EMPTY : buf.subarray(p);
      this.#buf = buf;
      this.#scanned = 0;
    }
    return buf.length > 0 && buf[0] !== 13;
  }

  /** Find the header section and the message size; undefined when more bytes are needed. */
  #readHead(): FramerEvent | { kind: 'head' } | undefined {
    const buf = this.#buf;
    const extent = findHeadEnd(buf, Math.max(0, this.#scanned - 2));
    if (extent === undefined) {
      if (buf.length > this.#limits.maxHeaderBytes) return streamError('header-too-long', 'Header Section Too Large', 513);
      this.#scanned = buf.length;
      return undefined;
    }
    if (extent.bodyStart > this.#limits.maxHeaderBytes) return streamError('header-too-long', 'Header Section Too Large', 513);
    const contentLength = findContentLength(buf.toString('latin1', 0, extent.headEnd));
    if (contentLength === -2) return streamError('bad-content-length', 'Content-Length Required On Streams', 400);
    if (contentLength === -1) return streamError('bad-content-length', 'Bad Content-Length', 400);
    const total = extent.bodyStart + contentLength;
    if (total > this.#limits.maxMessageBytes) return streamError('too-large', 'Message Too Large', 513);
    this.#expected = total;
    return { kind: 'head' };
  }
}

/** A WebSocket message made only of CR/LF bytes is a keepalive, not SIP (RFC 7118 §6, RFC 5626 §4.4.1). */
export function isKeepalive(message: Buffer | string): boolean {
  if (message.length === 0) return false;
  if (typeof message === 'string') {
    for (let i = 0; i < message.length; i++) {
      const c = message.charCodeAt(i);
      if (c !== 13 && c !== 10) return false;
    }
    return true;
  }
  for (let i = 0; i < message.length; i++) {
    const c = message[i];
    if (c !== 13 && c !== 10) return false;
  }
  return true;
}
