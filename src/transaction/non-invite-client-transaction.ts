/**
 * Non-INVITE client transaction (NICT), RFC 3261 §17.1.2.
 *
 *                    |request from TU: send
 *                    V
 *   Timer E    +-----------+ Timer F (64·T1): TU onTimeout -> Terminated
 *   (UDP) send |  Trying   |
 *   T1 doubling+-----------+
 *   to T2       1xx |     | 200-699: to TU
 *          to TU    V     |
 *   Timer E    +-----------+ Timer F: TU onTimeout -> Terminated
 *   (UDP) send | Proceeding| 1xx: to TU
 *   every T2   +-----------+
 *                    | 200-699: to TU
 *                    V
 *              +-----------+ response retransmissions: absorbed
 *              | Completed |
 *              +-----------+
 *                    | Timer K (T4 UDP, 0 reliable)
 *                    V
 *                Terminated
 *
 * A closed flow on any send: TU onTransportError -> Terminated (§17.1.4).
 */
import type { SipRequest, SipResponse } from '../sip/message.js';
import { serialize } from '../sip/serializer.js';
import type { Flow } from '../transport/flow.js';
import { CoarseTimer, TimerSlot, transactionTimeoutMs } from './timers.js';
import { TransactionBase } from './transaction-base.js';
import type { TransactionContext } from './transaction.js';
import type { ClientTransactionUser } from './transaction-user.js';

export type NonInviteClientState = 'trying' | 'proceeding' | 'completed';

/** The user of a completed transaction that only absorbs retransmissions: nothing is delivered any more. */
const ABSORBING: ClientTransactionUser = { onResponse() {}, onTimeout() {}, onTransportError() {} };

export class NonInviteClientTransaction extends TransactionBase<NonInviteClientState> {
  readonly type = 'nict' as const;
  static readonly #fireF = (tx: NonInviteClientTransaction): void => tx.#onTimerF();
  static readonly #fireEnd = (tx: NonInviteClientTransaction): void => tx.terminate();
  #user: ClientTransactionUser;
  /** The request serialized once; retransmissions resend these bytes. */
  #wire: Buffer | undefined;
  /** Made on first use: only unreliable transports retransmit. */
  #timerE: TimerSlot | undefined;
  readonly #timerF = new CoarseTimer(); // then Timer K
  #interval = 0;

  constructor(id: string | undefined, request: SipRequest, flow: Flow, ctx: TransactionContext, user: ClientTransactionUser) {
    super(id, request, flow, ctx, 'trying');
    this.#user = user;
  }

  /** @internal Send the request and start Timers E and F (RFC 3261 §17.1.2.2). */
  start(): void {
    this.#wire = serialize(this.request);
    if (!this.transmit(this.#wire)) return;
    if (!this.flow.reliable) {
      this.#interval = this.timers.t1Ms;
      (this.#timerE ??= new TimerSlot()).start(this.#interval, () => this.#onTimerE());
    }
    this.#timerF.start(transactionTimeoutMs(this.timers), this, NonInviteClientTransaction.#fireF);
  }

  /** @internal A response matched this transaction. */
  receiveResponse(res: SipResponse): void {
    const state = this.state;
    if (state !== 'trying' && state !== 'proceeding') return; // Completed: absorbed (§17.1.2.2)
    if (res.status < 200) {
      this.setState('proceeding');
      this.#deliver(res);
      return;
    }
    this.setState('completed');
    this.#timerE?.stop();
    this.#timerE = undefined;
    this.#timerF.stop();
    this.#deliver(res);
    if (this.terminated) return;
    // Timer K: T4 on unreliable transports, 0 on reliable (§17.1.2.2).
    if (this.flow.reliable) {
      this.terminate();
      return;
    }
    // Waiting out Timer K needs the key only: drop the bytes, the body and the user (which holds
    // the proxy context) so thousands of completed transactions do not keep whole messages for T4.
    this.#wire = undefined;
    this.releaseRequest();
    if (this.#user.onTerminated === undefined) this.#user = ABSORBING;
    this.#timerF.start(this.timers.t4Ms, this, NonInviteClientTransaction.#fireEnd);
  }

  protected notify(event: 'onTimeout' | 'onTransportError' | 'onTerminated'): void {
    this.notifyUser(this.#user, event);
  }

  protected stopTimers(): void {
    this.#timerE?.stop();
    this.#timerF.stop();
  }

  #deliver(res: SipResponse): void {
    this.guard('onResponse', () => this.#user.onResponse(res, this));
  }

  #onTimerE(): void {
    const state = this.state;
    if ((state !== 'trying' && state !== 'proceeding') || this.#wire === undefined) return;
    if (!this.transmit(this.#wire)) return;
    // §17.1.2.2: doubling up to T2 in Trying; every T2 once a provisional arrived.
    this.#interval = state === 'trying' ? Math.min(this.#interval * 2, this.timers.t2Ms) : this.timers.t2Ms;
    (this.#timerE ??= new TimerSlot()).start(this.#interval, () => this.#onTimerE());
  }

  #onTimerF(): void {
    const state = this.state;
    if (state !== 'trying' && state !== 'proceeding') return;
    this.notify('onTimeout');
    this.terminate();
  }
}
