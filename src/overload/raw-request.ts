/**
 * Just enough of a request, read from its bytes before the parser runs, to
 * decide whether to shed it and to answer it statelessly: the method, whether
 * To carries a tag, the top Via's branch and sent-by, and the header lines a
 * response copies (RFC 3261 §8.2.6.2). Anything unusual returns undefined and
 * the request takes the ordinary path, where the parser judges it.
 */

/**
 * Methods whose new out-of-dialog requests may be shed. ACK, CANCEL, BYE and
 * PRACK never are: they finish work already admitted (RFC 5390 §5), and
 * neither are in-dialog requests (To tag) nor responses.
 */
const SHEDDABLE: ReadonlySet<string> = new Set(['INVITE', 'REGISTER', 'SUBSCRIBE', 'OPTIONS', 'MESSAGE', 'PUBLISH', 'REFER', 'NOTIFY']);

const MAX_METHOD = 16;

/** The method of a request datagram, or undefined for a response or garbage. Cheap: looks at the first bytes only. */
export function rawMethod(data: Buffer): string | undefined {
  const n = Math.min(data.length, MAX_METHOD + 1);
  for (let i = 0; i < n; i++) {
    const c = data[i]!;
    if (c === 32) return i === 0 ? undefined : data.toString('latin1', 0, i);
    if (c < 65 || c > 90) return undefined; // methods are upper-case tokens in practice; "SIP/2.0" has a slash
  }
  return undefined;
}

/** A method whose out-of-dialog requests may be shed. */
export function isSheddable(method: string): boolean {
  return SHEDDABLE.has(method);
}

export interface RawHead {
  method: string;
  toTag: boolean;
  /** Top Via branch (only z9hG4bK ones are returned; others make the scan fail). */
  branch: string;
  /** Top Via sent-by as the transaction layer keys it: host lower-cased, IPv6 without brackets, `:port` when given. */
  sentBy: string;
  /** Via, From, To, Call-ID, CSeq lines as received, in order (Via lines all, the others once). */
  copied: string[];
  /** Index of the To line in `copied`. */
  toIndex: number;
}

type Copied = 'via' | 'from' | 'to' | 'call-id' | 'cseq';

function copiedName(line: string, colon: number): Copied | undefined {
  let end = colon;
  while (end > 0 && (line.charCodeAt(end - 1) === 32 || line.charCodeAt(end - 1) === 9)) end--;
  switch (end) {
    case 1: {
      const c = line.charCodeAt(0) | 0x20;
      return c === 0x76 ? 'via' : c === 0x66 ? 'from' : c === 0x74 ? 'to' : c === 0x69 ? 'call-id' : undefined;
    }
    case 2: return line.slice(0, 2).toLowerCase() === 'to' ? 'to' : undefined;
    case 3: return line.slice(0, 3).toLowerCase() === 'via' ? 'via' : undefined;
    case 4: {
      const name = line.slice(0, 4).toLowerCase();
      return name === 'from' ? 'from' : name === 'cseq' ? 'cseq' : undefined;
    }
    case 7: return line.slice(0, 7).toLowerCase() === 'call-id' ? 'call-id' : undefined;
    default: return undefined;
  }
}

/** ;tag= in a To value, outside a quoted display name or <…> URI. */
function hasTagParam(value: string): boolean {
  const gt = value.lastIndexOf('>');
  const params = (gt >= 0 ? value.slice(gt + 1) : value).toLowerCase();
  return /;\s*tag\s*=/.test(params);
}

/** Branch and sent-by of the first Via value in a Via line's value. */
function topVia(value: string): { branch: string; sentBy: string } | undefined {
  const comma = value.indexOf(',');
  const first = comma >= 0 ? value.slice(0, comma) : value;
  // SIP/2.0/UDP host[:port];params
  const m = /^\s*SIP\s*\/\s*2\.0\s*\/\s*[A-Za-z]+\s+(\[[0-9A-Fa-f:.]+\]|[^\s;:]+)(?:\s*:\s*(\d{1,5}))?\s*(;.*)?$/i.exec(first);
  if (m === null) return undefined;
  const b = /;\s*branch\s*=\s*([^\s;,]+)/i.exec(m[3] ?? '');
  const branch = b?.[1];
  if (branch === undefined || !branch.startsWith('z9hG4bK')) return undefined;
  let host = m[1]!.toLowerCase();
  if (host.startsWith('[')) host = host.slice(1, -1);
  const port = m[2] === undefined ? undefined : Number(m[2]);
  return { branch, sentBy: port === undefined ? host : `${host}:${port}` };
}

/**
 * Scan the header section of a request datagram. One pass over the lines,
 * only the five copied headers are looked at; folded lines or a missing
 * header give undefined (the parser then deals with the request).
 */
export function scanRequestHead(data: Buffer, method: string): RawHead | undefined {
  let end = data.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  if (end > 8192) end = 8192;
  const head = data.toString('latin1', 0, end);
  const copied: string[] = [];
  let toIndex = -1;
  let toTag = false;
  let via: { branch: string; sentBy: string } | undefined;
  let seen = 0;
  let pos = head.indexOf('\r\n') + 2;
  if (pos < 2) return undefined;
  while (pos < head.length) {
    let next = head.indexOf('\r\n', pos);
    if (next < 0) next = head.length;
    const line = head.slice(pos, next);
    pos = next + 2;
    const c0 = line.charCodeAt(0);
    if (c0 === 32 || c0 === 9) return undefined; // folding: leave it to the parser
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = copiedName(line, colon);
    if (name === undefined) continue;
    if (name === 'via') {
      if (via === undefined) {
        via = topVia(line.slice(colon + 1));
        if (via === undefined) return undefined;
      }
      seen |= 1;
      copied.push(line);
      continue;
    }
    const bit = name === 'from' ? 2 : name === 'to' ? 4 : name === 'call-id' ? 8 : 16;
    if ((seen & bit) !== 0) continue;
    seen |= bit;
    if (name === 'to') {
      toIndex = copied.length;
      toTag = hasTagParam(line.slice(colon + 1));
    }
    copied.push(line);
  }
  if (seen !== 31 || via === undefined) return undefined;
  return { method, toTag, branch: via.branch, sentBy: via.sentBy, copied, toIndex };
}

/**
 * A stateless response to a scanned request: the copied lines, a To tag of
 * ours, `extra` header lines, Content-Length 0.
 */
export function rawResponse(head: RawHead, status: number, reason: string, toTag: string, extra: readonly string[]): Buffer {
  let text = `SIP/2.0 ${status} ${reason}\r\n`;
  for (let i = 0; i < head.copied.length; i++) {
    const line = head.copied[i]!;
    text += i === head.toIndex && !head.toTag ? `${line};tag=${toTag}\r\n` : `${line}\r\n`;
  }
  for (const line of extra) text += `${line}\r\n`;
  text += 'Content-Length: 0\r\n\r\n';
  return Buffer.from(text, 'latin1');
}
