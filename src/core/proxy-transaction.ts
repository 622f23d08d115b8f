/**
 * One proxied request: the server transaction it arrived on, the client
 * transactions (branches) it was forwarded on, and the response context of
 * RFC 3261 §16.7. Branches run one after another (serial failover); the
 * best final response goes upstream once every branch has ended. With
 * `parallel` (a fork to registered contacts) every branch starts at once and
 * the first 2xx cancels the others (RFC 3261 §16.7 step 10).
 *
 *   start ──► branch 1 ──(timeout | 503 | transport error, nothing heard yet)──► branch 2 ──► …
 *               │ 1xx: forwarded upstream (except 100)
 *               │ 2xx: forwarded at once, every one of them (forks, retransmissions)
 *               └ 3xx–6xx: kept as the best response; sent when no branch is pending
 */
import { RequestRejection } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { ProxyCallObserver } from './call-events.js';
import type { Flow } from '../transport/flow.js';
import type { SipRequest, SipResponse } from '../sip/message.js';
import { createResponse } from '../sip/response.js';
import type { ClientTransaction, ServerTransaction } from '../transaction/index.js';
import type { ClientTransactionUser } from '../transaction/index.js';
import { slimRequest } from '../transaction/index.js';

/** A place to forward to, and what to tell when it fails. */
export interface BranchTarget {
  /** Label for logs and metrics. */
  readonly label: string;
  /** Start the client transaction for this branch, or undefined on a transport failure. */
  start(user: ClientTransactionUser): Promise<ClientTransaction | undefined>;
  onSuccess?(): void;
  onFailure?(reason: 'timeout' | '503' | 'transport'): void;
  onEnd?(): void;
}

export interface ProxyTransactionOptions {
  /** Try the next candidate on timeout, 503 or transport error (initial requests to a backend group). */
  failover: boolean;
  /** Start every branch at once (forking); the first 2xx cancels the rest. */
  parallel?: boolean;
  /** How long a branch may stay silent (not even 100) before failing over, in ms. */
  failoverTimeoutMs: number;
  /** Status for "nobody reachable" (503 normally; 430/480 for a dead flow). */
  unreachableStatus?: number;
  logger: Logger;
  onFinal?(status: number): void;
  /** Every final response on its way upstream (REGISTER: our view of registrations learns from it). */
  onFinalResponse?(res: SipResponse): void;
  /**
   * Rewrites a response before it goes upstream (the media engine on SDP
   * answers, topology hiding). `downstream` is the flow a relayed response
   * came on; undefined for one we made (408, 503, 487). Relays stay in
   * arrival order while it runs.
   */
  transformResponse?(res: SipResponse, downstream: Flow | undefined): Promise<void>;
  /** The call record of an initial INVITE: told its final response and an upstream CANCEL. */
  observer?: ProxyCallObserver | undefined;
}

interface Branch {
  target: BranchTarget;
  tx: ClientTransaction | undefined;
  heard: boolean;
  provisional: boolean;
  done: boolean;
  silenceTimer: NodeJS.Timeout | undefined;
}

export class ProxyTransaction {
  readonly #server: ServerTransaction;
  readonly #request: SipRequest;
  readonly #candidates: BranchTarget[];
  #options: ProxyTransactionOptions;
  #branches: Branch[] = [];
  #best: SipResponse | undefined;
  /** The flow #best came on when it came from downstream; undefined for one we made. */
  #bestFrom: Flow | undefined;
  #finalSent = false;
  #canceled = false;
  #closed = false;
  #released = false;
  /** Responses go upstream in the order they arrived, even when one waits for the media engine. */
  #relayChain: Promise<void> = Promise.resolve();

  constructor(server: ServerTransaction, request: SipRequest, candidates: BranchTarget[], options: ProxyTransactionOptions) {
    this.#server = server;
    this.#request = request;
    this.#candidates = candidates.slice();
    this.#options = options;
  }

  get canceled(): boolean {
    return this.#canceled;
  }

  start(): void {
    // Each #next() takes one candidate before its first await: n calls start n branches.
    const n = this.#options.parallel === true ? this.#candidates.length : 1;
    for (let i = 0; i < n; i++) void this.#next();
  }

