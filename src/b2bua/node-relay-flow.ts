/**
 * A client leg whose client came back on another node of ours (flow
 * recovery): requests for it go to that node over `inner`, each with a
 * Route naming the client's new flow on top (RFC 5626 §5.3), which that
 * node pops to deliver it. Everything else is the inner flow's.
 */
import type { Address, Flow, ListenerInfo, TransportProtocol } from '../transport/flow.js';

export class NodeRelayFlow implements Flow {
  readonly #inner: Flow;
  readonly #route: Buffer;

  constructor(inner: Flow, route: string) {
    this.#inner = inner;
    this.#route = Buffer.from(`Route: ${route}\r\n`, 'utf8');
  }

  get id(): string { return this.#inner.id; }
  get transport(): TransportProtocol { return this.#inner.transport; }
  get listener(): ListenerInfo { return this.#inner.listener; }
  get local(): Address { return this.#inner.local; }
  get remote(): Address { return this.#inner.remote; }
  get secure(): boolean { return this.#inner.secure; }
  get reliable(): boolean { return this.#inner.reliable; }
  get closed(): boolean { return this.#inner.closed; }
  get lastSeen(): number { return this.#inner.lastSeen; }

  /** The request with our Route as its first header field (topmost Route). */
  send(data: Buffer): boolean {
    const eol = data.indexOf('\r\n');
    if (eol < 0) return this.#inner.send(data);
    return this.#inner.send(Buffer.concat([data.subarray(0, eol + 2), this.#route, data.subarray(eol + 2)]));
  }

  /** The inner flow is shared: not ours to close. */
  close(): void {}
}
