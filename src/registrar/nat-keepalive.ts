import type { Logger } from '../log/logger.js';
import { HeaderList } from '../sip/headers.js';
import { newBranch, newTag, randomToken } from '../sip/ids.js';
import { SipRequest } from '../sip/message.js';
import { formatHostPort } from '../sip/uri.js';
import type { TransactionLayer } from '../transaction/index.js';
import type { Flow } from '../transport/flow.js';
import type { FlowTable } from '../transport/index.js';
import { ownVia } from '../core/record-route.js';
import type { FlowBindings } from './flow-bindings.js';

export interface NatKeepaliveOptions {
  intervalSeconds: number;
  method: 'OPTIONS' | 'CRLF';
  /** Unanswered OPTIONS in a row before the flow is closed. */
  failuresToClose: number;
  bindings: FlowBindings;
  flows: FlowTable;
  transactions: TransactionLayer;
  logger: Logger;
  product: string;
  /** Only flows this says are outside get pinged. */
  isOutside(flow: Flow): boolean;
}

/**
 * Keeps NAT bindings of registered UDP phones open (the backend's calls reach
 * them through our Path): an OPTIONS (or a CRLF) on every registered UDP flow
 * each interval. A phone that stops answering OPTIONS has its flow closed, so
 * our view drops its bindings and new requests for it fail fast.
 * WebSocket and TCP flows need none: their connections carry their own keepalives.
 */
export class NatKeepalive {
  readonly #o: NatKeepaliveOptions;
  readonly #failures = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;
  #seq = 1;

  constructor(options: NatKeepaliveOptions) {
    this.#o = options;
  }

  start(): void {
    if (this.#o.intervalSeconds <= 0 || this.#timer !== undefined) return;
    this.#timer = setInterval(() => this.tick(), this.#o.intervalSeconds * 1000);
    this.#timer.unref();
  }

  close(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#failures.clear();
  }

  /** One round of keepalives (exposed for tests). */
  tick(): void {
    const seen = new Set<string>();
    for (const id of this.#o.bindings.flowIds()) {
      const flow = this.#o.flows.get(id);
      if (flow === undefined || flow.closed || flow.transport !== 'udp' || !this.#o.isOutside(flow)) continue;
      seen.add(id);
      if (this.#o.method === 'CRLF') flow.send(Buffer.from('\r\n\r\n'));
      else this.#ping(flow);
    }
    for (const id of this.#failures.keys()) if (!seen.has(id)) this.#failures.delete(id);
  }

  #ping(flow: Flow): void {
    const binding = this.#o.bindings.bindingsOf(flow.id)[0];
    if (binding === undefined) return;
    const l = flow.listener;
    const self = `sip:${formatHostPort(l.advertise, l.boundPort)}`;
    const headers = new HeaderList();
    headers.append('via', ownVia(l, newBranch()));
    headers.append('max-forwards', '70');
    headers.append('from', `<${self}>;tag=${newTag()}`);
    headers.append('to', `<${binding.aor}>`);
    headers.append('call-id', `${randomToken(12)}@keepalive`);
    headers.append('cseq', `${this.#seq++} OPTIONS`);
    headers.append('user-agent', this.#o.product);
    headers.append('content-length', '0');
    // Addressed to the registered contact's user at the address it really sends from:
    // phones answer 404 to an OPTIONS without their user part.
    const user = /^sips?:([^@]+)@/.exec(binding.contact)?.[1];
    const target = `sip:${user !== undefined ? `${user}@` : ''}${formatHostPort(flow.remote.address, flow.remote.port)}`;
    const req = new SipRequest('OPTIONS', target, headers);
    let answered = false;
    const timeout = setTimeout(() => {
      if (answered) return;
      tx.abandon();
      this.#failed(flow);
    }, Math.min(this.#o.intervalSeconds * 1000, 5000));
    timeout.unref();
    const tx = this.#o.transactions.createClientTransaction(req, flow, {
      onResponse: (res) => {
        if (res.status < 200 || answered) return;
        answered = true;
        clearTimeout(timeout);
        this.#failures.delete(flow.id);
      },
      onTimeout: () => undefined,
      onTransportError: () => undefined,
    });
  }

  #failed(flow: Flow): void {
    const n = (this.#failures.get(flow.id) ?? 0) + 1;
    if (n < this.#o.failuresToClose) {
      this.#failures.set(flow.id, n);
      return;
    }
    this.#failures.delete(flow.id);
    this.#o.logger.info({ flow: flow.id, remote: `${flow.remote.address}:${flow.remote.port}` }, 'registered UDP flow stopped answering keepalives: closed');
    this.#o.bindings.dropFlow(flow.id);
    flow.close('keepalive failed');
  }
}
