/**
 * The routing API for operators: what a `routing.script` module's default
 * export is handed for every initial request, and what it may answer. The
 * same request (as JSON, `RoutingRequestJson`) is what `routing.http`
 * POSTs, and the same decision is what the service answers.
 *
 * ```js
 * // route.mjs
 * export default function route(request) {
 *   if (request.ruri.user?.startsWith('00')) return { relay: { group: 'carrier', ruriUser: '+' + request.ruri.user.slice(2) } };
 *   if (request.ruri.user === '911') return { relay: { group: 'emergency' } };
 *   if (request.from.user === 'mallory') return { reply: { status: 403, reason: 'Blocked' } };
 *   return undefined; // the gateway routes as it would without a script
 * }
 * ```
 */

/** The Request-URI. */
export interface RoutingUri {
  /** User part, unescaped; undefined when the URI has none. */
  readonly user: string | undefined;
  /** Host, lower-case for names; IPv6 without brackets. */
  readonly host: string;
  /** Port when the URI names one. */
  readonly port: number | undefined;
  /** URI parameters; a flag parameter (`;lr`) has the value null. */
  readonly params: Readonly<Record<string, string | null>>;
}

/** The From or To party. */
export interface RoutingParty {
  readonly user: string | undefined;
  readonly host: string | undefined;
  readonly displayName: string | undefined;
}

/** Where the request came from. */
export interface RoutingSource {
  readonly address: string;
  readonly port: number;
  /** udp | tcp | tls | ws | wss */
  readonly transport: string;
}

/** The request fields as data (what `routing.http` POSTs, and the script sees besides the two functions). */
export interface RoutingRequestData {
  /** INVITE, MESSAGE, OPTIONS, SUBSCRIBE, REGISTER… (never ACK or CANCEL, never in-dialog). */
  readonly method: string;
  readonly ruri: RoutingUri;
  readonly from: RoutingParty;
  readonly to: RoutingParty;
  readonly callId: string;
  readonly source: RoutingSource;
  /** The request came from inside (a backend or a trusted network). */
  readonly fromInside: boolean;
  /** The authenticated user, when digest authentication ran (security.auth.mode local); else undefined. */
  readonly authUser: string | undefined;
  /** The domain of the `routes:` entry the Request-URI host matched; undefined when none did. */
  readonly tenant: string | undefined;
}

/** What a routing script is handed: read-only (frozen). */
export interface RoutingRequest extends RoutingRequestData {
  /** First value of a header field (case-insensitive name; compact forms count), or undefined. */
  header(name: string): string | undefined;
  /** Every value of a header field, comma-separated lists split, in order. */
  headers(name: string): string[];
}

/** The JSON body `routing.http` POSTs: the data fields plus every header, lower-case names, values in order. */
export interface RoutingRequestJson extends RoutingRequestData {
  readonly headers: Readonly<Record<string, string[]>>;
}

/** Relay the request. Without `group` or `uri` the usual routing (by domain, then group "default") picks the group. */
export interface RelayDecision {
  relay: {
    /** A backend group (`backends.<group>`); its targets are tried with failover as usual. */
    group?: string;
    /** An explicit target: the Request-URI becomes this SIP URI and the request goes to its host (not with `group`). */
    uri?: string;
    /** Rewrite the Request-URI user part (after `uri`). */
    ruriUser?: string;
    /** Rewrite the Request-URI host (after `uri`). */
    ruriHost?: string;
    /** Header fields to set (replacing any present); subject to topology hiding like any other. */
    setHeaders?: Record<string, string>;
    /** Header fields to remove (names; Via, From, To, Call-ID, CSeq and the other dialog headers are refused). */
    removeHeaders?: string[];
  };
}

/** Answer the request here. */
export interface ReplyDecision {
  reply: {
    /** 300–699. */
    status: number;
    reason?: string;
    headers?: Record<string, string>;
  };
}

export type RoutingDecision = RelayDecision | ReplyDecision;

/** `undefined` (or `null`) leaves the request to the usual routing. */
export type RouteResult = RoutingDecision | undefined | null;

/** The default export of a `routing.script` module. */
export type RouteFunction = (request: RoutingRequest) => RouteResult | Promise<RouteResult>;
