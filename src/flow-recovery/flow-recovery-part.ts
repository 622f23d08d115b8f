/** Flow recovery as a part of the gateway: started after the transport, before what reacts to a client that is gone. */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Part, PartContext } from '../server/part.js';
import { started } from '../server/part.js';
import { formatHostPort } from '../sip/uri.js';
import type { StateStore } from '../state/index.js';
import type { Flow, TransportLayer } from '../transport/index.js';
import { FlowRecovery } from './flow-recovery.js';

export interface FlowRecoveryPartOptions extends PartContext {
  store: () => StateStore;
  /** Whether other workers or nodes see the store (a worker's store served by the supervisor, or Redis): the client may come back on one of them. */
  shared: () => boolean;
  transport: () => TransportLayer;
  isInside: (flow: Flow) => boolean;
}

export class FlowRecoveryPart implements Part {
  readonly name = 'flow-recovery';
  readonly #o: FlowRecoveryPartOptions;
  #recovery: FlowRecovery | undefined;

  constructor(options: FlowRecoveryPartOptions) {
    this.#o = options;
  }

  get recovery(): FlowRecovery {
    return started(this.#recovery);
  }

  /** Subscribe to client flows that are gone for good (the media, the B2BUA). */
  onGone(listener: (flowId: string) => void): () => void {
    return this.recovery.onGone(listener);
  }

  async start(): Promise<void> {
    const { config, logger, metrics } = this.#o;
    const transport = this.#o.transport();
    // Other nodes reach this node's clients through its UDP (else TCP) listener, as for the local registrar;
    // a worker (workers > 1) through its own port, which the other workers do not share.
    const pick = (t: 'udp' | 'tcp') => transport.listeners.find((x) => x.transport === t && x.bind === 'own') ?? transport.listeners.find((x) => x.transport === t);
    const l = pick('udp') ?? pick('tcp');
    const uri = l === undefined ? undefined : `sip:${formatHostPort(l.advertise, l.boundPort)};transport=${l.transport}`;
    const recovery = new FlowRecovery({
      graceSeconds: config.flowRecovery.graceSeconds,
      flows: transport.flows,
      tokens: transport.tokens,
      store: this.#o.store(),
      keyPrefix: config.state.redis.keyPrefix,
      shared: this.#o.shared(),
      node: { id: `${uri ?? hostname()}/${randomUUID().slice(0, 8)}`, ...(uri !== undefined ? { uri } : {}) },
      isInside: this.#o.isInside,
      logger: logger.child({ part: 'flow-recovery' }),
      metrics,
    });
    this.#recovery = recovery;
    await recovery.start();
  }

  stop(): void {
    this.#recovery?.close();
  }
}
