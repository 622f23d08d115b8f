/** NAT keepalives as a part of the gateway: OPTIONS (or CRLF) on the registered UDP flows from outside. */
import type { Part, PartContext, SipLayers } from '../server/part.js';
import { PRODUCT } from '../server/part.js';
import type { Flow } from '../transport/index.js';
import { NatKeepalive } from './nat-keepalive.js';
import type { Registrations } from './registrations.js';

export interface NatKeepalivePartOptions extends PartContext, SipLayers {
  registrations: Registrations;
  isInside: (flow: Flow) => boolean;
}

export class NatKeepalivePart implements Part {
  readonly name = 'keepalive';
  readonly #o: NatKeepalivePartOptions;
  #keepalive: NatKeepalive | undefined;

  constructor(options: NatKeepalivePartOptions) {
    this.#o = options;
  }

  start(): void {
    const o = this.#o;
    const nat = o.config.nat;
    this.#keepalive = new NatKeepalive({
      intervalSeconds: nat.keepaliveIntervalSeconds,
      method: nat.keepaliveMethod,
      failuresToClose: nat.keepaliveFailures,
      bindings: o.registrations.bindings,
      flows: o.transport().flows,
      transactions: o.transactions(),
      logger: o.logger.child({ part: 'nat' }),
      product: PRODUCT,
      isOutside: (flow) => !o.isInside(flow),
    });
    this.#keepalive.start();
  }

  stop(): void {
    this.#keepalive?.close();
  }
}
