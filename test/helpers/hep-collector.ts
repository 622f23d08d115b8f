/**
 * A HEP collector on loopback for tests: a UDP socket that decodes every
 * datagram as HEPv3 with its own reading of the specification (chunk ids
 * written out here, not imported from the encoder), refusing anything that
 * does not add up: magic, total length, chunk lengths, value sizes.
 */
import { createSocket, type Socket } from 'node:dgram';

export interface HepPacket {
  family: number;
  ipProtocol: number;
  /** Dotted IPv4 or expanded lower-case IPv6 (eight groups, no compression). */
  source: string;
  destination: string;
  sourcePort: number;
  destinationPort: number;
  seconds: number;
  micros: number;
  protocolType: number;
  captureId: number;
  authKey: string | undefined;
  correlationId: string | undefined;
  payload: string;
  /** Chunk type ids in the order they came. */
  chunkOrder: number[];
}

/** Decode one datagram; throws naming what is wrong. */
export function decodeHep3(buf: Buffer): HepPacket {
  if (buf.length < 6 || buf.toString('latin1', 0, 4) !== 'HEP3') throw new Error('not HEP3: bad magic');
  const total = buf.readUInt16BE(4);
  if (total !== buf.length) throw new Error(`HEP3 total length ${total} != datagram length ${buf.length}`);
  const values = new Map<number, Buffer>();
  const order: number[] = [];
  let at = 6;
  while (at < buf.length) {
    if (at + 6 > buf.length) throw new Error(`truncated chunk header at ${at}`);
    const vendor = buf.readUInt16BE(at);
    const type = buf.readUInt16BE(at + 2);
    const len = buf.readUInt16BE(at + 4);
    if (len < 6 || at + len > buf.length) throw new Error(`chunk 0x${type.toString(16)} length ${len} overruns the packet`);
    if (vendor !== 0) throw new Error(`unexpected vendor ${vendor}`);
    if (values.has(type)) throw new Error(`chunk 0x${type.toString(16)} twice`);
    values.set(type, buf.subarray(at + 6, at + len));
    order.push(type);
    at += len;
  }
  const need = (type: number, size?: number): Buffer => {
    const v = values.get(type);
    if (v === undefined) throw new Error(`chunk 0x${type.toString(16)} missing`);
    if (size !== undefined && v.length !== size) throw new Error(`chunk 0x${type.toString(16)} has ${v.length} bytes, want ${size}`);
    return v;
  };
  const family = need(0x01, 1).readUInt8(0);
  const v6 = family === 10;
  if (!v6 && family !== 2) throw new Error(`family ${family}`);
  const addr = (b: Buffer): string => v6
    ? Array.from({ length: 8 }, (_, i) => b.readUInt16BE(i * 2).toString(16)).join(':')
    : Array.from(b).join('.');
  if (values.has(v6 ? 0x03 : 0x05)) throw new Error('address chunks of both families');
  return {
    family,
    ipProtocol: need(0x02, 1).readUInt8(0),
    source: addr(need(v6 ? 0x05 : 0x03, v6 ? 16 : 4)),
    destination: addr(need(v6 ? 0x06 : 0x04, v6 ? 16 : 4)),
    sourcePort: need(0x07, 2).readUInt16BE(0),
    destinationPort: need(0x08, 2).readUInt16BE(0),
    seconds: need(0x09, 4).readUInt32BE(0),
    micros: need(0x0a, 4).readUInt32BE(0),
    protocolType: need(0x0b, 1).readUInt8(0),
    captureId: need(0x0c, 4).readUInt32BE(0),
    authKey: values.get(0x0e)?.toString('utf8'),
    correlationId: values.get(0x11)?.toString('utf8'),
    payload: need(0x0f).toString('utf8'),
    chunkOrder: order,
  };
}

export class HepCollector {
  readonly packets: HepPacket[] = [];
  readonly errors: string[] = [];
  readonly #socket: Socket;
  port = 0;
  #waiters: Array<{ match: (p: HepPacket) => boolean; resolve: (p: HepPacket) => void }> = [];

  private constructor(socket: Socket) {
    this.#socket = socket;
  }

  static async start(host = '127.0.0.1'): Promise<HepCollector> {
    const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
    const c = new HepCollector(socket);
    socket.on('message', (buf) => c.#ingest(buf));
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, host, () => resolve());
    });
    c.port = socket.address().port;
    return c;
  }

  /** The first packet (seen or still to come) that matches; rejects after `timeoutMs`. */
  next(match: (p: HepPacket) => boolean, timeoutMs = 5000): Promise<HepPacket> {
    const seen = this.packets.find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const waiter = { match, resolve: (p: HepPacket) => { clearTimeout(timer); resolve(p); } };
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(new Error(`no matching HEP packet within ${timeoutMs} ms; have ${this.packets.length}: ${this.packets.map((p) => p.payload.slice(0, p.payload.indexOf('\r\n'))).join(' | ')}`));
      }, timeoutMs);
      this.#waiters.push(waiter);
    });
  }

  close(): void {
    this.#socket.close();
  }

  #ingest(buf: Buffer): void {
    let p: HepPacket;
    try {
      p = decodeHep3(buf);
    } catch (err) {
      this.errors.push((err as Error).message);
      return;
    }
    this.packets.push(p);
    const hit = this.#waiters.filter((w) => w.match(p));
    this.#waiters = this.#waiters.filter((w) => !hit.includes(w));
    for (const w of hit) w.resolve(p);
  }
}
