import { formatHostPort } from '../sip/uri.js';
import { uriMark } from '../sip/worker-mark.js';
import type { SipRequest } from '../sip/message.js';
import type { Flow, ListenerInfo } from '../transport/flow.js';

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
  return `<${scheme}:${user}${formatHostPort(listener.advertise, listener.boundPort)};transport=${uriTransportParam(listener)};lr${uriMark()}${extraParams}>`;
}

/** Where a request that gets our Record-Route came from and leaves to. */
export interface RecordRouteSides {
  source: Flow;
  sourceInside: boolean;
  out: Flow;
  /** The request leaves towards a client of ours (not a backend). */
  outIsClient: boolean;
  tokens: { issue(flow: Flow): string };
  /** The topology key parameter (`;tk=`), '' when hiding is off or the dialog has no key. */
  tk: string;
}

/**
 * Record-Route (RFC 3261 §16.6 step 4), twice when the request changes
 * listener (RFC 5658) or joins two clients of ours (one token each). The
 * entry facing the outside carries that side's flow token, so in-dialog
 * requests from inside find the client's flow,
 * and the topology key (`;tk=`) when hiding is on.
 * The top entry faces downstream (it is the one the next hop uses).
 */
export function addRecordRoute(req: SipRequest, s: RecordRouteSides): void {
  const { source, sourceInside, out, outIsClient, tk } = s;
  const upToken = sourceInside ? undefined : s.tokens.issue(source);
  const downToken = outIsClient ? s.tokens.issue(out) : undefined;
  if (source.listener.index === out.listener.index && (upToken === undefined || downToken === undefined)) {
    req.headers.prepend('record-route', ownUri(out.listener, upToken ?? downToken, !sourceInside || outIsClient ? tk : ''));
    return;
  }
  req.headers.prepend('record-route', ownUri(source.listener, upToken, sourceInside ? '' : tk));
  req.headers.prepend('record-route', ownUri(out.listener, downToken, outIsClient ? tk : ''));
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
