/**
 * An initial request from outside goes to a backend: the targets of the
 * group its Request-URI host maps to (REGISTER: registrar.backend), in the
 * order the group's algorithm picks, or why there are none.
 */
import type { Dispatcher, Target } from '../routing/index.js';
import type { SipRequest } from '../sip/message.js';

export type BackendChoice =
  | { ok: true; targets: Target[] }
  /** `reason` is the rejectedRequests label. */
  | { ok: false; reason: 'no-backend' | 'no-target'; status: number; phrase: string; headers?: Record<string, string> };

export function chooseBackend(dispatcher: Dispatcher, req: SipRequest, registrarBackend: string): BackendChoice {
  const group = req.method === 'REGISTER' ? registrarBackend : dispatcher.groupFor(req.requestUri()?.host ?? '');
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
