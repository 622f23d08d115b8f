/**
 * One state-store record per live B2BUA leg, so another node (or an operator)
 * can find a dialog by the key in our Contact. Hot lookups stay in memory;
 * the store is written on the way, never awaited on the message path.
 *
 * | key | holds | TTL |
 * | --- | --- | --- |
 * | `<prefix>dialog:<legKey>` | hash: side, Call-ID, tags, remote target, route set, client flow token, the peer leg's key, state, the node holding the call | 600 s while early (refreshed by each provisional), 12 h once confirmed (refreshed by in-dialog requests); deleted when the call ends |
 */
import type { Logger } from '../log/logger.js';
import { KEY_FAMILY, stateKey, type StateStore } from '../state/index.js';
import type { Leg } from './leg.js';

/** Family name of B2BUA dialog keys (state/keys.ts lists every family with its TTL). */
export const DIALOG_KEY_FAMILY = KEY_FAMILY.dialog;
export const EARLY_TTL_SECONDS = 600;
export const CONFIRMED_TTL_SECONDS = 12 * 3600;

export function dialogRecordKey(prefix: string, legKey: string): string {
  return stateKey(prefix, KEY_FAMILY.dialog, legKey);
}

export class DialogRecords {
  readonly #store: StateStore;
  readonly #prefix: string;
  readonly #log: Logger;
  /** The URI other nodes reach this one at: who holds the call (flow recovery across nodes). */
  readonly #node: string | undefined;

  constructor(store: StateStore, prefix: string, logger: Logger, nodeUri?: string) {
    this.#store = store;
    this.#prefix = prefix;
    this.#log = logger;
    this.#node = nodeUri;
  }

  /** Write (or refresh) a leg's record. Nothing is written for a leg that has ended. */
  save(leg: Leg, peer: Leg): void {
    if (leg.ended) return;
    const fields: Record<string, string> = {
      side: leg.side,
      callId: leg.callId,
      localTag: leg.localTag,
      remoteTag: leg.remoteTag ?? '',
      remoteTarget: leg.remoteTarget,
      routeSet: leg.routeSet.join(', '),
      flowToken: leg.hop.kind === 'flow' ? leg.hop.token : '',
      peer: peer.key,
      state: leg.confirmed ? 'confirmed' : 'early',
      ...(this.#node !== undefined ? { node: this.#node } : {}),
    };
    const ttl = leg.confirmed ? CONFIRMED_TTL_SECONDS : EARLY_TTL_SECONDS;
    this.#store.hset(dialogRecordKey(this.#prefix, leg.key), fields, ttl).catch((err: unknown) => this.#log.warn({ err, callId: leg.callId }, 'dialog record not written'));
  }

  /** Refresh the TTL of a confirmed leg's record (an in-dialog request went through it). */
  touch(leg: Leg): void {
    if (leg.ended || !leg.confirmed) return;
    this.#store.expire(dialogRecordKey(this.#prefix, leg.key), CONFIRMED_TTL_SECONDS).catch((err: unknown) => this.#log.debug({ err }, 'dialog record not refreshed'));
  }

  remove(leg: Leg): void {
    this.#store.delete(dialogRecordKey(this.#prefix, leg.key)).catch((err: unknown) => this.#log.warn({ err, callId: leg.callId }, 'dialog record not deleted'));
  }

  /** The stored record of a leg (empty when there is none). */
  read(legKey: string): Promise<Record<string, string>> {
    return this.#store.hgetall(dialogRecordKey(this.#prefix, legKey));
  }
}
