import { formatHostPort } from '../sip/uri.js';
import type { ListenerInfo } from '../transport/flow.js';

/** URI transport parameter for a listener (RFC 7118 §5: `ws` names both WS and WSS). */
export function uriTransportParam(l: ListenerInfo): string {
  return l.transport === 'wss' ? 'ws' : l.transport;
}

/**
 * A URI of ours that routes back to `listener`, with an optional flow token in
 * the user part (RFC 5626 §5.3): our Record-Route entries and Path.
 */
export function ownUri(listener: ListenerInfo, token: string | undefined, extraParams = ''): string {
  const user = token === undefined ? '' : `${token}@`;
  const scheme = listener.transport === 'tls' ? 'sip' : 'sip';
  return `<${scheme}:${user}${formatHostPort(listener.advertise, listener.boundPort)};transport=${uriTransportParam(listener)};lr${extraParams}>`;
}

/** Via sent-by protocol token for a listener. */
export function viaTransport(l: ListenerInfo): string {
  return l.transport.toUpperCase();
}

/** Our Via for a request leaving through `listener`. */
export function ownVia(listener: ListenerInfo, branch: string): string {
  return `SIP/2.0/${viaTransport(listener)} ${formatHostPort(listener.advertise, listener.boundPort)};branch=${branch};rport`;
}

/**
 * A Contact URI of ours on `listener` (topology hiding): the inside party's
 * Contact is replaced by it, and `user` is the key its record is kept under.
 */
export function ownContactUri(listener: ListenerInfo, user: string | undefined): string {
  const at = user === undefined ? '' : `${user}@`;
  return `sip:${at}${formatHostPort(listener.advertise, listener.boundPort)};transport=${uriTransportParam(listener)}`;
}
