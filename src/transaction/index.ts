/** The transaction layer's public face (RFC 3261 §17). */
export { TransactionLayer, DEFAULT_MAX_TRANSACTIONS, type TransactionLayerOptions, type RequestMatch } from './transaction-layer.js';
export type { ClientTransactionUser, ServerTransactionUser } from './transaction-user.js';
export type { ClientTransaction, ServerTransaction, Transaction, TransactionType, CancelState } from './transaction.js';
export { InviteClientTransaction, type InviteClientState, type InviteClientOptions } from './invite-client-transaction.js';
export { NonInviteClientTransaction, type NonInviteClientState } from './non-invite-client-transaction.js';
export { InviteServerTransaction, type InviteServerState } from './invite-server-transaction.js';
export { NonInviteServerTransaction, type NonInviteServerState } from './non-invite-server-transaction.js';
export { slimRequest } from './slim-request.js';
export { ownString } from './own-copies.js';
export { DEFAULT_TIMER_SETTINGS, resolveTimerSettings, type TimerSettings } from './timers.js';
