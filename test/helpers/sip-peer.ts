/**
 * A scripted SIP peer over real sockets (UDP, TCP, WS/WSS) for tests: send
 * literal messages, wait for the next one that matches, answer like a UAS.
 * It can drop, delay and duplicate what it sends.
 */
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect as tcpConnect, type Socket } from 'node:net';
import WebSocket from 'ws';
import { parseMessage } from '../../src/sip/parser.js';
import type { SipMessage, SipRequest } from '../../src/sip/message.js';
import { StreamFramer } from '../../src/sip/framer.js';

export type PeerTransport = 'udp' | 'tcp' | 'ws' | 'wss';

export interface Received {
  msg: SipMessage;
  raw: string;
  from: { address: string; port: number };
}

type Waiter = { match: (r: Received) => boolean; resolve: (r: Received) => void; reject: (e: Error) => void; timer: NodeJS.Timeout };

export class SipPeer {
  readonly transport: PeerTransport;
  readonly received: Received[] = [];
  /** Raw keepalive frames (CRLF-only) received. */
  readonly keepalives: string[] = [];
  #udp: UdpSocket | undefined;
  #tcp: Socket | undefined;
  #ws: WebSocket | undefined;
  #waiters: Waiter[] = [];
  #unclaimed: Received[] = [];
  #closed = false;
  /** Hook run on every message before waiters see it (auto-answer). */
  onMessage: ((r: Received, peer: SipPeer) => void) | undefined;
  address = { address: '127.0.0.1', port: 0 };
  closedByRemote = false;

  private constructor(transport: PeerTransport) {
    this.transport = transport;
  }

  static async udp(host = '127.0.0.1', port = 0): Promise<SipPeer> {
    const p = new SipPeer('udp');
    const sock = createSocket(host.includes(':') ? 'udp6' : 'udp4');
    p.#udp = sock;
    sock.on('message', (buf, rinfo) => p.#ingest(buf, { address: rinfo.address, port: rinfo.port }));
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind(port, host, () => resolve());
    });
    const a = sock.address();
    p.address = { address: a.address, port: a.port };
    return p;
  }

  /** A TCP connection to the SBC; `from` picks the source address and port. */
  static async tcp(port: number, host = '127.0.0.1', from: { localAddress?: string; localPort?: number } = {}): Promise<SipPeer> {
    const p = new SipPeer('tcp');
    const sock = tcpConnect({ host, port, ...from });
    p.#tcp = sock;
    const framer = new StreamFramer();
    sock.on('data', (chunk) => {
      for (const ev of framer.push(chunk)) {
        if (ev.kind === 'message') p.#ingest(ev.data, { address: host, port });
      }
    });
    sock.on('close', () => { p.closedByRemote = true; });
    sock.on('error', () => undefined);
    await new Promise<void>((resolve, reject) => {
      sock.once('connect', () => resolve());
      sock.once('error', reject);
    });
    p.address = { address: sock.localAddress ?? host, port: sock.localPort ?? 0 };
    return p;
  }

  /** A WebSocket to the SBC; `localAddress` picks the source address (another loopback address: another network). */
  static async ws(url: string, protocols: string[] = ['sip'], options: { localAddress?: string } = {}): Promise<SipPeer> {
    const p = new SipPeer(url.startsWith('wss') ? 'wss' : 'ws');
    const ws = new WebSocket(url, protocols, { rejectUnauthorized: false, ...(options.localAddress !== undefined ? { localAddress: options.localAddress } : {}) });
    p.#ws = ws;
    ws.on('message', (data: Buffer) => {
      const text = data.toString('utf8');
      if (/^(\r\n)+$/.test(text)) { p.keepalives.push(text); return; }
      p.#ingest(Buffer.from(data), { address: '127.0.0.1', port: 0 });
    });
    ws.on('close', () => { p.closedByRemote = true; });
    ws.on('error', () => undefined);
    // The connection's own address, as the SBC sees it.
    ws.once('upgrade', (res) => {
      const sock = res.socket;
      p.address = { address: sock.localAddress ?? '127.0.0.1', port: sock.localPort ?? 0 };
    });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    });
    return p;
  }

  /** Send text (CRLF line ends expected) to the SBC (connection peers) or to `to` (UDP). */
  send(text: string, to?: { address: string; port: number }, options: { binary?: boolean } = {}): void {
    const buf = Buffer.from(text, 'utf8');
    if (this.#udp !== undefined) {
      if (to === undefined) throw new Error('udp send needs a destination');
      this.#udp.send(buf, to.port, to.address);
    } else if (this.#tcp !== undefined) this.#tcp.write(buf);
    else if (this.#ws !== undefined) this.#ws.send(options.binary === true ? buf : text, { binary: options.binary === true });
  }

  /** Next received message matching `match` (earlier unclaimed ones first). */
  next(match: (r: Received) => boolean = () => true, timeoutMs = 5000): Promise<Received> {
    const idx = this.#unclaimed.findIndex(match);
    if (idx >= 0) return Promise.resolve(this.#unclaimed.splice(idx, 1)[0]!);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w.timer !== timer);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for a message on ${this.transport} peer; got: ${this.received.map((r) => firstLine(r.raw)).join(' | ')}`));
      }, timeoutMs);
      this.#waiters.push({ match, resolve, reject, timer });
    });
  }

  nextRequest(method: string, timeoutMs?: number): Promise<Received> {
    return this.next((r) => r.msg.kind === 'request' && r.msg.method === method, timeoutMs);
  }

  nextResponse(status: number | ((s: number) => boolean), method?: string, timeoutMs?: number): Promise<Received> {
    const ok = typeof status === 'number' ? (s: number) => s === status : status;
    return this.next((r) => r.msg.kind === 'response' && ok(r.msg.status) && (method === undefined || r.msg.cseq()?.method === method), timeoutMs);
  }

  /** Messages seen so far that match (for counting retransmissions). */
  count(match: (r: Received) => boolean): number {
    return this.received.filter(match).length;
  }

  /** Drops what was received and not claimed (a long test's memory measurements must not count our own log). */
  forget(): void {
    this.received.length = 0;
    this.keepalives.length = 0;
    this.#unclaimed = [];
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const w of this.#waiters) { clearTimeout(w.timer); w.reject(new Error('peer closed')); }
    this.#waiters = [];
    this.#udp?.close();
    this.#tcp?.destroy();
    this.#ws?.terminate();
  }

  #ingest(buf: Buffer, from: { address: string; port: number }): void {
    const r = parseMessage(buf);
    if (!r.ok) return;
    const rec: Received = { msg: r.value, raw: buf.toString('utf8'), from };
    this.received.push(rec);
    try { this.onMessage?.(rec, this); } catch { /* test hook errors surface through assertions */ }
    const idx = this.#waiters.findIndex((w) => w.match(rec));
    if (idx >= 0) {
      const [w] = this.#waiters.splice(idx, 1);
      clearTimeout(w!.timer);
      w!.resolve(rec);
    } else this.#unclaimed.push(rec);
  }
}

