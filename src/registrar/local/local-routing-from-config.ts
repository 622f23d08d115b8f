/** registrar.mode local: bindings in the state store, REGISTER answered here, calls forked to the contacts. */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { gatewayWorkerId } from '../../cluster/worker-env.js';
import type { PartContext } from '../../server/part.js';
import { formatHostPort } from '../../sip/uri.js';
import type { StateStore } from '../../state/index.js';
import type { TransportLayer } from '../../transport/index.js';
import { BindingStore } from './binding-store.js';
import { GatewayBindingTotal } from './gateway-binding-total.js';
import { LocalDomains } from './local-domains.js';
import { LocalRegistrar, type LocalRegistrarOptions } from './local-registrar.js';
import { LocalRouting } from './local-routing.js';

export interface LocalRoutingWiring {
  store: StateStore;
  /** Started: the domains default to its listeners, and the node is known by one of them. */
  transport: TransportLayer;
  onFlowBindings: NonNullable<LocalRegistrarOptions['onFlowBindings']>;
}

export function localRoutingFromConfig(ctx: PartContext, w: LocalRoutingWiring): { registrar: LocalRegistrar; routing: LocalRouting } {
  const { config, metrics } = ctx;
  const r = config.registrar;
  const transport = w.transport;
  const bindings = new BindingStore({ store: w.store, keyPrefix: config.state.redis.keyPrefix, ttlSeconds: r.maxExpires + 30 });
  const domains = r.domains.length > 0 ? new LocalDomains(r.domains) : LocalDomains.defaults(transport.listeners);
  const logger = ctx.logger.child({ part: 'registrar' });
  // Other nodes on the same Redis reach this node's clients through its UDP (else TCP) listener;
  // a worker (workers > 1) through its own port, which the other workers do not share.
  const pick = (t: 'udp' | 'tcp') => transport.listeners.find((l) => l.transport === t && l.bind === 'own') ?? transport.listeners.find((l) => l.transport === t);
  const nodeListener = pick('udp') ?? pick('tcp');
  const nodeUri = nodeListener === undefined ? undefined : `sip:${formatHostPort(nodeListener.advertise, nodeListener.boundPort)};transport=${nodeListener.transport}`;
  if (config.state.store === 'redis' && config.trustedSources.length === 0) {
    logger.warn('registrar.mode local on a shared Redis: list the other nodes in trustedSources (and share flowTokens.secret) so calls reach users registered on them');
  }
  const worker = gatewayWorkerId();
  // A gateway with workers: the supervisor (this worker's parent) names the gateway all of them count for.
  const total = worker === undefined ? undefined : new GatewayBindingTotal({ store: w.store, keyPrefix: config.state.redis.keyPrefix, gateway: `${hostname()}/${process.ppid}`, worker, ttlSeconds: r.maxExpires + 30, logger });
  const registrar = new LocalRegistrar({
    bindings,
    domains,
    tokens: transport.tokens,
    flows: transport.flows,
    minExpires: r.minExpires,
    maxExpires: r.maxExpires,
    maxBindingsPerAor: r.maxBindingsPerAor,
    maxBindings: r.maxBindings,
    ...(total !== undefined ? { total } : {}),
    // The node is known by the address the others reach it at: after a restart its UDP bindings still count as its own.
    node: nodeUri ?? `${hostname()}/${randomUUID().slice(0, 8)}`,
    ...(nodeUri !== undefined ? { nodeUri } : {}),
    logger,
    metrics,
    onFlowBindings: w.onFlowBindings,
  });
  const routing = new LocalRouting({ registrar, bindings, flowFailedStatus: config.proxy.flowFailedStatus, logger, metrics });
  return { registrar, routing };
}
