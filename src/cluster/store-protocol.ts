/**
 * The state-store messages between workers and the supervisor. Requests
 * made in one turn of the event loop go as one message, and so do the
 * answers the supervisor has ready in one turn: a channel message costs far
 * more than the few bytes of a request, and a busy worker makes several
 * requests per turn.
 *
 *   worker → supervisor  { sbc: 'state', client, batch: [[id, op, args], …] }
 *   supervisor → worker  { sbc: 'state', client, answers: [[id, 1, value] | [id, 1] | [id, 0, { name, message }], …] }
 *   supervisor → worker  { sbc: 'state-pub', client, channel, message }   (a subscribed channel)
 *
 * `client` names one IpcStateStore instance, so a worker may open and close
 * stores without another's subscriptions leaking into it. Ops are the
 * StateStore methods plus `unsubscribe` (a channel's last local listener
 * left) and `close` (drop every subscription of the client).
 */
import { StateStoreClosedError, StateStoreUnavailableError, StateWrongTypeError } from '../state/errors.js';

export const STORE_MESSAGE = 'state';
export const STORE_PUBLICATION = 'state-pub';

export const STORE_OPS = ['get', 'set', 'setIfAbsent', 'delete', 'expire', 'hget', 'hgetall', 'hset', 'hdel', 'incr', 'publish', 'subscribe', 'unsubscribe', 'close'] as const;
export type StoreOp = (typeof STORE_OPS)[number];
const OP_SET: ReadonlySet<string> = new Set(STORE_OPS);

/** One request in a batch: its id, the operation, its arguments. */
export type WireRequest = [id: number, op: StoreOp, args: unknown[]];
/** One answer in a batch: 1 and the value (none for undefined), or 0 and the error. */
export type WireAnswer = [id: number, ok: 1, value?: unknown] | [id: number, ok: 0, error: WireError];

/** Most requests one batch carries: a larger burst goes as several messages. */
export const MAX_BATCH = 512;

export function isStoreOp(op: unknown): op is StoreOp {
  return typeof op === 'string' && OP_SET.has(op);
}

export interface WireError {
  name: string;
  message: string;
}

/** An error as it crosses the channel: its class name and message. */
export function toWireError(error: unknown): WireError {
  if (error instanceof Error) return { name: error.name, message: error.message };
  return { name: 'Error', message: String(error) };
}

/** The error a caller would have got from a store in its own process: same class, same message. */
export function fromWireError(wire: unknown): Error {
  const w = (typeof wire === 'object' && wire !== null ? wire : {}) as Partial<WireError>;
  const message = typeof w.message === 'string' ? w.message : 'state store error';
  let error: Error;
  switch (w.name) {
    case 'TypeError':
      return new TypeError(message);
    case 'RangeError':
      return new RangeError(message);
    case 'StateWrongTypeError':
      error = new StateWrongTypeError('', '');
      break;
    case 'StateStoreClosedError':
      error = new StateStoreClosedError('');
      break;
    case 'StateStoreUnavailableError':
      return new StateStoreUnavailableError(message);
    default:
      return new Error(message);
  }
  error.message = message;
  return error;
}
