/** The four transaction kinds as unions, and what every transaction gets from the layer. */
import type { Logger } from '../log/logger.js';
import type { SipRequest, SipResponse } from '../sip/message.js';
import type { InviteClientTransaction } from './invite-client-transaction.js';
import type { InviteServerTransaction } from './invite-server-transaction.js';
import type { NonInviteClientTransaction } from './non-invite-client-transaction.js';
import type { NonInviteServerTransaction } from './non-invite-server-transaction.js';
import type { TimerSettings } from './timers.js';
import type { Flow } from '../transport/flow.js';

export type TransactionType = 'ict' | 'nict' | 'ist' | 'nist';

export type ClientTransaction = InviteClientTransaction | NonInviteClientTransaction;
export type ServerTransaction = InviteServerTransaction | NonInviteServerTransaction;
export type Transaction = ClientTransaction | ServerTransaction;

/** What `cancel()` on an INVITE client transaction did (RFC 3261 §9.1). */
export type CancelState =
  /** No provisional yet: the CANCEL goes out with the first one. */
  | 'pending'
  /** The CANCEL was sent through its own non-INVITE client transaction. */
  | 'sent'
  /** A final response already arrived (or the transaction is over): no CANCEL. */
  | 'too-late';

/** What the layer hands each transaction. */
export interface TransactionContext {
  readonly timers: TimerSettings;
  readonly logger: Logger;
  /** Called exactly once when a transaction terminates, so the layer drops it from its table. */
  terminated(tx: Transaction): void;
  /** Start a CANCEL's own client transaction (ICT `cancel()`); the layer keys it by branch + CANCEL. */
  startCancel(cancel: SipRequest, flow: Flow): NonInviteClientTransaction;
  /** An INVITE transaction started (+1) or stopped (-1) waiting for its final response (see TransactionLayer.pendingInvites). */
  pendingInviteChanged?(delta: 1 | -1): void;
  /** A server transaction sent a response of the TU's (not a retransmission), on `flow`. */
  responseSent?(res: SipResponse, flow: Flow): void;
}
