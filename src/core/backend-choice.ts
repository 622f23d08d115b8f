/**
 * An initial request from outside goes to a backend: the targets of the
 * group its Request-URI host maps to (REGISTER: registrar.backend), in the
 * order the group's algorithm picks, or why there are none. Operator
 * routing (src/routing/call-router.ts, behind `RoutingStep`) may have
 * decided first: a group, or one explicit target.
 */
import type { Dispatcher, Target } from '../routing/index.js';
import type { SipRequest } from '../sip/message.js';
import type { ServerTransaction } from '../transaction/index.js';
import type { Flow } from '../transport/flow.js';

export type BackendChoice =
  | { ok: true; targets: Target[] }
  /** `reason` is the rejectedRequests label. */
  | { ok: false; reason: 'no-backend' | 'no-target'; status: number; phrase: string; headers?: Record<string, string> };

/** Where an operator's routing decision sends a request instead of the usual routing. */
export type RouteDestination = { kind: 'group'; group: string } | { kind: 'target'; target: Target };

/** What the routing step decided; its edits (Request-URI, headers) are already on the request. */
export type RoutingVerdict =
  | { kind: 'route' }
  | { kind: 'reply'; status: number; reason?: string; headers?: Record<string, string> };

/**
 * The operator routing step, run on initial requests (not ACK or CANCEL)
 * after the security checks and before the request is routed.
 */
export interface RoutingStep {
  /** Whether this request goes through the step at all (no rules, script or service: never). */
  applies(req: SipRequest): boolean;
  decide(server: ServerTransaction, req: SipRequest, source: Flow, inside: boolean): Promise<RoutingVerdict>;
  /** A CANCEL for an INVITE still being decided: its decide() settles with 487 at once. True when it was one. */
  cancel(invite: ServerTransaction): boolean;
  /** The destination decided for `req`, if the decision named one. */
  destinationOf(req: SipRequest): RouteDestination | undefined;
}

export function chooseBackend(dispatcher: Dispatcher, req: SipRequest, registrarBackend: string, decided?: RouteDestination): BackendChoice {
  if (decided?.kind === 'target') return { ok: true, targets: [decided.target] };
  const group = decided?.group ?? (req.method === 'REGISTER' ? registrarBackend : dispatcher.groupFor(req.requestUri()?.host ?? ''));
  if (group === undefined || !dispatcher.hasGroup(group)) return { ok: false, reason: 'no-backend', status: 503, phrase: 'No Backend Configured' };
  const targets = dispatcher.select(group, {
    callId: req.callId,
    fromUri: req.headers.get('from'),
    toUri: req.headers.get('to'),
    requestUri: req.uri,
  });
  if (targets.length === 0) return { ok: false, reason: 'no-target', status: 503, phrase: 'Service Unavailable', headers: { 'Retry-After': String(dispatcher.retryAfterSeconds(group)) } };
  return { ok: true, targets };
}
