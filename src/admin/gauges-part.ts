/** Samples the transaction and flow gauges once a second (a part of the gateway). */
import type { Part } from '../server/part.js';
import type { TransactionLayer } from '../transaction/index.js';
import type { TransportLayer, TransportProtocol } from '../transport/index.js';
import type { SbcMetrics } from './metrics.js';

export class GaugesPart implements Part {
  readonly name = 'gauges';
  readonly #metrics: SbcMetrics;
  readonly #transport: () => TransportLayer;
  readonly #transactions: () => TransactionLayer;
  #timer: NodeJS.Timeout | undefined;

  constructor(metrics: SbcMetrics, transport: () => TransportLayer, transactions: () => TransactionLayer) {
    this.#metrics = metrics;
    this.#transport = transport;
    this.#transactions = transactions;
  }

  start(): void {
    this.#timer = setInterval(() => this.#sample(), 1000);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
  }

  #sample(): void {
    const counts = this.#transactions().counts();
    for (const type of ['ict', 'nict', 'ist', 'nist'] as const) this.#metrics.transactions.set({ type }, counts[type]);
    const byTransport: Record<TransportProtocol, number> = { udp: 0, tcp: 0, tls: 0, ws: 0, wss: 0 };
    for (const f of this.#transport().flows.values()) byTransport[f.transport]++;
    for (const transport of ['udp', 'tcp', 'tls', 'ws', 'wss'] as const) this.#metrics.activeFlows.set({ transport }, byTransport[transport]);
  }
}