  /**
   * Upstream CANCEL (RFC 3261 §16.10): stop trying new targets and cancel
   * pending branches; the transactions defer the CANCEL until a provisional.
   */
  cancel(): void {
    if (this.#canceled || this.#finalSent) return;
    this.#canceled = true;
    this.#options.observer?.cancelled();
    this.#candidates.length = 0;
    for (const b of this.#branches) {
      if (b.done || b.tx === undefined) continue;
      if ('cancel' in b.tx) b.tx.cancel();
    }
    this.#maybeFinish();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const b of this.#branches) this.#endBranch(b);
  }

  async #next(): Promise<void> {
    while (!this.#closed) {
      const target = this.#candidates.shift();
      if (target === undefined || this.#canceled) {
        this.#maybeFinish();
        return;
      }
      const branch: Branch = { target, tx: undefined, heard: false, provisional: false, done: false, silenceTimer: undefined };
      this.#branches.push(branch);
      let tx: ClientTransaction | undefined;
      try {
        tx = await target.start(this.#userFor(branch));
      } catch (err) {
        if (isRejection(err)) {
          // Refused on our side (e.g. no media engine): not the target's fault, no failover.
          this.#endBranch(branch);
          this.#consider(createResponse(this.#request, err.status, err.message));
          this.#candidates.length = 0;
          this.#maybeFinish();
          return;
        }
        this.#options.logger.warn({ err, target: target.label }, 'branch start failed');
        tx = undefined;
      }
      if (tx === undefined) {
        this.#branchFailed(branch, 'transport', 503, 'Service Unavailable');
        continue;
      }
      branch.tx = tx;
      if ((this.#canceled || (this.#finalSent && this.#options.parallel === true)) && 'cancel' in tx) tx.cancel();
      if (this.#options.failover && this.#candidates.length > 0) {
        branch.silenceTimer = setTimeout(() => this.#onSilence(branch), this.#options.failoverTimeoutMs);
        branch.silenceTimer.unref?.();
      }
      return;
    }
  }

  #userFor(branch: Branch): ClientTransactionUser {
    return {
      onResponse: (res) => this.#onResponse(branch, res),
      onTimeout: () => this.#branchFailed(branch, 'timeout', 408, 'Request Timeout'),
      onTransportError: () => this.#branchFailed(branch, 'transport', 503, 'Service Unavailable'),
    };
  }

  #onSilence(branch: Branch): void {
    branch.silenceTimer = undefined;
    if (branch.heard || branch.done) return;
    // Nothing heard at all: give up on this target and let its transaction die quietly.
    this.#options.logger.info({ target: branch.target.label }, 'no answer from target, failing over');
    branch.tx?.abandon();
    this.#branchFailed(branch, 'timeout', 408, 'Request Timeout');
  }

  #onResponse(branch: Branch, res: SipResponse): void {
    if (this.#closed) return;
    branch.heard = true;
    this.#clearSilence(branch);
    // Our own Via goes first, before anything is kept or relayed (RFC 3261 §16.7 step 3).
    res.headers.shiftValue('via');
    const status = res.status;
    if (status < 200) {
      if (status === 100) return; // hop by hop (RFC 3261 §16.7 step 5)
      branch.provisional = true;
      if (!this.#finalSent) this.#relay(res, branch.tx?.flow);
      return;
    }
    if (status < 300) {
      branch.target.onSuccess?.();
      if (!branch.done) this.#endBranch(branch);
      // Every 2xx goes upstream at once (RFC 3261 §16.7 step 5, RFC 6026).
      this.#finalSent = true;
      if (this.#options.parallel === true) for (const b of this.#branches) if (!b.done && b.tx !== undefined && 'cancel' in b.tx) b.tx.cancel();
      const { onFinal, observer } = this.#options;
      this.#options.onFinalResponse?.(res);
      this.#relay(res, branch.tx?.flow);
      observer?.final(res, branch.tx?.flow);
      onFinal?.(status);
      return;
    }
    if (branch.done) return;
    if (status === 503 && this.#options.failover && !branch.provisional && this.#candidates.length > 0 && !this.#canceled) {
      this.#branchFailed(branch, '503', 503, res.reason);
      return;
    }
    if (status === 503) branch.target.onFailure?.('503');
    else branch.target.onSuccess?.();
    this.#endBranch(branch);
    this.#consider(res, branch.tx?.flow);
    if (status >= 600) this.cancel();
    this.#maybeFinish();
  }

  #branchFailed(branch: Branch, reason: 'timeout' | '503' | 'transport', status: number, phrase: string): void {
    if (branch.done) return;
    branch.target.onFailure?.(reason);
    this.#endBranch(branch);
    const canRetry = this.#options.failover && !branch.provisional && !this.#canceled && this.#candidates.length > 0;
    if (canRetry) {
      void this.#next();
      return;
    }
    const final = reason === 'transport' ? (this.#options.unreachableStatus ?? 503) : status;
    this.#consider(createResponse(this.#request, final, reason === 'transport' ? undefined : phrase));
    this.#maybeFinish();
  }

  #endBranch(branch: Branch): void {
    if (branch.done) return;
    branch.done = true;
    this.#clearSilence(branch);
    branch.target.onEnd?.();
  }

  #clearSilence(branch: Branch): void {
    if (branch.silenceTimer !== undefined) {
      clearTimeout(branch.silenceTimer);
      branch.silenceTimer = undefined;
    }
  }

  /** Keep the best final response (RFC 3261 §16.7 step 6): any 6xx, else the lowest class. */
  #consider(res: SipResponse, from?: Flow): void {
    const best = this.#best;
    const cls = (s: number): number => Math.floor(s / 100);
    if (best !== undefined && (cls(best.status) === 6 || (cls(res.status) !== 6 && cls(res.status) >= cls(best.status)))) return;
    this.#best = res;
    this.#bestFrom = from;
  }

  #maybeFinish(): void {
    if (this.#finalSent || this.#closed) return;
    if (this.#branches.some((b) => !b.done)) return;
    if (this.#candidates.length > 0 && !this.#canceled) return;
    let res = this.#best;
    let from = this.#bestFrom;
    if (res === undefined) res = createResponse(this.#request, this.#options.unreachableStatus ?? 503);
    // A canceled INVITE whose branch never answered still ends with 487 upstream.
    if (this.#canceled && res.status === 408) {
      res = createResponse(this.#request, 487);
      from = undefined;
    }
    // A 503 from downstream would make the upstream think *we* are overloaded (§16.7 step 6).
    if (res.status === 503 && from !== undefined) {
      res.status = 500;
      res.reason = 'Server Internal Error';
    }
    this.#finalSent = true;
    const { onFinal, observer } = this.#options;
    this.#options.onFinalResponse?.(res);
    this.#relay(res, from);
    observer?.final(res, from);
    onFinal?.(res.status);
  }

  #relay(res: SipResponse, downstream?: Flow): void {
    const transform = this.#options.transformResponse;
    if (transform === undefined) {
      if (res.status >= 200) this.#release();
      this.#server.respond(res);
      return;
    }
    // One link per response: responses leave in the order they came, each once its transform is done.
    this.#relayChain = this.#relayChain.then(() => this.#transformThenRespond(transform, res, downstream));
  }

  async #transformThenRespond(transform: NonNullable<ProxyTransactionOptions['transformResponse']>, res: SipResponse, downstream: Flow | undefined): Promise<void> {
    try {
      await transform(res, downstream);
    } catch (err) {
      this.#options.logger.error({ err }, 'response transform failed');
    }
    if (res.status >= 200) this.#release();
    this.#server.respond(res);
  }

  /**
   * The final went upstream: from now on this context only relays 2xx
   * retransmissions and forks (RFC 6026, as long as the INVITE client
   * transaction's Timer M runs, 32 s). Those need the request's Vias,
   * Call-ID, CSeq, From and To, nothing else: the request is cut down in
   * place, so that no one who captured it (the pipeline's callbacks) keeps
   * the whole message alive either.
   * The callbacks of the final (onFinal, onFinalResponse) and the ended
   * branches' targets go too: they hold the caller's whole per-request
   * scope, where the transform (response-relay.ts) holds only what it reads.
   * A 2xx relayed later (retransmission, fork) is no new final: it is not
   * counted or reported again.
   */
  #release(): void {
    if (this.#released) return;
    this.#released = true;
    slimRequest(this.#request);
    this.#best = undefined;
    this.#bestFrom = undefined;
    this.#candidates.length = 0;
    const o = this.#options;
    this.#options = { failover: false, failoverTimeoutMs: o.failoverTimeoutMs, logger: o.logger, ...(o.transformResponse === undefined ? {} : { transformResponse: o.transformResponse }) };
    // Ended branches are never asked to start, fail or end again; their transactions keep what they need.
    for (const b of this.#branches) if (b.done) b.target = ENDED;
    this.#branches = this.#branches.filter((b) => !b.done);
  }
}

/** What an ended branch points at once its context is released: nothing to start, report or release. */
const ENDED: BranchTarget = { label: 'ended', start: async () => undefined };

/** An error a branch start throws to end the request with a status of ours. */
function isRejection(err: unknown): err is RequestRejection {
  return err instanceof RequestRejection;
}
