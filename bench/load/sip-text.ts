/**
 * Just enough SIP text handling for the load tools: split a datagram into
 * its start line and header lines, find a header by name (full or compact
 * form), read a tag. Deliberately not our parser: the load tools must cost
 * little CPU and must not share the code they measure.
 */

/** A message cut at its header boundary; header lines keep their original text. */
export interface SipText {
  startLine: string;
  lines: string[];
  body: string;
}

/** Compact forms (RFC 3261 §7.3.3) of the headers the load tools read. */
const COMPACT: Readonly<Record<string, string>> = {
  'call-id': 'i',
  via: 'v',
  from: 'f',
  to: 't',
  contact: 'm',
  'content-length': 'l',
};

/** Split raw text into start line, header lines and body. */
export function splitMessage(text: string): SipText {
  let end = text.indexOf('\r\n\r\n');
  if (end < 0) end = text.length;
  const head = text.slice(0, end);
  const body = end + 4 <= text.length ? text.slice(end + 4) : '';
  const lines = head.split('\r\n');
  const startLine = lines.shift() ?? '';
  return { startLine, lines, body };
}

/** The header name of one line, lower-cased; '' for a continuation line. */
export function lineName(line: string): string {
  const colon = line.indexOf(':');
  if (colon <= 0) return '';
  return line.slice(0, colon).trimEnd().toLowerCase();
}

/** The value part of one header line. */
export function lineValue(line: string): string {
  return line.slice(line.indexOf(':') + 1).trim();
}

/** Whether `line` is a header called `name` (lower-case full name), in full or compact form. */
export function isHeader(line: string, name: string): boolean {
  const n = lineName(line);
  return n === name || (n.length === 1 && COMPACT[name] === n);
}

/** Every line of header `name`, in order. */
export function headerLines(msg: SipText, name: string): string[] {
  const out: string[] = [];
  for (const line of msg.lines) if (isHeader(line, name)) out.push(line);
  return out;
}

/** Value of the first header `name`, or undefined. */
export function headerValue(msg: SipText, name: string): string | undefined {
  for (const line of msg.lines) if (isHeader(line, name)) return lineValue(line);
  return undefined;
}

/** `tag` parameter of a From/To value, or undefined. */
export function tagOf(value: string): string | undefined {
  const m = /;\s*tag=([^;>\s,]+)/i.exec(value);
  return m?.[1];
}

/** The URI inside `<...>` of a name-addr, or the value up to its parameters. */
export function uriOf(value: string): string {
  const lt = value.indexOf('<');
  if (lt >= 0) {
    const gt = value.indexOf('>', lt);
    return value.slice(lt + 1, gt < 0 ? undefined : gt);
  }
  const semi = value.indexOf(';');
  return (semi < 0 ? value : value.slice(0, semi)).trim();
}

/**
 * Entries of every Record-Route header, top to bottom, as written
 * (`<sip:...;lr>`). Comma-separated values are split outside `<>`.
 */
export function recordRoutes(msg: SipText): string[] {
  const out: string[] = [];
  for (const line of headerLines(msg, 'record-route')) {
    const value = lineValue(line);
    let depth = 0;
    let start = 0;
    for (let i = 0; i < value.length; i++) {
      const c = value[i];
      if (c === '<') depth++;
      else if (c === '>') depth--;
      else if (c === ',' && depth === 0) {
        out.push(value.slice(start, i).trim());
        start = i + 1;
      }
    }
    out.push(value.slice(start).trim());
  }
  return out.filter((e) => e !== '');
}

/** Method named in a CSeq value (`1 INVITE` → `INVITE`). */
export function cseqMethod(value: string): string {
  const space = value.lastIndexOf(' ');
  return value.slice(space + 1).trim();
}

/** Status code of a response start line (`SIP/2.0 200 OK` → 200); 0 when it is a request. */
export function statusOf(startLine: string): number {
  if (!startLine.startsWith('SIP/2.0 ')) return 0;
  return Number(startLine.slice(8, 11));
}

/** Build a message from a start line, header lines and an optional body; Content-Length is added. */
export function buildMessage(startLine: string, headers: readonly string[], body = ''): string {
  return `${startLine}\r\n${headers.join('\r\n')}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}
