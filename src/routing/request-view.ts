/**
 * The read-only view of a SIP request that routing scripts, HTTP routing
 * services and declarative rules decide on (script/types.ts). Built once per
 * initial request from what the parser already has; the JSON form (every
 * header) is made only for an HTTP service.
 */
import type { SipRequest } from '../sip/message.js';
import type { NameAddr } from '../sip/headers/name-addr.js';
import type { Params } from '../sip/uri.js';
import type { RoutingParty, RoutingRequest, RoutingRequestJson, RoutingUri } from './script/types.js';

/** What the view needs besides the request. */
export interface RequestContext {
  source: { address: string; port: number; transport: string };
  fromInside: boolean;
  authUser: string | undefined;
  tenant: string | undefined;
}

const NO_PARTY: RoutingParty = Object.freeze({ user: undefined, host: undefined, displayName: undefined });

export function routingRequest(req: SipRequest, ctx: RequestContext): RoutingRequest {
  const uri = req.requestUri();
  const ruri: RoutingUri = Object.freeze({
    user: uri?.user,
    host: uri?.host ?? '',
    port: uri?.port,
    params: Object.freeze(paramsObject(uri?.params)),
  });
  const headers = req.headers;
  return Object.freeze({
    method: req.method,
    ruri,
    from: party(req.from()),
    to: party(req.to()),
    callId: req.callId ?? '',
    source: Object.freeze({ ...ctx.source }),
    fromInside: ctx.fromInside,
    authUser: ctx.authUser,
    tenant: ctx.tenant,
    header: (name: string): string | undefined => (typeof name === 'string' ? headers.get(name) : undefined),
    headers: (name: string): string[] => (typeof name === 'string' ? headers.values(name) : []),
  });
}

/** The body `routing.http` POSTs: the view's fields and every header (lower-case names, values in order). */
export function routingRequestJson(view: RoutingRequest, req: SipRequest): RoutingRequestJson {
  const headers: Record<string, string[]> = {};
  for (const f of req.headers.fields) {
    // Credentials never leave the gateway (they were checked, or belong to the backend).
    if (f.name === 'authorization' || f.name === 'proxy-authorization') continue;
    (headers[f.name] ??= []).push(f.value);
  }
  const { method, ruri, from, to, callId, source, fromInside, authUser, tenant } = view;
  return { method, ruri, from, to, callId, source, fromInside, authUser, tenant, headers };
}

function party(na: NameAddr | undefined): RoutingParty {
  if (na === undefined) return NO_PARTY;
  return Object.freeze({ user: na.uri.user, host: na.uri.host, displayName: na.display });
}

function paramsObject(params: Params | undefined): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  if (params !== undefined) for (const [k, v] of params) out[k] = v;
  return out;
}
