/**
 * Non-INVITE server transaction (NIST), RFC 3261 §17.2.2.
 *
 *                  |Request received
 *                  V
 *            +-----------+ request retransmission: discard
 *            |  Trying   |
 *            +-----------+
 *         1xx |        | 200-699 from TU: send
 *    from TU  |        |
 *       send  V        |
 *            +-----------+ 1xx from TU: send
 *            | Proceeding| request retransmission: resend last 1xx
 *            +-----------+
 *                  | 200-699 from TU: send
 *                  V
 *            +-----------+ request retransmission: resend final
 *            | Completed |
 *            +-----------+
 *                  | Timer J (64·T1 UDP, 0 reliable)
 *                  V
 *              Terminated
 *
 * No 100 Trying for non-INVITE (RFC 3261 §16.2 note, PROTOCOLS §4).
 * A closed flow on any send: TU onTransportError -> Terminated.
 */
import type { SipRequest, SipResponse } from '../sip/message.js';
import { serialize } from '../sip/serializer.js';
import type { Flow } from '../transport/flow.js';
import { bytesOf, keepBytes, type KeptBytes } from './own-copies.js';
import { CoarseTimer, transactionTimeoutMs } from './timers.js';
import { TransactionBase } from './transaction-base.js';
import type { TransactionContext } from './transaction.js';
import type { ServerTransactionUser } from './transaction-user.js';

export type NonInviteServerState = 'trying' | 'proceeding' | 'completed';

export class NonInviteServerTransaction extends TransactionBase<NonInviteServerState> {
  readonly type = 'nist' as const;
  static readonly #fireEnd = (tx: NonInviteServerTransaction): void => tx.terminate();
  #user: ServerTransactionUser | undefined;
  #lastResponse: Buffer | KeptBytes | undefined;
  #finalStatus = 0;
  readonly #timerJ = new CoarseTimer();

  constructor(id: string | undefined, request: SipRequest, flow: Flow, ctx: TransactionContext) {
    super(id, request, flow, ctx, 'trying');
  }

  /** @internal Nothing to send on creation; kept for symmetry with the IST. */
  start(): void {}

  setUser(user: ServerTransactionUser | undefined): void {
    this.#user = user;
  }

  get finalStatus(): number {
    return this.#finalStatus;
  }

  /** Send a response from the TU; false after the final or when the flow is closed. */
  respond(res: SipResponse): boolean {
    const sent = this.#respond(res);
    if (sent) this.ctx.responseSent?.(res, this.flow);
    return sent;
  }

  #respond(res: SipResponse): boolean {
    const state = this.state;
    if (state !== 'trying' && state !== 'proceeding') {
      this.logger.debug({ callId: this.callId, status: res.status, state }, 'NIST: response after final, dropped');
      return false;
    }
    const data = serialize(res);
    this.#lastResponse = data;
    if (res.status < 200) {
      this.setState('proceeding');
      return this.transmit(data);
    }
    this.#finalStatus = res.status;
    this.setState('completed');
    if (!this.transmit(data)) return false;
    // RFC 3261 §17.2.2: Timer J = 64·T1 on unreliable transports, 0 on reliable.
    if (this.flow.reliable) this.terminate();
    else {
      this.#timerJ.start(transactionTimeoutMs(this.timers), this, NonInviteServerTransaction.#fireEnd);
      // Resent for every retransmission during Timer J (32 s): kept compact.
      this.#lastResponse = keepBytes(data);
      this.releaseRequest();
    }
    return true;
  }

  /** @internal A retransmission of the request arrived. */
  receiveRetransmission(): void {
    // RFC 3261 §17.2.2: discarded in Trying; otherwise the last response is resent.
    if (this.state === 'trying' || this.#lastResponse === undefined) return;
    this.transmit(bytesOf(this.#lastResponse));
  }

  protected notify(event: 'onTimeout' | 'onTransportError' | 'onTerminated'): void {
    this.notifyUser(this.#user, event);
  }

  protected stopTimers(): void {
    this.#timerJ.stop();
  }
}
