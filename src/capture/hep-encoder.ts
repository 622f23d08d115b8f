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
  out.write('HEP3', 0, 'latin1');
  out.writeUInt16BE(total, 4);
  let at = HEADER_BYTES;
  const head = (type: number, valueBytes: number): void => {
    out.writeUInt16BE(0, at);
    out.writeUInt16BE(type, at + 2);
    out.writeUInt16BE(CHUNK_HEADER_BYTES + valueBytes, at + 4);
    at += CHUNK_HEADER_BYTES;
  };
  const u8 = (type: number, v: number): void => {
    head(type, 1);
    out.writeUInt8(v, at);
    at += 1;
  };
  const u16 = (type: number, v: number): void => {
    head(type, 2);
    out.writeUInt16BE(v, at);
    at += 2;
  };
  const u32 = (type: number, v: number): void => {
    head(type, 4);
    out.writeUInt32BE(v >>> 0, at);
    at += 4;
  };
  const bytes = (type: number, v: Buffer): void => {
    head(type, v.length);
    v.copy(out, at);
    at += v.length;
  };
  const v6 = record.family === 'IPv6';
  u8(HEP_CHUNK.ipFamily, v6 ? HEP_FAMILY.IPv6 : HEP_FAMILY.IPv4);
  u8(HEP_CHUNK.ipProtocol, record.ipProtocol);
  bytes(v6 ? HEP_CHUNK.ipv6Source : HEP_CHUNK.ipv4Source, record.source);
  bytes(v6 ? HEP_CHUNK.ipv6Destination : HEP_CHUNK.ipv4Destination, record.destination);
  u16(HEP_CHUNK.sourcePort, record.sourcePort);
  u16(HEP_CHUNK.destinationPort, record.destinationPort);
  u32(HEP_CHUNK.timestampSeconds, record.seconds);
  u32(HEP_CHUNK.timestampMicros, record.micros);
  u8(HEP_CHUNK.protocolType, HEP_PROTOCOL_SIP);
  u32(HEP_CHUNK.captureId, record.captureId);
  if (record.authKey !== undefined) bytes(HEP_CHUNK.authKey, record.authKey);
  // Correlation before the payload: collectors and Wireshark expect the payload last.
  if (record.correlationId !== undefined) bytes(HEP_CHUNK.correlationId, record.correlationId);
  bytes(HEP_CHUNK.payload, record.payload);
  return out;
}
