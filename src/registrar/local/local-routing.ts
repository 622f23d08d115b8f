/**
 * The pipeline's view of the local registrar (core/local-domain.ts): it
 * takes every REGISTER and every initial request for a user of our domains,
 * answers REGISTER itself and turns a call into a fork to the contacts
 * registered for the Request-URI's AOR:
 *
 *   no binding ─► 404 Not Found
 *   bindings, but none of their flows is up ─► proxy.flowFailedStatus (430 / 480)
 *   otherwise ─► every contact at once, one per RFC 5626 instance, each over its own flow;
 *                a contact whose flow lives on another node goes to that node
 *                with a Route carrying the flow token (the nodes must trust each
 *                other: trustedSources, and share flowTokens.secret)
 *
 * Built-in services (echo, tone) are not here: they take their requests
 * before the pipeline routes (a RequestTaker, like the B2BUA), so a service
 * number never reaches the lookup.
 */
import type { LocalContact, LocalDecision, LocalDomain } from '../../core/local-domain.js';
import type { Logger } from '../../log/logger.js';
import type { SbcMetrics as Metrics } from '../../admin/metrics.js';
import type { SipRequest } from '../../sip/message.js';
import { formatHostPort, parseUri } from '../../sip/uri.js';
import type { Flow } from '../../transport/flow.js';
import type { BindingStore } from './binding-store.js';
import type { LocalRegistrar } from './local-registrar.js';
import { aorOf } from './register-request.js';

export interface LocalRoutingOptions {
  registrar: LocalRegistrar;
  bindings: BindingStore;
  /** proxy.flowFailedStatus: every registered flow of the user is gone. */
  flowFailedStatus: number;
  logger: Logger;
  metrics?: Metrics;
}

export class LocalRouting implements LocalDomain {
  readonly #o: LocalRoutingOptions;

  constructor(options: LocalRoutingOptions) {
    this.#o = options;
  }

  takes(req: SipRequest): boolean {
    if (req.method === 'REGISTER') return true;
    if (req.method === 'ACK' || req.method === 'CANCEL') return false;
    const uri = req.requestUri();
    return uri !== undefined && uri.user !== undefined && this.#o.registrar.domains.has(uri.host);
  }

  async route(req: SipRequest, source: Flow): Promise<LocalDecision> {
    try {
      return req.method === 'REGISTER' ? await this.#o.registrar.register(req, source) : await this.#lookup(req, source);
    } catch (err) {
      this.#o.logger.error({ err, callId: req.callId }, 'registration store unavailable');
      return { kind: 'reply', status: 500, reason: 'Registrar Unavailable', headers: { 'Retry-After': '10' } };
    }
  }

  async #lookup(req: SipRequest, source: Flow): Promise<LocalDecision> {
    const uri = req.requestUri();
    const aor = uri === undefined ? undefined : aorOf(uri);
    if (aor === undefined) return this.#reply(404, 'Not Found', 'not-registered');
    const bindings = await this.#o.bindings.read(aor);
    if (bindings.length === 0) return this.#reply(404, 'Not Found', 'not-registered');
    const contacts: LocalContact[] = [];
    const instances = new Set<string>();
    let own = false;
    for (const b of bindings) {
      // RFC 5626 §5.3: one flow per instance, the most recent that is up.
      if (b.instance !== undefined && instances.has(b.instance)) continue;
      if (b.node !== this.#o.registrar.node) {
        const relayed = viaNode(b.nodeUri, b.flowToken, b.uri);
        if (relayed !== undefined) contacts.push(relayed);
        if (relayed !== undefined && b.instance !== undefined) instances.add(b.instance);
        continue;
      }
      const flow = this.#o.registrar.flowOf(b);
      if (flow === undefined) continue;
      if (flow.id === source.id) {
        // Not back to the caller's own connection: its other devices still ring.
        own = true;
        continue;
      }
      if (b.instance !== undefined) instances.add(b.instance);
      contacts.push({ flow, requestUri: b.uri });
    }
    if (contacts.length === 0) {
      return own ? this.#reply(480, 'Temporarily Unavailable', 'not-registered') : this.#reply(this.#o.flowFailedStatus, undefined, 'flow-gone');
    }
    return { kind: 'fork', contacts };
  }

  #reply(status: number, reason: string | undefined, metric: string): LocalDecision {
    this.#o.metrics?.rejectedRequests.inc({ reason: metric });
    return { kind: 'reply', status, ...(reason !== undefined ? { reason } : {}) };
  }
}

/** A contact on another node: to that node's URI, with our Route-style URI of it carrying the flow token (RFC 5626 §5.3). */
function viaNode(nodeUri: string | undefined, token: string, requestUri: string): LocalContact | undefined {
  if (nodeUri === undefined) return undefined;
  const parsed = parseUri(nodeUri);
  if (!parsed.ok) return undefined;
  const node = parsed.value;
  const transport = node.params.get('transport');
  const route = `<sip:${token}@${formatHostPort(node.host, node.port)}${typeof transport === 'string' ? `;transport=${transport}` : ''};lr>`;
  return { node, route, requestUri };
}
