import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';

/** A minimal STUN client side, for tests. */
export function bindingRequest(): Buffer {
  const req = Buffer.alloc(20);
  req.writeUInt16BE(0x0001, 0);
  req.writeUInt16BE(0, 2);
  req.writeUInt32BE(0x2112a442, 4);
  randomBytes(12).copy(req, 8);
  return req;
}

/** Decode XOR-MAPPED-ADDRESS the way a client does (RFC 5389 §15.2). */
export function decodeMapped(res: Buffer): { address: string; port: number; txid: Buffer } {
  assert.equal(res.readUInt16BE(0), 0x0101);
  assert.equal(res.readUInt16BE(2), res.length - 20);
  assert.equal(res.readUInt16BE(20), 0x0020);
  const family = res[25];
  const port = res.readUInt16BE(26) ^ 0x2112;
  const key = Buffer.concat([res.subarray(4, 8), res.subarray(8, 20)]);
  const raw = Buffer.from(res.subarray(28, 28 + (family === 1 ? 4 : 16)).map((b, i) => b ^ (key[i] ?? 0)));
  const address = family === 1
    ? [...raw].join('.')
    : Array.from({ length: 8 }, (_, i) => raw.readUInt16BE(i * 2).toString(16)).join(':');
  return { address, port, txid: res.subarray(8, 20) };
}
