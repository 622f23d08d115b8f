import { performance } from 'node:perf_hooks';
import { RELIABLE, SECURE, type Address, type Flow, type ListenerInfo, type TransportProtocol } from './flow.js';
import type { WireTap } from './wire-tap.js';

export type FlowCloseListener = (flow: FlowBase, reason: string) => void;

/**
 * What every flow of ours shares: identity, activity clocks and one close
 * notification. Subclasses only know how to send bytes and release their socket.
 */
export abstract class FlowBase implements Flow {
  readonly id: string;
  readonly transport: TransportProtocol;
  readonly listener: ListenerInfo;
  readonly local: Address;
  readonly remote: Address;
  readonly secure: boolean;
  readonly reliable: boolean;
  /** Inbound flows were opened by the peer; outbound ones by connect(). */
  readonly inbound: boolean;
  readonly createdAt: number;
  #lastSeen: number;
  #lastActivity: number;
  #closed = false;
  #closeListeners: FlowCloseListener[] = [];
  readonly #tap: WireTap | undefined;

  constructor(init: { id: string; transport: TransportProtocol; listener: ListenerInfo; local: Address; remote: Address; inbound: boolean; tap?: WireTap }) {
    this.id = init.id;
    this.#tap = init.tap;
    this.transport = init.transport;
    this.listener = init.listener;
    this.local = init.local;
    this.remote = init.remote;
    this.inbound = init.inbound;
    this.secure = SECURE[init.transport];
    this.reliable = RELIABLE[init.transport];
    this.createdAt = performance.now();
    this.#lastSeen = this.createdAt;
    this.#lastActivity = this.createdAt;
  }

  get closed(): boolean {
    return this.#closed;
  }

  get lastSeen(): number {
    return this.#lastSeen;
  }

  /** Last send or receive (monotonic ms); idle limits are measured from it. */
  get lastActivity(): number {
    return this.#lastActivity;
  }

  /** Record that something arrived on the flow. */
  touch(now: number = performance.now()): void {
    this.#lastSeen = now;
    this.#lastActivity = now;
  }

  send(data: Buffer): boolean {
    if (this.#closed) return false;
    this.#lastActivity = performance.now();
    if (!this.write(data)) return false;
    const observer = this.#tap?.observer;
    if (observer !== undefined) observer('out', this, data);
    return true;
  }

  /** Call `listener` once when the flow closes (at once if it already has); returns an unsubscribe function. */
  onClose(listener: FlowCloseListener): () => void {
    if (this.#closed) {
      listener(this, 'closed');
      return () => {};
    }
    this.#closeListeners.push(listener);
    return () => {
      const i = this.#closeListeners.indexOf(listener);
      if (i >= 0) this.#closeListeners.splice(i, 1);
    };
  }

  close(reason = 'closed'): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.release(reason);
    } finally {
      const listeners = this.#closeListeners;
      this.#closeListeners = [];
      for (const l of listeners) l(this, reason);
    }
  }

  /** Put bytes on the wire; the flow is open. */
  protected abstract write(data: Buffer): boolean;
  /** Release the underlying socket or connection; called once. */
  protected abstract release(reason: string): void;
}
