import { createHmac, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import { fail, ok, type Result } from '../sip/result.js';
import type { Flow } from './flow.js';

/** What a verified token names. */
export interface FlowTokenData {
  flowId: string;
  /** Present for UDP flows: enough to rebuild the flow after its table entry expired (RFC 5626 §5.2). */
  udp?: { listenerIndex: number; address: string; port: number };
}

export type FlowTokenError = 'malformed' | 'tampered';

/** 96 bits of HMAC-SHA256; RFC 5626 §5.2 asks for an unguessable token, Kamailio uses 80. */
const MAC_BYTES = 12;
const KIND_CONNECTION = 0x01;
const KIND_UDP = 0x02;
/** Bounds what we are willing to HMAC for a token from the wire. */
const MAX_TOKEN_CHARS = 512;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

/**
 * Flow tokens for Path and Record-Route user parts (RFC 5626 §5.2):
 * `base64url(kind ‖ flow data ‖ HMAC-SHA256(secret, kind ‖ flow data)[0..12])`.
 * Connection flows carry their id (which includes a per-process random part,
 * so a token can never name a later connection); UDP flows carry the listener
 * index and the remote address and port.
 */
const VERIFIED_CACHE_MAX = 50_000;

export class FlowTokens {
  readonly #secret: Buffer;
  readonly #cache = new WeakMap<Flow, string>();
  /** Tokens already verified: in-dialog requests repeat the same few, and an HMAC per request is the cost. */
  readonly #verified = new Map<string, FlowTokenData>();

  constructor(secret: string | Buffer) {
    this.#secret = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : Buffer.from(secret);
    if (this.#secret.length < 16) throw new Error('flow token secret must be at least 16 bytes');
  }

  /** Opaque token naming `flow`; safe in a SIP URI user part. */
  issue(flow: Flow): string {
    const cached = this.#cache.get(flow);
    if (cached !== undefined) return cached;
    const payload = flow.transport === 'udp'
      ? encodeUdp(flow.listener.index, flow.remote.address, flow.remote.port)
      : encodeConnection(flow.id);
    const token = Buffer.concat([payload, this.#mac(payload)]).toString('base64url');
    this.#cache.set(flow, token);
    // The in-dialog requests that bring it back need no HMAC: a token we just issued verifies to what it encodes.
    this.#remember(token, flow.transport === 'udp'
      ? { flowId: udpFlowId(flow.listener.index, flow.remote.address, flow.remote.port), udp: { listenerIndex: flow.listener.index, address: flow.remote.address, port: flow.remote.port } }
      : { flowId: flow.id });
    return token;
  }

  verify(token: string): Result<FlowTokenData, FlowTokenError> {
    const known = this.#verified.get(token);
    if (known !== undefined) return ok(known);
    if (token.length === 0 || token.length > MAX_TOKEN_CHARS || !BASE64URL.test(token)) return fail('malformed');
    const raw = Buffer.from(token, 'base64url');
    // base64url ignores the unused low bits of the last character: only the
    // one spelling we issue is accepted, so a changed character is never "the same token".
    if (raw.toString('base64url') !== token) return fail('tampered');
    if (raw.length <= MAC_BYTES + 1) return fail('malformed');
    const payload = raw.subarray(0, raw.length - MAC_BYTES);
    const mac = raw.subarray(raw.length - MAC_BYTES);
    if (!timingSafeEqual(mac, this.#mac(payload))) return fail('tampered');
    // Only data we signed gets here, so a decode failure means a format change, not an attack.
    const data = decode(payload);
    if (data === undefined) return fail('malformed');
    // Only tokens that verified are cached, so the cache cannot be filled with garbage from the wire.
    this.#remember(token, data);
    return ok(data);
  }

  #remember(token: string, data: FlowTokenData): void {
    if (this.#verified.size >= VERIFIED_CACHE_MAX) this.#verified.clear();
    this.#verified.set(token, data);
  }

  /**
   * A key for `purpose` derived from the secret, for what must agree between
   * nodes as the tokens do (TLS session-ticket keys); the secret itself stays here.
   */
  derivedKey(purpose: string): Buffer {
    return createHmac('sha256', this.#secret).update(`derived:${purpose}`).digest();
  }

  #mac(payload: Buffer): Buffer {
    return createHmac('sha256', this.#secret).update(payload).digest().subarray(0, MAC_BYTES);
  }
}

/** The id a UDP flow has: derived from its 5-tuple so a token rebuilds the same flow. */
export function udpFlowId(listenerIndex: number, address: string, port: number): string {
  return `udp-${listenerIndex}-${address}-${port}`;
}

function encodeConnection(flowId: string): Buffer {
  const id = Buffer.from(flowId, 'utf8');
  const out = Buffer.allocUnsafe(1 + id.length);
  out[0] = KIND_CONNECTION;
  id.copy(out, 1);
  return out;
}

function encodeUdp(listenerIndex: number, address: string, port: number): Buffer {
  const addr = Buffer.from(address, 'latin1');
  const out = Buffer.allocUnsafe(6 + addr.length);
  out[0] = KIND_UDP;
  out.writeUInt16BE(listenerIndex, 1);
  out.writeUInt16BE(port, 3);
  out[5] = addr.length;
  addr.copy(out, 6);
  return out;
}

function decode(payload: Buffer): FlowTokenData | undefined {
  const kind = payload[0];
  if (kind === KIND_CONNECTION) return { flowId: payload.toString('utf8', 1) };
  if (kind !== KIND_UDP || payload.length < 6) return undefined;
  const listenerIndex = payload.readUInt16BE(1);
  const port = payload.readUInt16BE(3);
  const len = payload[5] ?? 0;
  if (payload.length !== 6 + len) return undefined;
  const address = payload.toString('latin1', 6);
  if (isIP(address) === 0) return undefined;
  return { flowId: udpFlowId(listenerIndex, address, port), udp: { listenerIndex, address, port } };
}
