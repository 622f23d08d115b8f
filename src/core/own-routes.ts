import type { SipRequest } from '../sip/message.js';
import type { SipUri } from '../sip/uri.js';
import type { Flow } from '../transport/flow.js';
import type { FlowTable } from '../transport/index.js';
import type { OwnAddresses } from './own-addresses.js';

/** What popping our own Route entries found: a flow token (and its flow), a topology key. */
export interface PoppedRoutes {
  token?: string;
  flow?: Flow;
  error?: 'tampered';
  /** The topology record key (`tk`) of our outside-facing entry. */
  key?: string;
}

/** Where a request goes: a live flow (a client of ours) or an address to connect to. */
export type NextHop = { kind: 'flow'; flow: Flow; /** A registered Contact to use as Request-URI (local registrar). */ requestUri?: string } | { kind: 'address'; uri: SipUri; requestUri?: string; /** A Route to put on top (another node's flow token). */ route?: string };

/** The URI inside a name-addr value (`"x" <sip:…>;p` → `sip:…`). */
function innerUri(value: string): string {
  const lt = value.indexOf('<');
  const gt = value.lastIndexOf('>');
  return lt >= 0 && gt > lt ? value.slice(lt + 1, gt) : value;
}

/**
 * Loose routing over our own entries (RFC 3261 §16.4, §16.6 step 6): which
 * Route entries are ours, what they carry (flow token, topology key), and
 * where the request goes once they are gone.
 */
export class OwnRoutes {
  readonly #own: OwnAddresses;
  readonly #flows: FlowTable;
  readonly #isTopologyKey: (tk: string | null | undefined) => boolean;

  constructor(own: OwnAddresses, flows: FlowTable, isTopologyKey: (tk: string | null | undefined) => boolean) {
    this.#own = own;
    this.#flows = flows;
    this.#isTopologyKey = isTopologyKey;
  }

  /**
   * Pop every Route entry of ours at the top (one, or two after double
   * Record-Route) and undo the strict-router form. The last token among
   * them names a client flow (RFC 5626 §5.3).
   */
  pop(req: SipRequest): PoppedRoutes {
    let token: string | undefined;
    let key: string | undefined;
    const reqUri = req.requestUri();
    if (reqUri !== undefined && this.#own.isOwn(reqUri) && reqUri.params.has('lr')) {
      // A strict router upstream put our Record-Route URI in the Request-URI:
      // the real target is the last Route (RFC 3261 §16.4).
      if (reqUri.user !== undefined) token = reqUri.user;
      const routes = req.headers.values('route');
      const last = routes.pop();
      if (last !== undefined) {
        req.headers.remove('route');
        for (const r of routes) req.headers.append('route', r);
        req.uri = innerUri(last);
      }
    }
    for (;;) {
      const top = req.routes()?.[0];
      if (top === undefined || !this.#own.isOwn(top.uri)) break;
      if (top.uri.user !== undefined) token = top.uri.user;
      const tk = top.uri.params.get('tk');
      if (this.#isTopologyKey(tk)) key = tk ?? undefined;
      req.headers.shiftValue('route');
    }
    const withKey = key === undefined ? {} : { key };
    if (token === undefined) return withKey;
    const found = this.#flows.byToken(token);
    if (found.ok) return { token, flow: found.value, ...withKey };
    return found.error === 'tampered' ? { token, error: 'tampered', ...withKey } : { token, ...withKey };
  }

  /** Next hop by the remaining Route set (loose or strict) or the Request-URI. */
  nextHop(req: SipRequest): NextHop | undefined {
    const top = req.routes()?.[0];
    if (top !== undefined) {
      if (!top.uri.params.has('lr')) {
        // Strict next hop (RFC 3261 §16.6 step 6): it becomes the Request-URI.
        const first = req.headers.shiftValue('route');
        req.headers.append('route', `<${req.uri}>`);
        if (first !== undefined) req.uri = innerUri(first);
      }
      return { kind: 'address', uri: top.uri };
    }
    const uri = req.requestUri();
    if (uri === undefined || this.#own.isOwn(uri)) return undefined;
    return { kind: 'address', uri };
  }
}
