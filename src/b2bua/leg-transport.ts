/**
 * How the B2BUA reaches the far end of a leg and puts requests on the wire:
 * client legs by their flow token (RFC 5626 §5.3), inside legs by route set
 * and remote target (RFC 3261 §12.2.1.1, §8.1.2), each request with our own
 * Via and a fresh branch.
 */
import { resolveUri } from '../core/next-hop.js';
import { ownVia } from '../core/record-route.js';
import type { Logger } from '../log/logger.js';
import type { SbcMetrics } from '../admin/metrics.js';
import type { Target } from '../routing/index.js';
import { newBranch } from '../sip/ids.js';
import type { SipRequest } from '../sip/message.js';
import { serialize } from '../sip/serializer.js';
import { parseUri } from '../sip/uri.js';
import type { ClientTransaction, ClientTransactionUser, TransactionLayer } from '../transaction/index.js';
import type { Flow, TransportLayer } from '../transport/index.js';
import type { NextHop } from '../core/own-routes.js';
import type { Leg } from './leg.js';
import { NodeRelayFlow } from './node-relay-flow.js';

/** Flow recovery's view of a client token (absent = a closed flow is gone at once). */
export interface LegFlowRecovery {
  /** 480 while the token's client may still come back; undefined once it is gone. */
  goneStatus(token: string): number | undefined;
  /** The client came back on another node: the hop there (its URI and a Route naming the new flow). */
  elsewhere?(token: string): NextHop | undefined;
}

export class LegTransport {
  readonly #transport: TransportLayer;
  readonly #transactions: TransactionLayer;
  readonly #log: Logger;
  readonly #metrics: SbcMetrics | undefined;
  readonly #flowFailedStatus: number;
  readonly #recovery: LegFlowRecovery | undefined;

  constructor(transport: TransportLayer, transactions: TransactionLayer, logger: Logger, metrics?: SbcMetrics, flowFailedStatus = 430, recovery?: LegFlowRecovery) {
    this.#transport = transport;
    this.#transactions = transactions;
    this.#log = logger;
    this.#metrics = metrics;
    this.#flowFailedStatus = flowFailedStatus;
    this.#recovery = recovery;
  }

  /**
   * What a request for a leg that cannot be reached is answered with: a
   * client flow that is down gets 480 while its client may come back, then
   * proxy.flowFailedStatus (430); anything else 503.
   */
  unreachableStatus(leg: Leg): number {
    if (leg.hop.kind !== 'flow') return 503;
    return this.#recovery?.goneStatus(leg.hop.token) ?? this.#flowFailedStatus;
  }

  get timers(): { t1Ms: number; t2Ms: number } {
    return this.#transactions.timers;
  }

  /** Token naming a client flow, for legs reached through it. */
  tokenFor(flow: Flow): string {
    return this.#transport.tokens.issue(flow);
  }

  /** The flow a client token names, when it is still usable. */
  flowByToken(token: string): Flow | undefined {
    const r = this.#transport.flows.byToken(token);
    return r.ok && !r.value.closed ? r.value : undefined;
  }

  /** The flow toward a leg's far end, or undefined when it cannot be reached. */
  async flowFor(leg: Leg): Promise<Flow | undefined> {
    if (leg.hop.kind === 'flow') return this.flowByToken(leg.hop.token) ?? (await this.#viaNode(leg.hop.token));
    if (!leg.targetLearned && leg.routeSet.length === 0 && leg.firstHop !== undefined && !leg.firstHop.closed) return leg.firstHop;
    return this.flowToUri(leg.nextHopUri());
  }

  /** The client of `token` came back on another node: a flow there that puts the Route to its new flow on top. */
  async #viaNode(token: string): Promise<Flow | undefined> {
    const hop = this.#recovery?.elsewhere?.(token);
    if (hop?.kind !== 'address' || hop.route === undefined) return undefined;
    const dest = await resolveUri(hop.uri);
    if (dest === undefined) return undefined;
    try {
      return new NodeRelayFlow(await this.#transport.connect(dest), hop.route);
    } catch (err) {
      this.#log.debug({ err }, 'connect to the node of a client that came back there failed');
      return undefined;
    }
  }

  /** Resolve and connect to a URI (A/AAAA, no SRV); WebSocket URIs are only reachable over a client flow. */
  async flowToUri(text: string): Promise<Flow | undefined> {
    const uri = parseUri(text);
    if (!uri.ok) return undefined;
    const dest = await resolveUri(uri.value);
    if (dest === undefined || dest.transport === 'ws' || dest.transport === 'wss') return undefined;
    try {
      return await this.#transport.connect(dest);
    } catch (err) {
      this.#log.debug({ err, uri: text }, 'connect failed');
      return undefined;
    }
  }

  async flowToTarget(t: Target): Promise<Flow | undefined> {
    try {
      return await this.#transport.connect({ transport: t.transport, address: t.address ?? t.host, port: t.port });
    } catch (err) {
      this.#log.debug({ err, target: t.uri }, 'connect failed');
      return undefined;
    }
  }

  /** Send a request in its own client transaction, with our Via on top. */
  send(req: SipRequest, flow: Flow, user: ClientTransactionUser, options: { timerC?: boolean } = {}): ClientTransaction {
    req.headers.prepend('via', ownVia(flow.listener, newBranch()));
    this.#metrics?.sipMessages.inc({ direction: 'out', transport: flow.transport, method: req.method });
    return this.#transactions.createClientTransaction(req, flow, user, { timerC: options.timerC === true });
  }

  /** Send an ACK for a 2xx (no transaction, RFC 3261 §13.2.2.4); returns its bytes for re-sending. */
  sendAck(ack: SipRequest, flow: Flow): Buffer {
    ack.headers.prepend('via', ownVia(flow.listener, newBranch()));
    const bytes = serialize(ack);
    this.#metrics?.sipMessages.inc({ direction: 'out', transport: flow.transport, method: 'ACK' });
    flow.send(bytes);
    return bytes;
  }
}
