import { randomBytes } from 'node:crypto';
import type { Logger } from '../log/logger.js';
import type { ParseError } from '../sip/parser.js';
import type { FlowBase } from './flow-base.js';
import type { FlowTable } from './flow-table.js';
import type { ListenerInfo, ListenerSpec, TransportProtocol } from './flow.js';
import type { TransportLimits } from './limits.js';
import { WireTap } from './wire-tap.js';

/** One bound socket or server; the transport layer starts and stops it. */
export interface Listener {
  readonly info: ListenerState;
  /** Bind; rejects with the socket error. */
  start(): Promise<void>;
  /** Stop accepting and close every flow it owns. Idempotent. */
  stop(): Promise<void>;
}

/** What listeners need from the transport layer. */
export interface ListenerContext {
  readonly limits: TransportLimits;
  readonly logger: Logger;
  readonly flows: FlowTable;
  /** A complete SIP message (datagram or framed) arrived on `flow`. */
  receive(flow: FlowBase, data: Buffer): void;
  /** A datagram another worker passed to this one (already steered: handled here). */
  receiveSteered?(flow: FlowBase, data: Buffer): void;
  /** Something that could not become a message arrived on `flow`. */
  invalid(flow: FlowBase, error: ParseError): void;
  /** Take a connection slot for an inbound connection from `ip`; false when over maxConnectionsPerIp. */
  admit(ip: string): boolean;
  /** Give back the slot taken by admit(). */
  release(ip: string): void;
}

/** The live view of one configured listener. */
export class ListenerState implements ListenerInfo {
  readonly index: number;
  readonly transport: TransportProtocol;
  readonly address: string;
  readonly port: number;
  readonly advertise: string;
  readonly interface?: string;
  readonly bind?: 'reuse-port' | 'own';
  boundPort = 0;
  up = false;
  /**
   * A `reuse-port` UDP socket's inode (Linux), once known: other workers'
   * sockets share its port, so its own kernel queue is told apart by it.
   */
  socketInode: number | undefined;
  /** Shared by every listener of one transport layer; the flows of this listener report their messages to it. */
  readonly tap: WireTap;

  constructor(spec: ListenerSpec, index: number, tap: WireTap = new WireTap()) {
    this.index = index;
    this.tap = tap;
    this.transport = spec.transport;
    this.address = spec.address;
    this.port = spec.port;
    this.advertise = spec.advertise;
    if (spec.interface !== undefined) this.interface = spec.interface;
    if (spec.bind !== undefined) this.bind = spec.bind;
  }

  /** `tls 0.0.0.0:5061`, for log lines and error messages. */
  get label(): string {
    const host = this.address.includes(':') ? `[${this.address}]` : this.address;
    return `${this.transport} ${host}:${this.up ? this.boundPort : this.port}`;
  }

  get family(): 'IPv4' | 'IPv6' {
    return this.address.includes(':') ? 'IPv6' : 'IPv4';
  }
}

// A per-process random part keeps connection ids (and so their tokens) from
// ever naming a connection of an earlier run that used the same secret.
const instanceTag = randomBytes(4).toString('hex');
let nextConnection = 0;

/** A fresh id for a connection flow. */
export function connectionFlowId(transport: TransportProtocol): string {
  nextConnection += 1;
  return `${transport}-${instanceTag}-${nextConnection.toString(36)}`;
}

/** Address family of a socket address string. */
export function familyOf(address: string): 'IPv4' | 'IPv6' {
  return address.includes(':') ? 'IPv6' : 'IPv4';
}

/** A ParseError for a message over maxMessageBytes (RFC 3261 §21.5.14: 513 Message Too Large). */
export function tooLargeError(): ParseError {
  return { code: 'too-large', reason: 'Message Too Large', status: 513 };
}
