/**
 * The transaction table: matches incoming requests and responses to
 * transactions (RFC 3261 §17.1.3, §17.2.3), creates them for the core, and
 * bounds their number.
 */
import type { Logger } from '../log/logger.js';
import type { SipRequest, SipResponse } from '../sip/message.js';
import type { Flow } from '../transport/flow.js';
import { InviteClientTransaction, type InviteClientOptions } from './invite-client-transaction.js';
import { InviteServerTransaction } from './invite-server-transaction.js';
import { NonInviteClientTransaction } from './non-invite-client-transaction.js';
import { NonInviteServerTransaction } from './non-invite-server-transaction.js';
import { resolveTimerSettings, type TimerSettings } from './timers.js';
import { ownString } from './own-copies.js';
import { clientKeyOfRequest, responseKey, serverKey, serverKeyAs, serverKeyOf } from './transaction-keys.js';
import type { ClientTransaction, ServerTransaction, Transaction, TransactionContext, TransactionType } from './transaction.js';
import type { ClientTransactionUser } from './transaction-user.js';

export interface TransactionLayerOptions {
  /** Overrides of T1/T2/T4/Timer C. */
  timers?: Partial<TimerSettings>;
  /** Live transactions (all four kinds) before new requests get `overloaded`. @default 200000 */
  maxTransactions?: number;
  logger: Logger;
  /** A server transaction sent a response of the TU's (retransmissions not included): metrics. */
  onResponseSent?: (res: SipResponse, flow: Flow) => void;
}

/** What the core does with an incoming request. */
export type RequestMatch =
  /** No transaction: the core calls `createServerTransaction` (or answers statelessly). */
  | { kind: 'new' }
  /** A retransmission (the last response was resent) or an ACK for our non-2xx: nothing to do. */
  | { kind: 'absorbed' }
  /** An ACK matching an INVITE in Accepted (RFC 6026): end-to-end, the core routes it. */
  | { kind: 'ack-2xx' }
  /** An ACK matching no transaction (the usual 2xx ACK with its own branch): the core routes it. */
  | { kind: 'ack-unmatched' }
  /** The table is full: the core answers 503. */
  | { kind: 'overloaded' };

/** Default bound on live transactions; beyond it new requests are `overloaded` (503). */
export const DEFAULT_MAX_TRANSACTIONS = 200_000;

const NEW: RequestMatch = Object.freeze({ kind: 'new' });
const ABSORBED: RequestMatch = Object.freeze({ kind: 'absorbed' });
const ACK_2XX: RequestMatch = Object.freeze({ kind: 'ack-2xx' });
const ACK_UNMATCHED: RequestMatch = Object.freeze({ kind: 'ack-unmatched' });
const OVERLOADED: RequestMatch = Object.freeze({ kind: 'overloaded' });

/**
 * Owns every transaction: the core hands it each incoming message first and
 * creates server/client transactions through it. `close()` ends them all.
 */
export class TransactionLayer {
  readonly timers: TimerSettings;
  readonly maxTransactions: number;
  readonly #logger: Logger;
  readonly #server = new Map<string, ServerTransaction>();
  readonly #client = new Map<string, ClientTransaction>();
  /** Live transactions without a key (not in either table), so close() reaches them too. */
  readonly #unkeyed = new Set<Transaction>();
  #size = 0;
  readonly #counts: Record<TransactionType, number> = { ict: 0, nict: 0, ist: 0, nist: 0 };
  /** INVITE transactions waiting for a final response, kept up to date by their state changes. */
  #pendingInvites = 0;
  readonly #ctx: TransactionContext;
  #closed = false;

  constructor(options: TransactionLayerOptions) {
    this.timers = resolveTimerSettings(options.timers);
    const max = options.maxTransactions;
    this.maxTransactions = typeof max === 'number' && Number.isFinite(max) && max > 0 ? Math.floor(max) : DEFAULT_MAX_TRANSACTIONS;
    this.#logger = options.logger;
    this.#ctx = {
      timers: this.timers,
      logger: this.#logger,
      terminated: (tx) => this.#forget(tx),
      startCancel: (cancel, flow) => this.#startCancel(cancel, flow),
      pendingInviteChanged: (delta) => { this.#pendingInvites += delta; },
      ...(options.onResponseSent !== undefined ? { responseSent: options.onResponseSent } : {}),
    };
  }

  /** Live transactions of all kinds. */
  get size(): number {
    return this.#size;
  }

