/**
 * What flow recovery keeps in the shared store (state.store redis, or the
 * store the supervisor serves its workers), so a client may come back on
 * another node or worker:
 *
 *   recover:<identity>   the flow a node holds for a client, for the grace
 *                        (flowId, node, nodeUri, address, instance)
 *   flow-alias:<flowId>  where that flow's client is now
 *                        (flowId, node, nodeUri, token), as long as a dialog may live
 *
 * Writes and deletes do not wait (a failure is logged; the record expires by
 * TTL); reads parse what they find and leave what is not ours.
 */
import type { Logger } from '../log/logger.js';
import { KEY_FAMILY, stateKey, type StateStore } from '../state/index.js';

/** `recover:<identity>` as read back (fields unchecked until used). */
export interface RecoverRecord {
  flowId?: unknown;
  node?: unknown;
  nodeUri?: unknown;
  address?: unknown;
  instance?: unknown;
}

/** `flow-alias:<flowId>`: the flow that took over, on which node, and the token naming it there. */
export interface FlowAlias {
  flowId: string;
  node: string;
  nodeUri: string;
  token: string;
}

/** How long an alias outlives its recovery: as long as a dialog may (topology and dialog records). */
const ALIAS_TTL_SECONDS = 12 * 3600;

export class RecoveryRecords {
  readonly #store: StateStore;
  readonly #prefix: string;
  readonly #log: Logger;

  constructor(store: StateStore, keyPrefix: string, logger: Logger) {
    this.#store = store;
    this.#prefix = keyPrefix;
    this.#log = logger;
  }

  /** The client of `flowId` (known by `identities`) may come back elsewhere within `graceSeconds`. */
  hold(identities: readonly string[], record: { flowId: string; node: string; nodeUri: string | undefined; address: string; instance: string | undefined }, graceSeconds: number): void {
    const text = JSON.stringify(record);
    const ttl = Math.max(1, Math.ceil(graceSeconds));
    for (const identity of identities) {
      this.#store.set(this.#recoverKey(identity), text, ttl).catch((err: unknown) => this.#log.warn({ err, flow: record.flowId }, 'flow recovery record not written; the client can only come back to this node'));
    }
  }

  release(identities: readonly string[]): void {
    for (const identity of identities) this.#store.delete(this.#recoverKey(identity)).catch(() => undefined);
  }

  /** The held flow of the client known by `identity`; undefined when there is none (or it is not ours). @throws when the store fails */
  async held(identity: string): Promise<RecoverRecord | undefined> {
    const text = await this.#store.get(this.#recoverKey(identity));
    if (text === undefined) return undefined;
    try {
      return JSON.parse(text) as RecoverRecord;
    } catch {
      return undefined;
    }
  }

  /** The clients of `ids` are on `alias` now. */
  alias(ids: readonly string[], alias: FlowAlias): void {
    const text = JSON.stringify(alias);
    for (const id of ids) this.#store.set(this.#aliasKey(id), text, ALIAS_TTL_SECONDS).catch((err: unknown) => this.#log.warn({ err, flow: id }, 'flow alias not written'));
  }

  /** Where the client of `flowId` went, if a node wrote it; undefined also when the store fails. */
  async aliasOf(flowId: string): Promise<FlowAlias | undefined> {
    const text = await this.#store.get(this.#aliasKey(flowId)).catch(() => undefined);
    return text === undefined ? undefined : parseAlias(text);
  }

  #recoverKey(identity: string): string {
    return stateKey(this.#prefix, KEY_FAMILY.flowRecovery, identity);
  }

  #aliasKey(flowId: string): string {
    return stateKey(this.#prefix, KEY_FAMILY.flowAlias, flowId);
  }
}

function parseAlias(text: string): FlowAlias | undefined {
  try {
    const v = JSON.parse(text) as Record<string, unknown>;
    if (typeof v.flowId === 'string' && typeof v.node === 'string' && typeof v.nodeUri === 'string' && typeof v.token === 'string') {
      return { flowId: v.flowId, node: v.node, nodeUri: v.nodeUri, token: v.token };
    }
  } catch {
    // not ours
  }
  return undefined;
}
