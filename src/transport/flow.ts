/**
 * A flow is what a message came on: a connection (TCP, TLS, WS, WSS) or, for
 * UDP, the listener socket plus the remote address. Responses and in-dialog
 * requests go back on the same flow; Path and Record-Route name it by token.
 */

export type TransportProtocol = 'udp' | 'tcp' | 'tls' | 'ws' | 'wss';

export const RELIABLE: Readonly<Record<TransportProtocol, boolean>> = { udp: false, tcp: true, tls: true, ws: true, wss: true };
export const SECURE: Readonly<Record<TransportProtocol, boolean>> = { udp: false, tcp: false, tls: true, ws: false, wss: true };

export interface Address {
  /** IP address without brackets. */
  address: string;
  port: number;
  family: 'IPv4' | 'IPv6';
}

/** What the transport layer knows of one configured listener. */
export interface ListenerSpec {
  transport: TransportProtocol;
  address: string;
  port: number;
  /** Host or IP we write into Via / Record-Route / Path for this listener. */
  advertise: string;
  /** Optional label for multi-homed setups ("inside", "outside"). */
  interface?: string;
  /**
   * UDP under `workers` > 1: `reuse-port` = this worker's SO_REUSEPORT socket
   * on the shared port; `own` = a socket of this worker alone (its inside port).
   * @default an ordinary bind
   */
  bind?: 'reuse-port' | 'own';
}

export interface ListenerInfo extends ListenerSpec {
  /** Position in the configured list; stable for the process lifetime. */
  readonly index: number;
  /** Actually bound port (differs from `port` when 0 was configured). */
  readonly boundPort: number;
  readonly up: boolean;
  /** A `reuse-port` UDP socket's inode (Linux), once read: it tells this worker's socket from the others on the port. */
  readonly socketInode?: number | undefined;
}

export interface Flow {
  /** Stable for the flow's lifetime, unique within the process. */
  readonly id: string;
  readonly transport: TransportProtocol;
  readonly listener: ListenerInfo;
  readonly local: Address;
  readonly remote: Address;
  readonly secure: boolean;
  readonly reliable: boolean;
  readonly closed: boolean;
  /** Monotonic ms (performance.now()) of the last message received. */
  readonly lastSeen: number;
  /** WS/WSS: the SIP user a handshake token bound the connection to (security.websocket.token); absent otherwise. */
  readonly boundUser?: string | undefined;
  /** Queue bytes on the flow; false when the flow is closed (nothing sent). */
  send(data: Buffer): boolean;
  /** Idempotent. */
  close(reason?: string): void;
}
