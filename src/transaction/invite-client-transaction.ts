/**
 * INVITE client transaction (ICT), RFC 3261 §17.1.1 with RFC 6026, plus the
 * proxy's Timer C (§16.6 step 11) and CANCEL (§9.1).
 *
 *                       |INVITE from TU: send
 *   Timer A (UDP):      V
 *   resend, A *= 2 +---------+ Timer B (64·T1): TU onTimeout -> Terminated
 *        +-------->| Calling | Timer C, no 1xx: TU onTimeout -> Terminated
 *        +---------+---------+
 *                   |  |   | 1xx: to TU (stop A, B; reset C; send a pending CANCEL)
 *                   |  |   V
 *                   |  | +------------+ 1xx: to TU, reset C
 *                   |  | | Proceeding | Timer C: send CANCEL (then 64·T1 guard -> onTimeout)
 *                   |  | +------------+
 *                   |  |   |    | 2xx: to TU
 *   3xx-6xx: to TU, |  |   |    V
 *   send ACK        |  +---|->+----------+ every 2xx (forks, retransmissions): to TU
 *                   |      |  | Accepted | (RFC 6026)
 *                   V      |  +----------+
 *             +-----------+|       | Timer M (64·T1)
 *             | Completed |<       V
 *             +-----------+    Terminated
 *   3xx-6xx retransmission: resend ACK, not to TU
 *                   | Timer D (64·T1 UDP, 0 reliable)
 *                   V
 *               Terminated
 *
 * A closed flow on any send: TU onTransportError -> Terminated (§17.1.4).
 */
import type { SipRequest, SipResponse } from '../sip/message.js';
import { serialize } from '../sip/serializer.js';
import type { Flow } from '../transport/flow.js';
import { buildCancel, buildNon2xxAck } from './hop-by-hop-requests.js';
import { bytesOf, keepBytes, type KeptBytes } from './own-copies.js';
import { CoarseTimer, TimerSlot, transactionTimeoutMs } from './timers.js';
import { TransactionBase } from './transaction-base.js';
import type { CancelState, TransactionContext } from './transaction.js';
import type { ClientTransactionUser } from './transaction-user.js';

export type InviteClientState = 'calling' | 'proceeding' | 'accepted' | 'completed';

export interface InviteClientOptions {
  /** Run the proxy's Timer C (RFC 3261 §16.6 step 11). @default false */
  timerC?: boolean;
}

/** The user of a completed transaction that only absorbs retransmissions: nothing is delivered any more. */
const ABSORBING: ClientTransactionUser = { onResponse() {}, onTimeout() {}, onTransportError() {} };

export class InviteClientTransaction extends TransactionBase<InviteClientState> {
  readonly type = 'ict' as const;
  static readonly #fireTimeout = (tx: InviteClientTransaction): void => tx.#onTimeout();
  static readonly #fireC = (tx: InviteClientTransaction): void => tx.#onTimerC();
  static readonly #fireEnd = (tx: InviteClientTransaction): void => tx.terminate();
  #user: ClientTransactionUser;
  readonly #timerCEnabled: boolean;
  /** The INVITE serialized once; Timer A resends these bytes. */
  #wire: Buffer | undefined;
  /** Our ACK for the non-2xx final, resent for each retransmission of it. */
  #ack: KeptBytes | undefined;
  /** Made on first use: only unreliable transports retransmit. */
  #timerA: TimerSlot | undefined;
  /**
   * Timer B; after a CANCEL, the §9.1 64·T1 wait for the final; then Timer D
   * (Completed) or Timer M (Accepted). Never two of them at once.
   */
  readonly #timerB = new CoarseTimer();
  /** Timer C, made when the transaction runs one (proxied INVITEs) and dropped at the final. */
  #timerC: CoarseTimer | undefined;
  #interval = 0;
  #provisionalSeen = false;
  #cancel: 'none' | 'pending' | 'sent' = 'none';

  constructor(
    id: string | undefined,
    request: SipRequest,
    flow: Flow,
    ctx: TransactionContext,
    user: ClientTransactionUser,
    options: InviteClientOptions = {},
  ) {
    super(id, request, flow, ctx, 'calling');
    this.#user = user;
    this.#timerCEnabled = options.timerC === true;
  }

  /** Whether a provisional response has arrived. */
  get provisionalSeen(): boolean {
    return this.#provisionalSeen;
  }

  /** 'none' until `cancel()` is called, then 'pending' or 'sent'. */
  get cancelState(): 'none' | 'pending' | 'sent' {
    return this.#cancel;
  }

