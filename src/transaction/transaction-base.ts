/** What all four state machines share: identity, sending through the flow, containing TU errors, terminating once. */
import type { Logger } from '../log/logger.js';
import { HeaderList } from '../sip/headers.js';
import { SipRequest } from '../sip/message.js';
import { ownString } from './own-copies.js';

type TransactionEvent = 'onTimeout' | 'onTransportError' | 'onTerminated';
/** A transaction user as far as the shared events go (client and server users differ in the rest). */
type EventUser = { [K in TransactionEvent]?: (tx: never) => void };
import type { Flow } from '../transport/flow.js';
import type { TimerSettings } from './timers.js';
import type { Transaction, TransactionContext, TransactionType } from './transaction.js';

/**
 * Base of ICT, NICT, IST and NIST. `state` reads 'terminated' once the
 * transaction is over; `close()` ends it at once (timers cleared, table left).
 */
export abstract class TransactionBase<S extends string> {
  abstract readonly type: TransactionType;
  /** Table key; undefined for a request that cannot be matched (it still works, it just is not findable). */
  readonly id: string | undefined;
  #request: SipRequest | undefined;
  /** The method, kept after the request is released. */
  readonly #method: string;
  readonly flow: Flow;
  protected readonly ctx: TransactionContext;
  #state: S;
  #terminated = false;

  protected constructor(id: string | undefined, request: SipRequest, flow: Flow, ctx: TransactionContext, initial: S) {
    this.id = id;
    this.#request = request;
    this.#method = ownString(request.method);
    this.flow = flow;
    this.ctx = ctx;
    this.#state = initial;
  }

  /**
   * The request that created the transaction. Once the transaction only
   * waits out an absorption timer (see releaseRequest) it no longer holds
   * it: this then is a stand-in with the method alone.
   */
  get request(): SipRequest {
    return this.#request ?? new SipRequest(this.#method, '', new HeaderList());
  }

  /** Call-ID of the request for log lines; undefined once the request is released (the key still names the transaction). */
  get callId(): string | undefined {
    return this.#request?.callId;
  }

  /**
   * Let go of the request once only retransmissions are left to absorb
   * (Timers J, K, L, M, D, H, I): matching them needs the table key alone and
   * answering them the kept last response. Tens of thousands of completed
   * UDP transactions exist under call load, each for up to 32 s, and a
   * parsed request pins its whole message text and datagram. Idempotent.
   */
  protected releaseRequest(): void {
    this.#request = undefined;
  }

  get state(): S | 'terminated' {
    return this.#terminated ? 'terminated' : this.#state;
  }

  get terminated(): boolean {
    return this.#terminated;
  }

  protected get timers(): TimerSettings {
    return this.ctx.timers;
  }

  protected get logger(): Logger {
    return this.ctx.logger;
  }

  protected setState(s: S): void {
    const was = this.pendingInvite;
    this.#state = s;
    if (this.pendingInvite !== was) this.ctx.pendingInviteChanged?.(was ? -1 : 1);
  }

  /**
   * An INVITE transaction still waiting for a final response: a server one in
   * Proceeding, a client one in Calling or Proceeding (not the completed ones
   * in their wait timers).
   */
  get pendingInvite(): boolean {
    if (this.#terminated) return false;
    const state: string = this.#state;
    return this.type === 'ist' ? state === 'proceeding' : this.type === 'ict' && (state === 'calling' || state === 'proceeding');
  }

  /**
   * Hand bytes to the flow. A closed flow is a transport error (RFC 3261
   * §17.1.4, §17.2.4): the TU is told and the transaction terminates.
   */
  protected transmit(data: Buffer): boolean {
    if (this.#terminated) return false;
    if (this.flow.send(data)) return true;
    this.logger.debug({ tx: this.type, callId: this.callId, key: this.id, flowId: this.flow.id }, 'transport error: flow closed');
    this.notify('onTransportError');
    this.terminate();
    return false;
  }

  /** Run a TU callback; a throwing TU is logged, never allowed to break the state machine. */
  protected guard(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.logger.error({ err, tx: this.type, callId: this.callId, key: this.id, callback: what }, 'transaction user callback threw');
    }
  }

  /** Call one of the user's optional callbacks, contained by guard(). */
  protected notifyUser(user: EventUser | undefined, event: TransactionEvent): void {
    const fn = user?.[event];
    if (user === undefined || fn === undefined) return;
    this.guard(event, () => (fn as (tx: unknown) => void).call(user, this));
  }

  /** Tell the user about a timeout or transport error. */
  protected abstract notify(event: 'onTimeout' | 'onTransportError' | 'onTerminated'): void;

  /** Stop every timer this transaction owns. */
  protected abstract stopTimers(): void;

  /**
   * Give up on this transaction without waiting for its timers: no more
   * retransmissions, no callbacks except onTerminated. The proxy uses it when
   * it fails over away from a silent target, and probes when they time out.
   */
  abandon(): void {
    this.terminate();
  }

  /** Move to Terminated: stop timers, leave the table, tell the user. Idempotent. */
  protected terminate(): void {
    if (this.#terminated) return;
    const was = this.pendingInvite;
    this.#terminated = true;
    if (was) this.ctx.pendingInviteChanged?.(-1);
    this.stopTimers();
    this.ctx.terminated(this as unknown as Transaction);
    this.notify('onTerminated');
  }

  /** Terminate now without further messages (layer shutdown). Idempotent. */
  close(): void {
    this.terminate();
  }
}