  /** Live transactions by kind (for metrics). */
  counts(): Readonly<Record<TransactionType, number>> {
    return { ...this.#counts };
  }

  /**
   * INVITE transactions still waiting for a final response (server in
   * Proceeding, client in Calling or Proceeding); the completed ones in their
   * wait timers are not counted. A count kept by the transactions' state
   * changes: tens of thousands of live transactions under call load are not walked.
   */
  pendingInvites(): number {
    return this.#pendingInvites;
  }

  /** A server transaction exists for a z9hG4bK branch, sent-by and method (admission control keeps retransmissions away from shedding). */
  hasServerTransaction(branch: string, sentBy: string, method: string): boolean {
    return this.#server.has(serverKeyOf(branch, sentBy, method));
  }

  /**
   * Match an incoming request (RFC 3261 §17.2.3). Retransmissions are
   * answered here with the last response; ACKs for our non-2xx are absorbed.
   */
  receiveRequest(req: SipRequest, _flow: Flow): RequestMatch {
    const key = serverKey(req);
    const tx = key === undefined ? undefined : this.#server.get(key);
    if (req.method === 'ACK') {
      if (tx === undefined || tx.type !== 'ist') return ACK_UNMATCHED;
      const r = tx.receiveAck();
      return r === 'absorbed' ? ABSORBED : r === 'ack-2xx' ? ACK_2XX : ACK_UNMATCHED;
    }
    if (tx !== undefined) {
      tx.receiveRetransmission();
      return ABSORBED;
    }
    if (this.#closed || this.#size >= this.maxTransactions) return OVERLOADED;
    return NEW;
  }

  /**
   * Create the server transaction for a request `receiveRequest` called new:
   * an IST (which sends 100 Trying at once) for INVITE, else a NIST.
   * Not for ACK, which never creates a transaction.
   */
  createServerTransaction(req: SipRequest, flow: Flow): ServerTransaction {
    // An ACK's key is its INVITE's; storing it would evict that IST.
    // Keys outlive their message (Timer J/L): copied out so they do not pin its text.
    const key = req.method === 'ACK' ? undefined : ownKey(serverKey(req));
    const tx: ServerTransaction = req.method === 'INVITE'
      ? new InviteServerTransaction(key, req, flow, this.#ctx)
      : new NonInviteServerTransaction(key, req, flow, this.#ctx);
    if (key !== undefined) {
      // A duplicate create replaces the older one so the table never holds two.
      this.#server.get(key)?.close();
      this.#server.set(key, tx);
    }
    this.#track(tx);
    tx.start();
    return tx;
  }

  /**
   * Create a client transaction and send the request. The request must
   * already carry our top Via with a fresh branch; the transaction never
   * edits it. `timerC` enables the proxy's Timer C on an INVITE.
   */
  createClientTransaction(req: SipRequest, flow: Flow, user: ClientTransactionUser, options: InviteClientOptions = {}): ClientTransaction {
    const key = ownKey(clientKeyOfRequest(req));
    const tx: ClientTransaction = req.method === 'INVITE'
      ? new InviteClientTransaction(key, req, flow, this.#ctx, user, options)
      : new NonInviteClientTransaction(key, req, flow, this.#ctx, user);
    if (key !== undefined) {
      this.#client.get(key)?.close();
      this.#client.set(key, tx);
    }
    this.#track(tx);
    tx.start();
    return tx;
  }

  /** Match a response to its client transaction (§17.1.3); false → the core forwards statelessly or drops it. */
  receiveResponse(res: SipResponse, _flow: Flow): boolean {
    const key = responseKey(res);
    if (key === undefined) return false;
    const tx = this.#client.get(key);
    if (tx === undefined) return false;
    tx.receiveResponse(res);
    return true;
  }

  /** The INVITE server transaction a CANCEL targets (§9.2: same branch and sent-by, method INVITE). */
  findInviteServerTransaction(cancel: SipRequest): InviteServerTransaction | undefined {
    const key = serverKeyAs(cancel, 'INVITE');
    const tx = key === undefined ? undefined : this.#server.get(key);
    return tx?.type === 'ist' ? tx : undefined;
  }

  /** Terminate every transaction and clear every timer. Idempotent. */
  close(): void {
    this.#closed = true;
    for (const tx of [...this.#server.values(), ...this.#client.values(), ...this.#unkeyed]) tx.close();
    this.#unkeyed.clear();
    this.#server.clear();
    this.#client.clear();
  }

  /** Count a transaction the caller has just put in its table (or not, when it has no key). */
  #track(tx: Transaction): void {
    if (tx.id === undefined) this.#unkeyed.add(tx);
    if (tx.pendingInvite) this.#pendingInvites++;
    this.#size++;
    this.#counts[tx.type]++;
  }

  /** Called once per transaction, when it terminates (TransactionBase.terminate). */
  #forget(tx: Transaction): void {
    if (tx.id === undefined) {
      if (!this.#unkeyed.delete(tx)) return;
    } else {
      const table: Map<string, Transaction> = tx.type === 'ist' || tx.type === 'nist' ? this.#server : this.#client;
      if (table.get(tx.id) === tx) table.delete(tx.id);
    }
    this.#size--;
    this.#counts[tx.type]--;
  }

  #startCancel(cancel: SipRequest, flow: Flow): NonInviteClientTransaction {
    const logger = this.#logger;
    const callId = cancel.callId;
    // The 200 for the CANCEL is hop-by-hop: nothing for the TU (§16.10).
    const tx = this.createClientTransaction(cancel, flow, {
      onResponse: () => {},
      onTimeout: () => logger.debug({ callId }, 'CANCEL timed out'),
      onTransportError: () => logger.debug({ callId }, 'CANCEL: transport error'),
    });
    return tx as NonInviteClientTransaction;
  }
}

/** A key as a string of its own: built from substrings of the message, it would keep the whole text alive. */
function ownKey(key: string | undefined): string | undefined {
  return key === undefined ? undefined : ownString(key);
}