  /** @internal Send the INVITE and start Timers A, B and C (§17.1.1.2). */
  start(): void {
    this.#wire = serialize(this.request);
    if (!this.transmit(this.#wire)) return;
    if (!this.flow.reliable) {
      this.#interval = this.timers.t1Ms;
      (this.#timerA ??= new TimerSlot()).start(this.#interval, () => this.#onTimerA());
    }
    this.#timerB.start(transactionTimeoutMs(this.timers), this, InviteClientTransaction.#fireTimeout);
    if (this.#timerCEnabled) (this.#timerC ??= new CoarseTimer()).start(this.timers.timerCMs, this, InviteClientTransaction.#fireC);
  }

  /**
   * Cancel the INVITE (RFC 3261 §9.1). The CANCEL goes through its own
   * non-INVITE client transaction; before any provisional it is held until
   * the first one, and it is never sent once a final response arrived.
   */
  cancel(): CancelState {
    if (this.#cancel === 'sent') return 'sent';
    const state = this.state;
    if (state === 'calling') {
      // §9.1: a CANCEL SHOULD NOT be sent before a provisional response.
      this.#cancel = 'pending';
      return 'pending';
    }
    if (state === 'proceeding') {
      this.#sendCancel();
      return 'sent';
    }
    return 'too-late';
  }

  /** @internal A response matched this transaction. */
  receiveResponse(res: SipResponse): void {
    const state = this.state;
    const status = res.status;
    if (state === 'calling' || state === 'proceeding') {
      if (status < 200) this.#onProvisional(res, state);
      else if (status < 300) this.#onSuccess(res);
      else this.#onFailure(res);
      return;
    }
    if (state === 'accepted') {
      // RFC 6026: every 2xx in Accepted goes to the TU (forks, retransmissions).
      if (status >= 200 && status < 300) this.#deliver(res);
      return;
    }
    if (state === 'completed' && status >= 300 && this.#ack !== undefined) {
      // §17.1.1.2: a retransmitted final is ACKed again and not passed up.
      this.transmit(bytesOf(this.#ack));
    }
  }

  protected notify(event: 'onTimeout' | 'onTransportError' | 'onTerminated'): void {
    this.notifyUser(this.#user, event);
  }

  protected stopTimers(): void {
    this.#timerA?.stop();
    this.#timerB.stop();
    this.#timerC?.stop();
  }

  #onProvisional(res: SipResponse, from: 'calling' | 'proceeding'): void {
    this.#provisionalSeen = true;
    if (from === 'calling') {
      this.setState('proceeding');
      this.#timerA?.stop();
      this.#timerB.stop();
    }
    // §16.6 step 11: Timer C is reset on every provisional.
    if (this.#timerCEnabled && this.#cancel !== 'sent') (this.#timerC ??= new CoarseTimer()).start(this.timers.timerCMs, this, InviteClientTransaction.#fireC);
    this.#deliver(res);
    if (this.#cancel === 'pending' && this.state === 'proceeding') this.#sendCancel();
  }

  #onSuccess(res: SipResponse): void {
    this.setState('accepted');
    this.#stopRunning();
    // RFC 6026: Timer M keeps the transaction to catch 2xx from other forks.
    this.#timerB.start(transactionTimeoutMs(this.timers), this, InviteClientTransaction.#fireEnd);
    this.#deliver(res);
    // Accepted only passes 2xx up: the INVITE is never sent again.
    this.#wire = undefined;
    this.releaseRequest();
  }

  #onFailure(res: SipResponse): void {
    this.setState('completed');
    this.#stopRunning();
    this.#deliver(res);
    if (this.terminated) return;
    // §17.1.1.3: the ACK for a non-2xx is hop-by-hop and ours to send.
    // Resent for each retransmitted final during Timer D (32 s): kept compact.
    const ack = serialize(buildNon2xxAck(this.request, res));
    this.#ack = keepBytes(ack);
    // Timer D only absorbs: nothing more for the user (which holds the proxy context) unless it waits for the end.
    this.#wire = undefined;
    this.releaseRequest();
    if (this.#user.onTerminated === undefined) this.#user = ABSORBING;
    if (!this.transmit(ack)) return;
    // Timer D: at least 32 s on UDP (64·T1), 0 on reliable transports (§17.1.1.2).
    if (this.flow.reliable) this.terminate();
    else this.#timerB.start(transactionTimeoutMs(this.timers), this, InviteClientTransaction.#fireEnd);
  }

  #stopRunning(): void {
    // A CANCEL still held back is moot once a final arrived (§9.1).
    if (this.#cancel === 'pending') this.#cancel = 'none';
    this.#timerA?.stop();
    this.#timerA = undefined;
    this.#timerB.stop();
    this.#timerC?.stop();
    this.#timerC = undefined;
  }

  #sendCancel(): void {
    this.#cancel = 'sent';
    this.#timerC?.stop();
    try {
      this.ctx.startCancel(buildCancel(this.request), this.flow);
    } catch (err) {
      this.logger.error({ err, callId: this.callId }, 'ICT: could not start the CANCEL transaction');
    }
    if (this.terminated) return;
    // §9.1: without a final 64·T1 after the CANCEL, give up on the INVITE.
    this.#timerB.start(transactionTimeoutMs(this.timers), this, InviteClientTransaction.#fireTimeout);
  }

  #deliver(res: SipResponse): void {
    this.guard('onResponse', () => this.#user.onResponse(res, this));
  }

  #onTimerA(): void {
    if (this.state !== 'calling' || this.#wire === undefined) return;
    if (!this.transmit(this.#wire)) return;
    // §17.1.1.2: doubling, with no T2 cap for INVITE.
    this.#interval *= 2;
    (this.#timerA ??= new TimerSlot()).start(this.#interval, () => this.#onTimerA());
  }

  /** Timer B, or the post-CANCEL wait: the TU makes the 408. */
  #onTimeout(): void {
    const state = this.state;
    if (state !== 'calling' && state !== 'proceeding') return;
    this.notify('onTimeout');
    this.terminate();
  }

  #onTimerC(): void {
    const state = this.state;
    if (state !== 'calling' && state !== 'proceeding') return;
    // §16.6 step 11: CANCEL when a provisional was seen, otherwise act as if 408.
    if (this.#provisionalSeen) {
      this.#sendCancel();
      return;
    }
    this.notify('onTimeout');
    this.terminate();
  }
}
