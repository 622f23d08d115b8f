/**
 * Operator routing logic for initial requests (core/backend-choice.ts
 * `RoutingStep`), in this order:
 *   1. `routes:` rules, first match wins: a reply ends it; strip/prefix
 *      rewrite the Request-URI user; a group is noted.
 *   2. `routing.script`: sees the request after the rules (with `tenant`);
 *      a decision overrides the rules' group, undefined keeps it.
 *   3. `routing.http`, when the script left the request alone (or there is
 *      no script): the same decision from a service.
 * A decision is checked whole (decision.ts) before any of it is applied. A
 * script that throws or overruns routing.timeoutMs, and a decision that is
 * invalid, answer 500; the service failing answers per routing.http.onError.
 */
import type { SbcMetrics } from '../admin/metrics.js';
import type { RouteDestination, RoutingStep, RoutingVerdict } from '../core/backend-choice.js';
import type { Logger } from '../log/logger.js';
import type { SipRequest } from '../sip/message.js';
import { formatUri, parseUri } from '../sip/uri.js';
import type { ServerTransaction } from '../transaction/index.js';
import type { Flow } from '../transport/flow.js';
import { checkDecision } from './decision.js';
import type { Dispatcher } from './dispatcher.js';
import type { RoutingService } from './http-decision.js';
import { routingRequest, routingRequestJson } from './request-view.js';
import { systemResolver, type HostResolver } from './resolve.js';
import type { RouteRules } from './route-rules.js';
import { runRoute } from './script/script-runner.js';
import type { RouteFunction, RoutingDecision } from './script/types.js';
import type { WorkerScript } from './script/worker-runner.js';
import { createTarget, parseTargetUri } from './target.js';

/** What the router decides with; replaced whole on reload. */
export interface RoutingLogic {
  rules: RouteRules;
  /** routing.script on the event loop, or in its own thread (routing.isolation: worker). */
  script: { kind: 'event-loop'; route: RouteFunction } | { kind: 'worker'; thread: WorkerScript } | undefined;
  timeoutMs: number;
  http: { service: RoutingService; onError: 'default' | '503' } | undefined;
}

export interface CallRouterOptions {
  dispatcher: Dispatcher;
  logger: Logger;
  metrics?: SbcMetrics;
  /** security.auth.mode local: an initial request from outside that got here is its From user's. */
  authenticates: boolean;
  resolver?: HostResolver;
}

type Source = 'rules' | 'script' | 'http';

const NEVER: ReadonlySet<string> = new Set(['ACK', 'CANCEL']);
const INTERNAL_ERROR: RoutingVerdict = { kind: 'reply', status: 500, reason: 'Server Internal Error' };
const CANCELLED: RoutingVerdict = { kind: 'reply', status: 487, reason: 'Request Terminated' };
const ROUTE: RoutingVerdict = { kind: 'route' };

export class CallRouter implements RoutingStep {
  readonly #o: CallRouterOptions;
  readonly #resolve: HostResolver;
  #logic: RoutingLogic;
  /** Whether anything beyond domain routes is configured. */
  #active: boolean;
  readonly #destinations = new WeakMap<SipRequest, RouteDestination>();
  /** INVITEs being decided → settles their decide() (CANCEL). */
  readonly #pending = new Map<ServerTransaction, (v: RoutingVerdict) => void>();

  constructor(logic: RoutingLogic, options: CallRouterOptions) {
    this.#o = options;
    this.#resolve = options.resolver ?? systemResolver;
    this.#logic = logic;
    this.#active = isActive(logic);
  }

  /** A reload: the new rules, script and service apply to requests that arrive from now on. */
  setLogic(logic: RoutingLogic): void {
    const old = this.#logic;
    this.#logic = logic;
    this.#active = isActive(logic);
    // Decisions in flight on the old logic finish (or time out) first.
    setTimeout(() => closeLogic(old), old.timeoutMs + (old.http?.service.timeoutMs ?? 0) + 100).unref();
  }

