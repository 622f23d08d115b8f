/**
 * Delegate interfaces: how transactions talk to the transaction user (the
 * proxy core or a B2BUA leg). Errors thrown from these callbacks are caught
 * and logged by the transaction; they never break the layer.
 */
import type { SipResponse } from '../sip/message.js';
import type { ClientTransaction, ServerTransaction } from './transaction.js';

/** Receives what a client transaction (ICT or NICT) learns about its request. */
export interface ClientTransactionUser {
  /**
   * A response for the TU: every provisional, the first final of a NICT or a
   * non-2xx INVITE final, and every 2xx of an INVITE (forks and retransmissions
   * included, RFC 6026). Retransmitted non-2xx finals are absorbed.
   */
  onResponse(res: SipResponse, tx: ClientTransaction): void;
  /** Timer B/F fired (or Timer C without a provisional): the TU acts as if a 408 arrived (§17.1.1.2, §16.6 step 11). */
  onTimeout(tx: ClientTransaction): void;
  /** The flow refused the request (closed): RFC 3261 §17.1.4; the proxy core answers 503. */
  onTransportError(tx: ClientTransaction): void;
  /** Optional: the transaction reached Terminated and left the table. */
  onTerminated?(tx: ClientTransaction): void;
}

/** Optional observer of a server transaction, set with `tx.setUser(...)`. */
export interface ServerTransactionUser {
  /** Timer H fired: no ACK for our non-2xx final (RFC 3261 §17.2.1). */
  onTimeout?(tx: ServerTransaction): void;
  /** A response could not be sent because the flow is closed (§17.2.4). */
  onTransportError?(tx: ServerTransaction): void;
  /** The transaction reached Terminated and left the table. */
  onTerminated?(tx: ServerTransaction): void;
}
