/**
 * The first request of a new leg (an initial INVITE, an out-of-dialog
 * MESSAGE) sent to one candidate after another: serial failover as the proxy
 * does it (ProxyTransaction), but every response goes to the B2BUA, which
 * answers its own leg.
 *
 *   start ──► candidate 1 ──(no flow | silence | 503 | timeout | transport error,
 *               │            nothing provisional heard yet)──► candidate 2 ──► …
 *               │ responses (not 100) ──► onResponse
 *               └ nothing left to try ──► onGiveUp(status)
 */
import { RequestRejection } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { Dispatcher, Target } from '../routing/index.js';
import type { SipRequest, SipResponse } from '../sip/message.js';
import type { ClientTransaction, ClientTransactionUser } from '../transaction/index.js';
import type { Flow } from '../transport/flow.js';

/** Somewhere the request may go. */
export interface Candidate {
  readonly label: string;
  flow(): Promise<Flow | undefined>;
  /** A dispatcher target, for its health and in-flight bookkeeping. */
  readonly target?: Target;
}

export interface OutboundRequestOptions {
  candidates: Candidate[];
  /** Move on after silence, 503, timeout or transport error (initial requests to a backend group). */
  failover: boolean;
  failoverTimeoutMs: number;
  /** Status when no candidate could be reached at all. */
  unreachableStatus: number;
  dispatcher: Dispatcher;
  logger: Logger;
  /** The request for this attempt, for this flow. Throw a RequestRejection (or anything with a `status`) to end with that status. */
  build(flow: Flow, candidate: Candidate): Promise<SipRequest>;
  /** Put it on the wire in a client transaction. */
  send(req: SipRequest, flow: Flow, user: ClientTransactionUser): ClientTransaction;
  /** Every response except 100 Trying and a 503 that made us move on. */
  onResponse(res: SipResponse, tx: ClientTransaction): void;
  /** Nothing (more) to try: the request ends with this status of ours. */
  onGiveUp(status: number, reason?: string): void;
}

export class OutboundRequest {
  readonly #o: OutboundRequestOptions;
  readonly #candidates: Candidate[];
  #tx: ClientTransaction | undefined;
  #current: Candidate | undefined;
  #heard = false;
  #provisional = false;
  #done = false;
  #canceled = false;
  #closed = false;
  /** When the current attempt was sent (performance.now()). */
  #sentAt = 0;
  #silence: NodeJS.Timeout | undefined;

  constructor(options: OutboundRequestOptions) {
    this.#o = options;
    this.#candidates = options.candidates.slice();
  }

  /** The client transaction of the current attempt. */
  get tx(): ClientTransaction | undefined {
    return this.#tx;
  }

  start(): void {
    void this.#next();
  }

  /** Stop trying; an INVITE in progress is cancelled (held until a provisional, RFC 3261 §9.1). */
  cancel(): void {
    if (this.#canceled) return;
    this.#canceled = true;
    this.#candidates.length = 0;
    this.#clearSilence();
    const tx = this.#tx;
    if (tx !== undefined && 'cancel' in tx && !this.#done) tx.cancel();
  }

  /** Idempotent: no more callbacks. */
  close(): void {
    this.#closed = true;
    this.#clearSilence();
    this.#end();
  }

  async #next(): Promise<void> {
    for (;;) {
      if (this.#closed || this.#canceled) return;
      const candidate = this.#candidates.shift();
      if (candidate === undefined) {
        this.#giveUp(this.#o.unreachableStatus);
        return;
      }
      const flow = await candidate.flow();
      if (this.#closed || this.#canceled) return;
      if (flow === undefined) {
        if (candidate.target !== undefined) this.#o.dispatcher.reportFailure(candidate.target, 'transport');
        continue;
      }
      let req: SipRequest;
      try {
        req = await this.#o.build(flow, candidate);
      } catch (err) {
        const status = statusOf(err);
        if (status === undefined) this.#o.logger.warn({ err, target: candidate.label }, 'request build failed');
        this.#giveUp(status ?? 500, status === undefined ? undefined : (err as Error).message);
        return;
      }
      if (this.#closed || this.#canceled) return;
      this.#current = candidate;
      this.#heard = false;
      this.#provisional = false;
      this.#done = false;
      if (candidate.target !== undefined) this.#o.dispatcher.acquire(candidate.target);
      this.#sentAt = performance.now();
      this.#tx = this.#o.send(req, flow, this.#userFor(candidate));
      if (this.#o.failover && this.#candidates.length > 0 && !this.#done) {
        this.#silence = setTimeout(() => this.#onSilence(candidate), this.#o.failoverTimeoutMs);
        this.#silence.unref?.();
      }
      return;
    }
  }

  #userFor(candidate: Candidate): ClientTransactionUser {
    const mine = (): boolean => this.#current === candidate && !this.#closed;
    return {
      onResponse: (res, tx) => {
        if (!mine()) return;
        this.#heard = true;
        this.#clearSilence();
        const status = res.status;
        if (status === 100) return;
        if (status < 200) {
          this.#provisional = true;
          this.#o.onResponse(res, tx);
          return;
        }
        if (!this.#done && status === 503 && this.#canMoveOn()) {
          this.#failed(candidate, '503');
          void this.#next();
          return;
        }
        if (!this.#done) {
          const target = candidate.target;
          if (target !== undefined) {
            if (status === 503) this.#o.dispatcher.reportFailure(target, '503');
            else this.#o.dispatcher.reportSuccess(target);
          }
          this.#end();
        }
        this.#o.onResponse(res, tx);
      },
      onTimeout: () => {
        if (!mine() || this.#done) return;
        this.#failed(candidate, 'timeout');
        if (this.#canMoveOn()) void this.#next();
        else this.#giveUp(408);
      },
      onTransportError: () => {
        if (!mine() || this.#done) return;
        this.#failed(candidate, 'transport');
        if (this.#canMoveOn()) void this.#next();
        else this.#giveUp(this.#o.unreachableStatus);
      },
    };
  }

  #onSilence(candidate: Candidate): void {
    this.#silence = undefined;
    if (this.#current !== candidate || this.#heard || this.#done || this.#closed || this.#canceled) return;
    this.#o.logger.info({ target: candidate.label }, 'no answer from target, failing over');
    this.#tx?.abandon();
    this.#failed(candidate, 'timeout');
    void this.#next();
  }

  #canMoveOn(): boolean {
    return this.#o.failover && !this.#provisional && !this.#canceled && this.#candidates.length > 0;
  }

  #failed(candidate: Candidate, reason: 'timeout' | '503' | 'transport'): void {
    // Silence is judged against our own state since the request went out (admission control).
    if (candidate.target !== undefined) this.#o.dispatcher.reportFailure(candidate.target, reason, this.#sentAt);
    this.#end();
  }

  /** The current attempt is over: release its target once. */
  #end(): void {
    if (this.#done) return;
    this.#done = true;
    this.#clearSilence();
    const target = this.#current?.target;
    if (target !== undefined && this.#tx !== undefined) this.#o.dispatcher.release(target);
  }

  #giveUp(status: number, reason?: string): void {
    if (this.#closed) return;
    this.#done = true;
    this.#o.onGiveUp(status, reason);
  }

  #clearSilence(): void {
    if (this.#silence !== undefined) clearTimeout(this.#silence);
    this.#silence = undefined;
  }
}

function statusOf(err: unknown): number | undefined {
  if (err instanceof RequestRejection) return err.status;
  const status = (err as { status?: unknown } | undefined)?.status;
  return typeof status === 'number' ? status : undefined;
}
