/**
 * HEPv3 (EEP) encoding: a "HEP3" header and a total length, then chunks of
 * vendor id, type id, length (chunk header included) and value, all in
 * network order. Generic chunks (vendor 0) only; the payload goes last.
 */

/** Generic chunk type ids (vendor 0x0000) of the HEP3 specification that we write. */
export const HEP_CHUNK = {
  ipFamily: 0x0001,
  ipProtocol: 0x0002,
  ipv4Source: 0x0003,
  ipv4Destination: 0x0004,
  ipv6Source: 0x0005,
  ipv6Destination: 0x0006,
  sourcePort: 0x0007,
  destinationPort: 0x0008,
  timestampSeconds: 0x0009,
  timestampMicros: 0x000a,
  protocolType: 0x000b,
  captureId: 0x000c,
  authKey: 0x000e,
  payload: 0x000f,
  correlationId: 0x0011,
} as const;

/** Address family values of chunk 0x0001 (the socket API's AF_INET and AF_INET6). */
export const HEP_FAMILY = { IPv4: 2, IPv6: 10 } as const;
/** IP protocol numbers of chunk 0x0002. */
export const IP_PROTOCOL = { udp: 17, tcp: 6 } as const;
/** Protocol type 0x01 of chunk 0x000b: the payload is a SIP message. */
export const HEP_PROTOCOL_SIP = 1;

const HEADER_BYTES = 6;
const CHUNK_HEADER_BYTES = 6;
/** The largest HEP packet one UDP datagram carries over IPv4 (and its 16-bit length field allows). */
export const MAX_HEP_BYTES = 65507;

/** One captured message as HEP3 carries it. */
export interface HepRecord {
  family: 'IPv4' | 'IPv6';
  /** 17 (UDP) or 6 (TCP; also TLS, WS and WSS, which run over TCP). */
  ipProtocol: number;
  /** 4 bytes for IPv4, 16 for IPv6; both ends of the same length. */
  source: Buffer;
  destination: Buffer;
  sourcePort: number;
  destinationPort: number;
  /** Capture time: seconds since the epoch and the microseconds within that second. */
  seconds: number;
  micros: number;
  captureId: number;
  /** Chunk 0x000e, when the collector wants a password. */
  authKey?: Buffer | undefined;
  /** Chunk 0x0011: the Call-ID, so the collector groups a call's messages. */
  correlationId?: Buffer | undefined;
  payload: Buffer;
}

/** The size of the HEP3 packet `record` encodes to. */
export function hepLength(record: HepRecord): number {
  const address = record.source.length;
  let n = HEADER_BYTES;
  n += 2 * (CHUNK_HEADER_BYTES + 1); // family, ip protocol
  n += 2 * (CHUNK_HEADER_BYTES + address);
  n += 2 * (CHUNK_HEADER_BYTES + 2); // ports
  n += 2 * (CHUNK_HEADER_BYTES + 4); // timestamp
  n += CHUNK_HEADER_BYTES + 1; // protocol type
  n += CHUNK_HEADER_BYTES + 4; // capture id
  if (record.authKey !== undefined) n += CHUNK_HEADER_BYTES + record.authKey.length;
  if (record.correlationId !== undefined) n += CHUNK_HEADER_BYTES + record.correlationId.length;
  n += CHUNK_HEADER_BYTES + record.payload.length;
  return n;
}

/** Encode one record; the caller checks hepLength() against MAX_HEP_BYTES first. */
export function encodeHep3(record: HepRecord): Buffer {
  const total = hepLength(record);
  const out = Buffer.allocUnsafe(total);
  // "HEP3"
  out[0] = 0x48;
  out[1] = 0x45;
  out[2] = 0x50;
  out[3] = 0x33;
  out.writeUInt16BE(total, 4);
  const v6 = record.family === 'IPv6';
  let at = HEADER_BYTES;
  at = u8(out, at, HEP_CHUNK.ipFamily, v6 ? HEP_FAMILY.IPv6 : HEP_FAMILY.IPv4);
  at = u8(out, at, HEP_CHUNK.ipProtocol, record.ipProtocol);
  at = bytes(out, at, v6 ? HEP_CHUNK.ipv6Source : HEP_CHUNK.ipv4Source, record.source);
  at = bytes(out, at, v6 ? HEP_CHUNK.ipv6Destination : HEP_CHUNK.ipv4Destination, record.destination);
  at = u16(out, at, HEP_CHUNK.sourcePort, record.sourcePort);
  at = u16(out, at, HEP_CHUNK.destinationPort, record.destinationPort);
  at = u32(out, at, HEP_CHUNK.timestampSeconds, record.seconds);
  at = u32(out, at, HEP_CHUNK.timestampMicros, record.micros);
  at = u8(out, at, HEP_CHUNK.protocolType, HEP_PROTOCOL_SIP);
  at = u32(out, at, HEP_CHUNK.captureId, record.captureId);
  if (record.authKey !== undefined) at = bytes(out, at, HEP_CHUNK.authKey, record.authKey);
  // Correlation before the payload: collectors and Wireshark expect the payload last.
  if (record.correlationId !== undefined) at = bytes(out, at, HEP_CHUNK.correlationId, record.correlationId);
  bytes(out, at, HEP_CHUNK.payload, record.payload);
  return out;
}

/** A chunk header (vendor 0); returns where the value goes. */
function head(out: Buffer, at: number, type: number, valueBytes: number): number {
  out.writeUInt16BE(0, at);
  out.writeUInt16BE(type, at + 2);
  out.writeUInt16BE(CHUNK_HEADER_BYTES + valueBytes, at + 4);
  return at + CHUNK_HEADER_BYTES;
}

function u8(out: Buffer, at: number, type: number, v: number): number {
  const p = head(out, at, type, 1);
  out[p] = v & 0xff;
  return p + 1;
}

function u16(out: Buffer, at: number, type: number, v: number): number {
  const p = head(out, at, type, 2);
  out.writeUInt16BE(v, p);
  return p + 2;
}

function u32(out: Buffer, at: number, type: number, v: number): number {
  const p = head(out, at, type, 4);
  out.writeUInt32BE(v >>> 0, p);
  return p + 4;
}

function bytes(out: Buffer, at: number, type: number, v: Buffer): number {
  const p = head(out, at, type, v.length);
  out.set(v, p);
  return p + v.length;
}
