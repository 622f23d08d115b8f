/**
 * registrar.mode local in the pipeline: the initial requests the local
 * registrar takes (its own answer — REGISTER, 404, 430 — or a fork to the
 * user's contacts), and a CANCEL that arrives while the user is being
 * looked up (the INVITE then gets its 487 once the lookup is back).
 */
import type { Logger } from '../log/logger.js';
import type { SipRequest } from '../sip/message.js';
import type { ServerTransaction } from '../transaction/index.js';
import type { Flow } from '../transport/flow.js';
import type { LocalDomain } from './local-domain.js';
import type { NextHop } from './own-routes.js';

/** What the takeover does through the pipeline. */
export interface LocalTakeoverHost {
  respond(server: ServerTransaction, status: number, reason?: string, headers?: Record<string, string>): void;
  /** Ring the hops at once (the pipeline's proxy, between clients of ours). */
  fork(server: ServerTransaction, req: SipRequest, source: Flow, inside: boolean, hops: NextHop[]): void;
  logger: Logger;
}

export class LocalTakeover {
  readonly #domain: LocalDomain;
  readonly #host: LocalTakeoverHost;
  /** INVITEs waiting for the lookup: a CANCEL meanwhile is remembered here. */
  readonly #lookups = new WeakMap<ServerTransaction, { cancelled: boolean }>();

  constructor(domain: LocalDomain, host: LocalTakeoverHost) {
    this.#domain = domain;
    this.#host = host;
  }

  /** True when the local registrar takes the initial request (and it will be answered). */
  take(server: ServerTransaction, req: SipRequest, flow: Flow, inside: boolean): boolean {
    if (!inside) req.headers.remove('route'); // no open relay: preloaded routes from outside are not honoured
    if (!this.#domain.takes(req)) return false;
    const lookup = { cancelled: false };
    if (req.method === 'INVITE') this.#lookups.set(server, lookup);
    void this.#domain.route(req, flow).then((d) => {
      this.#lookups.delete(server);
      if (lookup.cancelled) this.#host.respond(server, 487, 'Request Terminated');
      else if (d.kind === 'reply') this.#host.respond(server, d.status, d.reason, d.headers);
      else this.#host.fork(server, req, flow, inside, d.contacts.map((c): NextHop => ('flow' in c ? { kind: 'flow', ...c } : { kind: 'address', uri: c.node, requestUri: c.requestUri, route: c.route })));
    }).catch((err: unknown) => this.#host.logger.error({ err, callId: req.callId }, 'local routing failed'));
    return true;
  }

  /** A CANCEL for `invite`: true when its lookup is still out (the CANCEL is then answered 200 by the caller). */
  cancel(invite: ServerTransaction): boolean {
    const lookup = this.#lookups.get(invite);
    if (lookup === undefined) return false;
    lookup.cancelled = true;
    return true;
  }
}
