/**
 * INVITE server transaction (IST), RFC 3261 §17.2.1 with RFC 6026.
 *
 *                      |INVITE
 *                      |100 Trying after TRYING_DELAY_MS unless the TU answered
 *   INVITE             V
 *   resend last  +------------+ 1xx from TU: send
 *   provisional  | Proceeding |<----------+
 *        +------>|            |-----------+
 *        |       +------------+
 *        +---------|   |   |
 *                  |   |   | 2xx from TU: send
 *                  |   |   V
 *                  |   | +----------+ 2xx from TU: send (RFC 6026)
 *                  |   | | Accepted | INVITE: absorb; ACK: not ours (ack-2xx)
 *                  |   | +----------+
 *                  |   |   | Timer L (64·T1)
 *   3xx-6xx from TU|   |   V
 *   send           |   | Terminated
 *                  V   |
 *          +-----------+ INVITE: resend final
 *          | Completed | Timer G (UDP, T1 doubling to T2): resend final
 *          +-----------+ Timer H (64·T1): TU onTimeout -> Terminated
 *                  | ACK
 *                  V
 *          +-----------+ ACK: absorb
 *          | Confirmed |
 *          +-----------+
 *                  | Timer I (T4 UDP, 0 reliable)
 *                  V
 *              Terminated
 *
 * A closed flow on any send: TU onTransportError -> Terminated.
 */
import type { SipRequest, SipResponse } from '../sip/message.js';
import { createResponse } from '../sip/response.js';
import { serialize } from '../sip/serializer.js';
import type { Flow } from '../transport/flow.js';
import { bytesOf, keepBytes, type KeptBytes } from './own-copies.js';
import { CoarseTimer, TimerSlot, transactionTimeoutMs } from './timers.js';
import { TransactionBase } from './transaction-base.js';
import type { TransactionContext } from './transaction.js';
import type { ServerTransactionUser } from './transaction-user.js';

/**
 * How long the 100 Trying waits for the TU's own first response, ms. RFC 3261
 * §17.2.1: the server transaction MUST send a 100 unless the TU answers
 * within 200 ms. A backend that rings or answers at once makes the 100 one
 * datagram too many (built, serialized, sent, read by the client); one that
 * is slow still quenches the client's retransmissions (Timer A, T1 = 500 ms)
 * in time, and a retransmission arriving first gets the 100 at once.
 */
export const TRYING_DELAY_MS = 200;

export type InviteServerState = 'proceeding' | 'accepted' | 'completed' | 'confirmed';

/** What happened to an ACK handed to the transaction. */
export type IstAckResult = 'absorbed' | 'ack-2xx' | 'ack-unmatched';

export class InviteServerTransaction extends TransactionBase<InviteServerState> {
  readonly type = 'ist' as const;
  static readonly #fireH = (tx: InviteServerTransaction): void => tx.#onTimerH();
  static readonly #fireEnd = (tx: InviteServerTransaction): void => tx.terminate();
  static readonly #fireTrying = (tx: InviteServerTransaction): void => tx.#sendTrying();
  #user: ServerTransactionUser | undefined;
  /** Last response sent, kept serialized for retransmissions. */
  #lastResponse: Buffer | KeptBytes | undefined;
  #finalStatus = 0;
  /** Timer G, made on first use: only unreliable transports retransmit. */
  #retransmit: TimerSlot | undefined;
  /** In Proceeding before the TU's first response: the 100 Trying's delay; then H, L, I. */
  readonly #timeout = new CoarseTimer();
  #interval = 0;

  /** Created by the layer; a 100 Trying follows unless the TU answers first. */
  constructor(id: string | undefined, request: SipRequest, flow: Flow, ctx: TransactionContext) {
    super(id, request, flow, ctx, 'proceeding');
  }

  /** @internal Called by the layer right after it put the transaction in its table. */
  start(): void {
    this.#timeout.start(TRYING_DELAY_MS, this, InviteServerTransaction.#fireTrying);
  }

  /**
   * The 100 Trying (RFC 3261 §17.2.1), while nothing else was sent: the TU
   * was slow, or the client retransmitted first. Hop-by-hop, never forwarded
   * (§16.7 step 5); a Timestamp in the request is copied into it (§8.2.6.1).
   */
  #sendTrying(): void {
    if (this.state !== 'proceeding' || this.#lastResponse !== undefined) return;
    this.#timeout.stop();
    const timestamp = this.request.headers.get('timestamp');
    const trying = createResponse(this.request, 100, 'Trying', timestamp === undefined ? {} : { headers: [['Timestamp', timestamp]] });
    this.#send(serialize(trying));
  }