  /** The part stops: the script thread ends, pooled service connections close. */
  close(): void {
    closeLogic(this.#logic);
  }

  applies(req: SipRequest): boolean {
    return this.#active && !NEVER.has(req.method);
  }

  destinationOf(req: SipRequest): RouteDestination | undefined {
    return this.#destinations.get(req);
  }

  cancel(invite: ServerTransaction): boolean {
    const settle = this.#pending.get(invite);
    if (settle === undefined) return false;
    this.#pending.delete(invite);
    settle(CANCELLED);
    return true;
  }

  decide(server: ServerTransaction, req: SipRequest, source: Flow, inside: boolean): Promise<RoutingVerdict> {
    const work = this.#decide(req, source, inside).catch((err: unknown) => {
      this.#o.logger.error({ err, callId: req.callId }, 'routing failed');
      return INTERNAL_ERROR;
    });
    if (req.method !== 'INVITE') return work;
    return new Promise((resolve) => {
      this.#pending.set(server, resolve);
      void work.then((verdict) => {
        // Cancelled meanwhile: the 487 went out; this late verdict is dropped.
        if (this.#pending.get(server) !== resolve) return;
        this.#pending.delete(server);
        resolve(verdict);
      });
    });
  }

  async #decide(req: SipRequest, flow: Flow, inside: boolean): Promise<RoutingVerdict> {
    const logic = this.#logic;
    const uri = req.requestUri();
    const fromUser = req.from()?.uri.user;
    const rule = logic.rules.evaluate({ ruriUser: uri?.user, ruriHost: uri?.host ?? '', fromUser, sourceAddress: flow.remote.address });
    let group: string | undefined;
    if (rule !== undefined) {
      if (rule.reply !== undefined) {
        this.#count('rules', 'reply', '', rule.reply.status);
        return { kind: 'reply', status: rule.reply.status, ...(rule.reply.reason !== undefined ? { reason: rule.reply.reason } : {}) };
      }
      if (rule.ruriUser !== undefined && uri !== undefined) req.uri = formatUri({ ...uri, user: rule.ruriUser });
      group = rule.group;
      if (logic.script === undefined && logic.http === undefined) this.#count('rules', 'relay', group ?? '', 0);
    }
    if (logic.script === undefined && logic.http === undefined) return this.#relayTo(req, group);

