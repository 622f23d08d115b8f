import { addressBytes } from './address-bytes.js';

/** RFC 5389 §6 magic cookie. */
const MAGIC_COOKIE = 0x2112a442;
const BINDING_REQUEST = 0x0001;
const BINDING_SUCCESS = 0x0101;
const XOR_MAPPED_ADDRESS = 0x0020;
const HEADER_BYTES = 20;
/** A keepalive Binding request carries few attributes; anything bigger is not one. */
const MAX_REQUEST_BYTES = 548;

/**
 * True for a STUN Binding request: RFC 5626 §4.4.2 UDP keepalives (and §8.4,
 * the edge answers them). A SIP message can never match: it starts with a letter.
 */
export function isStunBindingRequest(data: Buffer): boolean {
  return data.length >= HEADER_BYTES
    && data.length <= MAX_REQUEST_BYTES
    && data.readUInt16BE(0) === BINDING_REQUEST
    && data.readUInt16BE(2) === data.length - HEADER_BYTES
    && data.readUInt32BE(4) === MAGIC_COOKIE;
}

/**
 * The Binding success response telling the client its public address
 * (XOR-MAPPED-ADDRESS, RFC 5389 §15.2), which is how an RFC 5626 client
 * notices a NAT rebinding. Undefined when the address cannot be encoded.
 */
export function stunBindingResponse(request: Buffer, address: string, port: number): Buffer | undefined {
  const mapped = addressBytes(address);
  if (mapped === undefined) return undefined;
  const txid = request.subarray(8, HEADER_BYTES);
  const value = Buffer.alloc(4 + mapped.length);
  value[1] = mapped.length === 4 ? 0x01 : 0x02;
  value.writeUInt16BE(port ^ (MAGIC_COOKIE >>> 16), 2);
  const key = Buffer.alloc(16);
  key.writeUInt32BE(MAGIC_COOKIE, 0);
  txid.copy(key, 4);
  for (let i = 0; i < mapped.length; i++) value[4 + i] = (mapped[i] ?? 0) ^ (key[i] ?? 0);
  const out = Buffer.alloc(HEADER_BYTES + 4 + value.length);
  out.writeUInt16BE(BINDING_SUCCESS, 0);
  out.writeUInt16BE(4 + value.length, 2);
  out.writeUInt32BE(MAGIC_COOKIE, 4);
  txid.copy(out, 8);
  out.writeUInt16BE(XOR_MAPPED_ADDRESS, HEADER_BYTES);
  out.writeUInt16BE(value.length, HEADER_BYTES + 2);
  value.copy(out, HEADER_BYTES + 4);
  return out;
}
