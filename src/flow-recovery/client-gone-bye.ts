/**
 * A BYE the proxy sends on behalf of a client that is gone (RFC 3261
 * §15.1.1, §12.2.1.1): inside the client's dialog, toward the inside party,
 * with a Reason header (RFC 3326) saying why. It goes in its own client
 * transaction with our Via; the answer is only logged.
 */
import { resolveUri } from '../core/next-hop.js';
import { ownVia } from '../core/record-route.js';
import type { SbcMetrics } from '../admin/metrics.js';
import type { Logger } from '../log/logger.js';
import { HeaderList } from '../sip/headers.js';
import { newBranch } from '../sip/ids.js';
import { SipRequest } from '../sip/message.js';
import { parseUri } from '../sip/uri.js';
import type { TransactionLayer } from '../transaction/index.js';
import type { Flow, TransportLayer } from '../transport/index.js';

export interface ByeSpec {
  callId: string;
  /** From: the client's party, with its tag. */
  from: string;
  /** To: the inside party, with its tag. */
  to: string;
  target: string;
  routeSet: readonly string[];
  cseq: number;
  reason: string;
}

export interface ByeOnBehalf {
  send(spec: ByeSpec): Promise<void>;
}

export class ProxyBye implements ByeOnBehalf {
  readonly #transport: TransportLayer;
  readonly #transactions: TransactionLayer;
  readonly #log: Logger;
  readonly #metrics: SbcMetrics | undefined;
  readonly #productName: string | undefined;

  constructor(o: { transport: TransportLayer; transactions: TransactionLayer; logger: Logger; metrics?: SbcMetrics; productName?: string }) {
    this.#transport = o.transport;
    this.#transactions = o.transactions;
    this.#log = o.logger;
    this.#metrics = o.metrics;
    this.#productName = o.productName;
  }

  async send(spec: ByeSpec): Promise<void> {
    const req = byeRequest(spec);
    if (this.#productName !== undefined) req.headers.set('user-agent', this.#productName);
    const first = req.routes()?.[0]?.uri ?? req.requestUri();
    const flow = first === undefined ? undefined : await this.#connect(first);
    if (flow === undefined) {
      this.#log.warn({ callId: spec.callId, target: spec.target }, 'client gone: the other side cannot be reached for the BYE');
      return;
    }
    req.headers.prepend('via', ownVia(flow.listener, newBranch()));
    this.#metrics?.sipMessages.inc({ direction: 'out', transport: flow.transport, method: 'BYE' });
    const log = this.#log;
    this.#transactions.createClientTransaction(req, flow, {
      onResponse: (res) => {
        if (res.status >= 200) log.debug({ callId: spec.callId, status: res.status }, 'client gone: BYE answered');
      },
      onTimeout: () => log.info({ callId: spec.callId }, 'client gone: BYE not answered'),
      onTransportError: () => log.info({ callId: spec.callId }, 'client gone: BYE could not be sent'),
    });
  }

  async #connect(uri: NonNullable<ReturnType<SipRequest['requestUri']>>): Promise<Flow | undefined> {
    try {
      const dest = await resolveUri(uri);
      if (dest === undefined || dest.transport === 'ws' || dest.transport === 'wss') return undefined;
      return await this.#transport.connect(dest);
    } catch (err) {
      this.#log.debug({ err }, 'client gone: connect for the BYE failed');
      return undefined;
    }
  }
}

/** The BYE itself: Request-URI the target, Route the route set (a strict first hop converted, RFC 3261 §12.2.1.1). */
export function byeRequest(spec: ByeSpec): SipRequest {
  const headers = new HeaderList();
  headers.append('max-forwards', '70');
  let uri = spec.target;
  const routes = spec.routeSet.slice();
  const first = routes[0];
  if (first !== undefined && !isLooseRoute(first)) {
    routes.shift();
    routes.push(`<${uri}>`);
    uri = innerUri(first);
  }
  for (const r of routes) headers.append('route', r);
  headers.append('from', spec.from);
  headers.append('to', spec.to);
  headers.append('call-id', spec.callId);
  headers.append('cseq', `${spec.cseq} BYE`);
  headers.append('reason', spec.reason);
  return new SipRequest('BYE', uri, headers);
}

function innerUri(value: string): string {
  const lt = value.indexOf('<');
  const gt = value.indexOf('>', lt);
  return lt >= 0 && gt > lt ? value.slice(lt + 1, gt) : value.split(';')[0]!.trim();
}

function isLooseRoute(value: string): boolean {
  const r = parseUri(innerUri(value));
  return !r.ok || r.value.params.has('lr');
}