    const view = routingRequest(req, {
      source: { address: flow.remote.address, port: flow.remote.port, transport: flow.transport },
      fromInside: inside,
      authUser: !inside && this.#o.authenticates ? fromUser : undefined,
      tenant: logic.rules.tenantOf(req.requestUri()?.host ?? ''),
    });
    if (logic.script !== undefined) {
      const script = logic.script;
      const outcome = script.kind === 'event-loop' ? await runRoute(script.route, view, logic.timeoutMs) : await script.thread.run(routingRequestJson(view, req), logic.timeoutMs);
      if (outcome.kind === 'timeout') {
        this.#count('script', 'timeout', '', 500);
        this.#o.logger.warn({ callId: req.callId, timeoutMs: logic.timeoutMs }, 'routing script: no decision in time; answered 500');
        return INTERNAL_ERROR;
      }
      if (outcome.kind === 'error') {
        this.#count('script', 'error', '', 500);
        this.#o.logger.error({ callId: req.callId, err: outcome.error }, 'routing script threw; answered 500');
        return INTERNAL_ERROR;
      }
      const verdict = await this.#apply('script', req, outcome.value, group);
      if (verdict !== undefined) return verdict;
    }
    if (logic.http !== undefined) {
      const outcome = await logic.http.service.ask(routingRequestJson(view, req));
      if (outcome.kind !== 'value') {
        const why = outcome.kind === 'timeout' ? `no answer in ${logic.http.service.timeoutMs} ms` : outcome.error;
        this.#count('http', outcome.kind, '', logic.http.onError === '503' ? 503 : 0);
        this.#o.logger.warn({ callId: req.callId, service: logic.http.service.url, error: why, onError: logic.http.onError }, 'routing service failed');
        if (logic.http.onError === '503') return { kind: 'reply', status: 503, reason: 'Service Unavailable' };
        return this.#relayTo(req, group);
      }
      const verdict = await this.#apply('http', req, outcome.value, group);
      if (verdict !== undefined) return verdict;
    }
    // Nobody but the rules (if any) decided.
    this.#count(rule !== undefined ? 'rules' : logic.http !== undefined ? 'http' : 'script', rule !== undefined ? 'relay' : 'default', group ?? '', 0);
    return this.#relayTo(req, group);
  }

  /**
   * A script's or service's answer: undefined when it left the request to
   * what came before (rules, default routing); else the verdict, its edits
   * applied (all of them, or none when it is invalid).
   */
  async #apply(source: Source, req: SipRequest, value: unknown, ruleGroup: string | undefined): Promise<RoutingVerdict | undefined> {
    const checked = checkDecision(value);
    if (!checked.ok) return this.#invalid(source, req, checked.error);
    const decision: RoutingDecision | undefined = checked.decision;
    // "Route as usual": the service (after a script) or the rules have the word; counted where it ends.
    if (decision === undefined) return undefined;
    if ('reply' in decision) {
      const r = decision.reply;
      this.#count(source, 'reply', '', r.status);
      return { kind: 'reply', status: r.status, ...(r.reason !== undefined ? { reason: r.reason } : {}), ...(r.headers !== undefined ? { headers: r.headers } : {}) };
    }
    const relay = decision.relay;
    // Everything that can fail is checked before the request is touched.
    if (relay.group !== undefined && !this.#o.dispatcher.hasGroup(relay.group)) return this.#invalid(source, req, `relay.group: no backend group "${relay.group}"`);
    let destination: RouteDestination | undefined;
    if (relay.uri !== undefined) {
      const where = parseTargetUri(relay.uri);
      if (!where.ok) return this.#invalid(source, req, `relay.uri: ${where.error}`);
      const target = createTarget('uri', { uri: relay.uri, weight: 1, priority: 0 }, where.value);
      if (target.address === undefined) {
        try {
          target.address = await this.#resolve(target.host);
          target.up = true;
        } catch (err) {
          this.#count(source, 'error', 'uri', 503);
          this.#o.logger.warn({ callId: req.callId, uri: relay.uri, err }, 'routing decision: target host does not resolve; answered 503');
          return { kind: 'reply', status: 503, reason: 'Service Unavailable' };
        }
      }
      destination = { kind: 'target', target };
    } else if (relay.group !== undefined) destination = { kind: 'group', group: relay.group };
    let ruri: string | undefined;
    if (relay.uri !== undefined || relay.ruriUser !== undefined || relay.ruriHost !== undefined) {
      const base = parseUri(relay.uri ?? req.uri);
      if (!base.ok) return this.#invalid(source, req, 'relay: the Request-URI cannot be rewritten (it is not a SIP URI)');
      const u = base.value;
      ruri = formatUri({ ...u, ...(relay.ruriUser !== undefined ? { user: relay.ruriUser } : {}), ...(relay.ruriHost !== undefined ? { host: relay.ruriHost.replace(/^\[|\]$/g, '') } : {}) });
    }
    if (ruri !== undefined) req.uri = ruri;
    for (const name of relay.removeHeaders ?? []) req.headers.remove(name);
    for (const [name, v] of Object.entries(relay.setHeaders ?? {})) req.headers.set(name, v);
    this.#count(source, 'relay', relay.group ?? (relay.uri !== undefined ? 'uri' : (ruleGroup ?? '')), 0);
    if (destination !== undefined) this.#destinations.set(req, destination);
    else if (ruleGroup !== undefined) this.#destinations.set(req, { kind: 'group', group: ruleGroup });
    return ROUTE;
  }

  #relayTo(req: SipRequest, group: string | undefined): RoutingVerdict {
    if (group !== undefined) this.#destinations.set(req, { kind: 'group', group });
    return ROUTE;
  }

  #invalid(source: Source, req: SipRequest, error: string): RoutingVerdict {
    this.#count(source, 'invalid', '', 500);
    this.#o.logger.error({ callId: req.callId, source, error }, `routing ${source === 'http' ? 'service' : 'script'}: invalid decision; answered 500`);
    return INTERNAL_ERROR;
  }

  #count(source: Source, outcome: string, group: string, status: number): void {
    this.#o.metrics?.routingDecisions.inc({ source, outcome, group, status: status === 0 ? '' : String(status) });
  }
}

function closeLogic(logic: RoutingLogic): void {
  if (logic.script?.kind === 'worker') logic.script.thread.close();
  logic.http?.service.close();
}

function isActive(logic: RoutingLogic): boolean {
  return logic.rules.hasRules || logic.script !== undefined || logic.http !== undefined;
}

