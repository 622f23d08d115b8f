/**
 * Every transport limit with its safe default, in one place.
 * Durations are in milliseconds, sizes in bytes.
 */
export interface TransportLimits {
  /** Largest SIP message accepted on any transport; larger UDP datagrams get 513, larger stream messages close the connection. @default 65535 */
  maxMessageBytes: number;
  /** Most header fields one message may carry. @default 128 */
  maxHeaderCount: number;
  /** Open inbound connections (TCP, TLS, WS, WSS together) from one IP address. @default 100 */
  maxConnectionsPerIp: number;
  /** A connection that sends no complete SIP message or valid keepalive within this is closed. @default 10000 */
  handshakeTimeoutMs: number;
  /** A connection silent in both directions this long is closed; above SIP.js's 600 s re-REGISTER. @default 900000 */
  idleTimeoutMs: number;
  /** How often we send WebSocket pings to find dead peers. @default 30000 */
  wsPingIntervalMs: number;
  /** Most UDP flows kept in the flow table; the oldest is dropped beyond it. @default 200000 */
  maxUdpFlows: number;
  /** A UDP flow with no traffic this long leaves the table (its token still rebuilds it). @default 600000 */
  udpFlowIdleMs: number;
  /** Largest WebSocket message; one WS message carries one SIP message. @default maxMessageBytes */
  maxWsPayloadBytes: number;
  /** Bytes queued for a peer that does not read; beyond it the connection is closed. @default 1048576 */
  maxWriteBufferBytes: number;
  /**
   * Kernel receive buffer of each UDP socket. The default (~208 kB, about 150
   * datagrams) overflows during a 10–20 ms stall at a few hundred calls/s; the
   * kernel caps the value at net.core.rmem_max. @default 4194304
   */
  udpReceiveBufferBytes: number;
}

export const TRANSPORT_LIMITS: Readonly<TransportLimits> = Object.freeze({
  maxMessageBytes: 65535,
  maxHeaderCount: 128,
  maxConnectionsPerIp: 100,
  handshakeTimeoutMs: 10_000,
  idleTimeoutMs: 900_000,
  wsPingIntervalMs: 30_000,
  maxUdpFlows: 200_000,
  udpFlowIdleMs: 600_000,
  maxWsPayloadBytes: 65535,
  maxWriteBufferBytes: 1024 * 1024,
  udpReceiveBufferBytes: 4 * 1024 * 1024,
});

/** Fill in defaults; maxWsPayloadBytes follows maxMessageBytes unless set. */
export function resolveLimits(partial: Partial<TransportLimits> = {}): TransportLimits {
  const maxMessageBytes = partial.maxMessageBytes ?? TRANSPORT_LIMITS.maxMessageBytes;
  return { ...TRANSPORT_LIMITS, maxWsPayloadBytes: maxMessageBytes, ...stripUndefined(partial) };
}

function stripUndefined(partial: Partial<TransportLimits>): Partial<TransportLimits> {
  const out: Partial<TransportLimits> = {};
  for (const [k, v] of Object.entries(partial) as [keyof TransportLimits, number | undefined][]) {
    if (v !== undefined) out[k] = v;
  }
  return out;
}
