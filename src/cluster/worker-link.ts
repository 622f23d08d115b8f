/**
 * A worker's side of the supervisor link: its id (from the environment the
 * supervisor forked it with), the steering of stray datagrams to their owner
 * through the supervisor, and the signals the supervisor forwards.
 */
import type { SteeredDatagram, WorkerSteering } from '../transport/index.js';
import { isMessage, ownPorts, steerMessage, steeredDatagram, type OwnPort } from './messages.js';

/** Steered datagrams at most waiting on the channel to the supervisor. */
const MAX_IN_FLIGHT = 4096;

export class WorkerLink implements WorkerSteering {
  readonly id: number;
  #onSteered: ((d: SteeredDatagram) => void) | undefined;
  #onSignal: ((signal: 'SIGTERM' | 'SIGINT' | 'SIGHUP') => void) | undefined;
  #onSiblings: ((own: OwnPort[]) => void) | undefined;
  /** A stop signal forwarded before onSignal() was set (the worker was starting). */
  #early: 'SIGTERM' | 'SIGINT' | undefined;
  /** Datagrams passed on, dropped (too many waiting on the channel) and received, for diagnostics. */
  passed = 0;
  dropped = 0;
  received = 0;
  /** Steered datagrams handed to the channel and not yet written: a flood must not queue without bound. */
  #inFlight = 0;

  constructor(id: number) {
    this.id = id;
    process.on('message', (m: unknown) => this.#onMessage(m));
  }

  pass(owner: number, datagram: SteeredDatagram): void {
    if (typeof process.send !== 'function' || !process.connected) return;
    if (this.#inFlight >= MAX_IN_FLIGHT) {
      // The sender retransmits (UDP); better than memory growing with a stuck channel.
      this.dropped += 1;
      return;
    }
    this.passed += 1;
    this.#inFlight += 1;
    try {
      process.send(steerMessage(owner, datagram), undefined, undefined, () => { this.#inFlight -= 1; });
    } catch {
      // The supervisor is going away; the sender retransmits.
      this.#inFlight -= 1;
    }
  }

  /** Datagrams other workers pass here go to `handler` (the transport layer once started). */
  onSteered(handler: (d: SteeredDatagram) => void): void {
    this.#onSteered = handler;
  }

  /** Signals the supervisor forwards; a stop that came while the worker was still starting is delivered now. */
  onSignal(handler: (signal: 'SIGTERM' | 'SIGINT' | 'SIGHUP') => void): void {
    this.#onSignal = handler;
    const early = this.#early;
    this.#early = undefined;
    if (early !== undefined) handler(early);
  }

  /** Every worker's own ports, each time one more worker is ready. */
  onSiblings(handler: (own: OwnPort[]) => void): void {
    this.#onSiblings = handler;
  }

  /** Tell the supervisor every part has started, and which ports are this worker's own. */
  ready(own: OwnPort[]): void {
    if (typeof process.send === 'function' && process.connected) process.send({ sbc: 'ready', own });
  }

  #onMessage(m: unknown): void {
    if (isMessage(m, 'steer')) {
      const d = steeredDatagram(m);
      if (d !== undefined && this.#onSteered !== undefined) {
        this.received += 1;
        this.#onSteered(d);
      }
    } else if (isMessage(m, 'siblings')) {
      this.#onSiblings?.(ownPorts(m));
    } else if (isMessage(m, 'signal')) {
      const s = m.signal;
      if (s !== 'SIGTERM' && s !== 'SIGINT' && s !== 'SIGHUP') return;
      if (this.#onSignal !== undefined) this.#onSignal(s);
      else if (s !== 'SIGHUP') this.#early ??= s;
    }
  }
}
