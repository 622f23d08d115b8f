/** The transport layer's public face. */
export type { Address, Flow, ListenerInfo, ListenerSpec, TransportProtocol } from './flow.js';
export { RELIABLE, SECURE } from './flow.js';
export { FlowTable, type FlowClosedListener } from './flow-table.js';
export { FlowTokens, type FlowTokenData, type FlowTokenError } from './flow-token.js';
export { TRANSPORT_LIMITS, resolveLimits, type TransportLimits } from './limits.js';
export { TransportLayer, type ConnectTarget, type TransportLayerOptions, type TransportUser } from './transport-layer.js';
export type { StreamTlsClientOptions } from './stream-dialer.js';
export type { HttpRequestHandler } from './ws.js';
export { SIP_SUBPROTOCOL } from './ws.js';
export { WireTap, type WireDirection, type WireObserver } from './wire-tap.js';
export { addressBytes, ipv6Form } from './address-bytes.js';
export type { HandshakeCheck, HandshakeVerdict } from './ws-handshake.js';
export type { TlsCredentials } from './tls-credentials.js';
export { ownerOf, type SteeredDatagram, type WorkerSteering } from './steering.js';
export { reusePortAddon } from './reuse-port.js';
