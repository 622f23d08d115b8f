/**
 * The flow a next hop is reached on: a client's own flow while it is open,
 * else a connection to the hop's address (a backend target, or a URI
 * resolved per RFC 3263). WebSocket destinations cannot be dialled; a flow
 * dialled to a backend target counts as inside from then on.
 */
import type { Logger } from '../log/logger.js';
import type { Target } from '../routing/index.js';
import type { Flow } from '../transport/flow.js';
import type { TransportLayer } from '../transport/index.js';
import type { InsideSources } from './inside-sources.js';
import { resolveUri, type Destination } from './next-hop.js';
import type { NextHop } from './own-routes.js';

/** A hop the pipeline forwards to: a routed next hop or a backend target. */
export type ForwardHop = NextHop | { kind: 'target'; target: Target };

export class HopFlows {
  readonly #transport: Pick<TransportLayer, 'connect'>;
  readonly #inside: Pick<InsideSources, 'markDialed'>;
  readonly #log: Logger;

  constructor(transport: Pick<TransportLayer, 'connect'>, inside: Pick<InsideSources, 'markDialed'>, logger: Logger) {
    this.#transport = transport;
    this.#inside = inside;
    this.#log = logger;
  }

  /** The flow to send on; undefined when the client's flow is closed or nothing could be reached. */
  async flowFor(hop: ForwardHop): Promise<Flow | undefined> {
    try {
      if (hop.kind === 'flow') return hop.flow.closed ? undefined : hop.flow;
      let dest: Destination | undefined;
      if (hop.kind === 'target') {
        const t = hop.target;
        dest = { transport: t.transport, address: t.address ?? t.host, port: t.port };
      } else {
        dest = await resolveUri(hop.uri);
      }
      if (dest === undefined || dest.transport === 'ws' || dest.transport === 'wss') return undefined;
      const flow = await this.#transport.connect(dest);
      if (hop.kind === 'target') this.#inside.markDialed(flow);
      return flow;
    } catch (err) {
      this.#log.debug({ err }, 'connect failed');
      return undefined;
    }
  }
}
