/** Admission control as a part of the gateway: the load monitor and, when enabled, the gate before the parser. */
import type { Part, PartContext, SipLayers } from '../server/part.js';
import type { Flow } from '../transport/index.js';
import { OverloadControl } from './index.js';

export interface OverloadPartOptions extends PartContext, SipLayers {
  isInside: (flow: Flow) => boolean;
}

export class OverloadPart implements Part {
  readonly name = 'overload';
  readonly #o: OverloadPartOptions;
  #control: OverloadControl | undefined;

  constructor(options: OverloadPartOptions) {
    this.#o = options;
  }

  /** Whether a probe that timed out since `since` is excused by shedding (false before start). */
  excuses(since: number): boolean {
    return this.#control?.excuses(since) ?? false;
  }

  start(): void {
    const { config: c, logger, metrics } = this.#o;
    const transport = this.#o.transport();
    const transactions = this.#o.transactions();
    const overload = new OverloadControl({
      settings: c.overload,
      t1Ms: c.timers.t1Ms,
      logger: logger.child({ part: 'overload' }),
      metrics,
      pendingInvites: () => transactions.pendingInvites(),
      hasServerTransaction: (branch, sentBy, method) => transactions.hasServerTransaction(branch, sentBy, method),
      isInside: this.#o.isInside,
      // A reuse-port socket is known by its inode (the other workers' share its port); one whose inode is not read yet is left out.
      udpSockets: () => transport.listeners.filter((l) => l.transport === 'udp' && l.up && (l.bind !== 'reuse-port' || l.socketInode !== undefined))
        .map((l) => (l.bind === 'reuse-port' ? { port: l.boundPort, inode: l.socketInode } : { port: l.boundPort })),
    });
    this.#control = overload;
    if (overload.enabled) transport.setGate((flow, data) => overload.gate.screen(flow, data));
    overload.start();
  }

  stop(): void {
    this.#control?.close();
  }
}