function firstLine(raw: string): string {
  return raw.slice(0, raw.indexOf('\r\n'));
}

export const rand = (n = 6): string => randomBytes(n).toString('hex');

export interface RequestSpec {
  method: string;
  uri: string;
  /** Via sent-by, e.g. `127.0.0.1:5555`; transport token from `viaTransport`. */
  sentBy: string;
  viaTransport?: string;
  branch?: string;
  from?: string;
  fromTag?: string;
  to?: string;
  toTag?: string;
  callId?: string;
  cseq?: number;
  contact?: string;
  maxForwards?: number | null;
  headers?: string[];
  body?: string;
}

/** A request as literal text. */
export function request(s: RequestSpec): string {
  const body = s.body ?? '';
  const lines = [
    `${s.method} ${s.uri} SIP/2.0`,
    `Via: SIP/2.0/${s.viaTransport ?? 'UDP'} ${s.sentBy};branch=${s.branch ?? `z9hG4bK${rand()}`};rport`,
    ...(s.maxForwards === null ? [] : [`Max-Forwards: ${s.maxForwards ?? 70}`]),
    `From: ${s.from ?? '<sip:alice@example.com>'};tag=${s.fromTag ?? rand(4)}`,
    `To: ${s.to ?? '<sip:bob@example.com>'}${s.toTag !== undefined ? `;tag=${s.toTag}` : ''}`,
    `Call-ID: ${s.callId ?? rand(8)}`,
    `CSeq: ${s.cseq ?? 1} ${s.method === 'ACK' || s.method === 'CANCEL' ? s.method : s.method}`,
    ...(s.contact !== undefined ? [`Contact: ${s.contact}`] : []),
    ...(s.headers ?? []),
    ...(body.length > 0 ? ['Content-Type: application/sdp'] : []),
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ];
  return lines.join('\r\n');
}

/** A response to `req` as literal text: Via, From, To (with `toTag`), Call-ID, CSeq copied. */
export function response(req: SipRequest, status: number, reason: string, options: { toTag?: string; headers?: string[]; body?: string } = {}): string {
  const body = options.body ?? '';
  const lines = [`SIP/2.0 ${status} ${reason}`];
  for (const f of req.headers.fields) {
    if (f.name === 'via' || f.name === 'from' || f.name === 'call-id' || f.name === 'cseq' || f.name === 'record-route') lines.push(`${f.rawName}: ${f.value}`);
    else if (f.name === 'to') lines.push(`${f.rawName}: ${f.value}${options.toTag !== undefined && !/;tag=/.test(f.value) ? `;tag=${options.toTag}` : ''}`);
  }
  lines.push(...(options.headers ?? []));
  if (body.length > 0) lines.push('Content-Type: application/sdp');
  lines.push(`Content-Length: ${Buffer.byteLength(body)}`, '', body);
  return lines.join('\r\n');
}

/** The route set a UAC learns from a 2xx's Record-Route (reversed, RFC 3261 §12.1.2). */
export function uacRouteSet(res: SipMessage): string[] {
  return res.headers.values('record-route').reverse();
}

/** The route set a UAS learns from the request's Record-Route (same order, RFC 3261 §12.1.1). */
export function uasRouteSet(req: SipMessage): string[] {
  return req.headers.values('record-route');
}
