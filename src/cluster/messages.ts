/**
 * What the supervisor and its workers say to each other over cluster IPC
 * (default JSON serialization). Every message has `sbc: kind`; fields are
 * checked where they are read.
 */
import type { SteeredDatagram } from '../transport/index.js';

/** One port of a worker's own (its inside port on one transport). */
export interface OwnPort {
  transport: string;
  port: number;
}

/** A worker has started every part and is taking traffic; `own` are its own ports. */
export interface ReadyMessage {
  sbc: 'ready';
  own: OwnPort[];
}

/** Every worker's own ports (supervisor → workers, after each worker got ready). */
export interface SiblingsMessage {
  sbc: 'siblings';
  own: OwnPort[];
}

/** The own ports in a ready or siblings message, the malformed entries left out. */
export function ownPorts(m: Record<string, unknown>): OwnPort[] {
  if (!Array.isArray(m.own)) return [];
  const out: OwnPort[] = [];
  for (const p of m.own as unknown[]) {
    const { transport, port } = (p ?? {}) as Record<string, unknown>;
    if (typeof transport === 'string' && typeof port === 'number' && Number.isInteger(port) && port > 0 && port < 65536) out.push({ transport, port });
  }
  return out;
}

/** The supervisor got a signal; the worker acts as if it got it. */
export interface SignalMessage {
  sbc: 'signal';
  signal: 'SIGTERM' | 'SIGINT' | 'SIGHUP';
}

/** A datagram for worker `to` (worker → supervisor → worker). `data` is latin1: the bytes as they came. */
export interface SteerMessage {
  sbc: 'steer';
  to: number;
  listener: number;
  address: string;
  port: number;
  data: string;
}

export function isMessage<K extends string>(message: unknown, kind: K): message is { sbc: K } & Record<string, unknown> {
  return typeof message === 'object' && message !== null && (message as { sbc?: unknown }).sbc === kind;
}

export function steerMessage(to: number, d: SteeredDatagram): SteerMessage {
  return { sbc: 'steer', to, listener: d.listener, address: d.address, port: d.port, data: d.data.toString('latin1') };
}

/** The datagram in a steer message, or undefined when a field is not what it should be. */
export function steeredDatagram(m: Record<string, unknown>): SteeredDatagram | undefined {
  const { listener, address, port, data } = m;
  if (typeof listener !== 'number' || typeof address !== 'string' || typeof port !== 'number' || typeof data !== 'string') return undefined;
  return { listener, address, port, data: Buffer.from(data, 'latin1') };
}
