/** The transaction layer as a part of the gateway. */
import type { Part, PartContext } from '../server/part.js';
import { started } from '../server/part.js';
import { TransactionLayer } from './transaction-layer.js';

export class TransactionPart implements Part {
  readonly name = 'transactions';
  readonly #ctx: PartContext;
  #layer: TransactionLayer | undefined;

  constructor(ctx: PartContext) {
    this.#ctx = ctx;
  }

  get layer(): TransactionLayer {
    return started(this.#layer);
  }

  /** Pending INVITE transactions (0 before start). */
  pendingInvites(): number {
    return this.#layer?.pendingInvites() ?? 0;
  }

  start(): void {
    const t = this.#ctx.config.timers;
    this.#layer = new TransactionLayer({
      timers: { t1Ms: t.t1Ms, t2Ms: t.t2Ms, t4Ms: t.t4Ms, timerCMs: t.timerCSeconds * 1000 },
      logger: this.#ctx.logger.child({ part: 'transaction' }),
      // sbc_sip_messages_total counts what leaves as well as what arrives: responses too.
      onResponseSent: (_res, flow) => this.#ctx.metrics.sipMessages.inc({ direction: 'out', transport: flow.transport, method: 'response' }),
    });
  }

  stop(): void {
    this.#layer?.close();
  }
}
