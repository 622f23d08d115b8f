/**
 * What the supervisor and its workers say to each other over cluster IPC
 * (default JSON serialization). Every message has `sbc: kind`; fields are
 * checked where they are read.
 */
import type { SteeredDatagram } from '../transport/index.js';

/** A worker has started every part and is taking traffic. */
export interface ReadyMessage {
  sbc: 'ready';
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
