/**
 * The ng commands the SBC sends, as typed parameters turned into dicts
 * ([ng]; PROTOCOLS.md §1.2). Flags come first so that the keys that identify
 * the session (call-id, tags, sdp) can never be overridden by a flag set.
 */
import { NgError } from './errors.js';
import type { NgDict, NgReply } from './ng-client.js';

export const NG_COMMANDS = ['ping', 'offer', 'answer', 'delete', 'query', 'list', 'statistics'] as const;
export type NgCommand = (typeof NG_COMMANDS)[number];

/** An offer: `from-tag` is the tag of whoever makes this offer (PROTOCOLS.md §1.2, tag orientation). */
export interface OfferParams {
  callId: string;
  fromTag: string;
  sdp: string;
  /** Scopes the session to one branch of a forked call. */
  viaBranch?: string;
  /** Flag set for this direction (see flags.ts). */
  flags?: NgDict;
}

/** An answer: the offerer's `from-tag` and the answerer's `to-tag`. */
export interface AnswerParams extends OfferParams {
  toTag: string;
}

export interface DeleteParams {
  callId: string;
  fromTag?: string;
  toTag?: string;
  viaBranch?: string;
  /** Seconds the engine keeps the session after delete; 0 = now. @default the engine's --delete-delay */
  deleteDelay?: number;
}

export interface QueryParams {
  callId: string;
  fromTag?: string;
  toTag?: string;
}

export function offerDict(p: OfferParams): NgDict {
  return { ...p.flags, 'call-id': p.callId, 'from-tag': p.fromTag, 'via-branch': p.viaBranch, sdp: p.sdp };
}

export function answerDict(p: AnswerParams): NgDict {
  return { ...offerDict(p), 'to-tag': p.toTag };
}

export function deleteDict(p: DeleteParams): NgDict {
  return { 'call-id': p.callId, 'from-tag': p.fromTag, 'to-tag': p.toTag, 'via-branch': p.viaBranch, 'delete delay': p.deleteDelay };
}

export function queryDict(p: QueryParams): NgDict {
  return { 'call-id': p.callId, 'from-tag': p.fromTag, 'to-tag': p.toTag };
}

/** The rewritten SDP of an offer/answer reply. @throws NgError when the reply has none */
export function replySdp(reply: NgReply, engine: string, command: string): string {
  const sdp = reply['sdp'];
  if (typeof sdp !== 'string') throw new NgError(engine, command, 'reply carries no sdp');
  return sdp;
}

/** Call-IDs of a `list` reply. */
export function replyCalls(reply: NgReply): string[] {
  const calls = reply['calls'];
  return Array.isArray(calls) ? calls.filter((c): c is string => typeof c === 'string') : [];
}