  setUser(user: ServerTransactionUser | undefined): void {
    this.#user = user;
  }

  /** Status of the final response sent, 0 before one. */
  get finalStatus(): number {
    return this.#finalStatus;
  }

  /**
   * Send a response from the TU. Returns false when the state does not allow
   * it (e.g. a 1xx after the final) or the flow is closed.
   */
  respond(res: SipResponse): boolean {
    const sent = this.#respond(res);
    if (sent) this.ctx.responseSent?.(res, this.flow);
    return sent;
  }

  #respond(res: SipResponse): boolean {
    const state = this.state;
    const status = res.status;
    if (state === 'proceeding') {
      if (status < 200) {
        this.#timeout.stop(); // the TU's provisional stands for the 100
        return this.#send(serialize(res));
      }
      if (status < 300) {
        // RFC 6026: Accepted instead of Terminated, so forwarded 2xx
        // retransmissions still find the transaction.
        this.#finalStatus = status;
        this.setState('accepted');
        if (!this.#send(serialize(res))) return false;
        this.#timeout.start(transactionTimeoutMs(this.timers), this, InviteServerTransaction.#fireEnd); // Timer L
        // Accepted absorbs INVITE retransmissions without answering them: no last response to keep.
        this.#lastResponse = undefined;
        this.releaseRequest();
        return true;
      }
      this.#finalStatus = status;
      this.setState('completed');
      if (!this.#send(serialize(res))) return false;
      // Timer G resends it until the ACK or Timer H (64·T1): kept compact.
      this.#lastResponse = keepBytes(this.#lastResponse as Buffer);
      this.releaseRequest();
      // RFC 3261 §17.2.1: Timer G only on unreliable transports; Timer H always.
      if (!this.flow.reliable) {
        this.#interval = this.timers.t1Ms;
        (this.#retransmit ??= new TimerSlot()).start(this.#interval, () => this.#onTimerG());
      }
      this.#timeout.start(transactionTimeoutMs(this.timers), this, InviteServerTransaction.#fireH);
      return true;
    }
    if (state === 'accepted' && status >= 200 && status < 300) {
      // RFC 6026: 2xx from the TU in Accepted are passed to the transport.
      // Not kept as the last response: INVITE retransmissions are absorbed in Accepted.
      return this.transmit(serialize(res));
    }
    this.logger.debug({ callId: this.callId, status, state }, 'IST: response not allowed in this state, dropped');
    return false;
  }

  /** @internal A retransmission of the INVITE arrived. */
  receiveRetransmission(): void {
    const state = this.state;
    // RFC 3261 §17.2.1: resend the most recent provisional (Proceeding) or the
    // final (Completed). RFC 6026: absorbed in Accepted. Before any, the 100 now.
    if (state === 'proceeding' && this.#lastResponse === undefined) {
      this.#sendTrying();
      return;
    }
    if ((state === 'proceeding' || state === 'completed') && this.#lastResponse !== undefined) {
      this.transmit(bytesOf(this.#lastResponse));
    }
  }

  /** @internal An ACK matched this transaction. */
  receiveAck(): IstAckResult {
    switch (this.state) {
      case 'completed':
        // RFC 3261 §17.2.1: ACK for our non-2xx → Confirmed; Timer I absorbs its retransmissions.
        this.setState('confirmed');
        this.#retransmit?.stop();
        this.#retransmit = undefined;
        this.#timeout.stop();
        if (this.flow.reliable) this.terminate();
        else this.#timeout.start(this.timers.t4Ms, this, InviteServerTransaction.#fireEnd);
        return 'absorbed';
      case 'confirmed':
        return 'absorbed';
      case 'accepted':
        // RFC 6026: the ACK for a 2xx is end-to-end; the TU routes it.
        return 'ack-2xx';
      default:
        return 'ack-unmatched';
    }
  }

  protected notify(event: 'onTimeout' | 'onTransportError' | 'onTerminated'): void {
    this.notifyUser(this.#user, event);
  }

  protected stopTimers(): void {
    this.#retransmit?.stop();
    this.#timeout.stop();
  }

  #send(data: Buffer): boolean {
    this.#lastResponse = data;
    return this.transmit(data);
  }

  #onTimerG(): void {
    if (this.state !== 'completed' || this.#lastResponse === undefined) return;
    if (!this.transmit(bytesOf(this.#lastResponse))) return;
    this.#interval = Math.min(this.#interval * 2, this.timers.t2Ms);
    (this.#retransmit ??= new TimerSlot()).start(this.#interval, () => this.#onTimerG());
  }

  #onTimerH(): void {
    if (this.state !== 'completed') return;
    this.notify('onTimeout');
    this.terminate();
  }
}
