/**
 * Runs the route function on the event loop with a time limit. A result
 * that is not a promise costs no timer; a promise races `timeoutMs`, and
 * its late result (or late rejection) is ignored. What this cannot stop is
 * a script that never yields (a synchronous endless loop): see README
 * "Routing logic" for why the script runs here and not in a worker thread.
 */
import type { RouteFunction, RoutingRequest } from './types.js';

export type ScriptOutcome =
  | { kind: 'value'; value: unknown }
  | { kind: 'error'; error: unknown }
  | { kind: 'timeout' };

const TIMEOUT: ScriptOutcome = { kind: 'timeout' };

export function runRoute(route: RouteFunction, request: RoutingRequest, timeoutMs: number): ScriptOutcome | Promise<ScriptOutcome> {
  let result: unknown;
  try {
    result = route(request);
  } catch (error) {
    return { kind: 'error', error };
  }
  if (!isThenable(result)) return { kind: 'value', value: result };
  return new Promise<ScriptOutcome>((resolve) => {
    const timer = setTimeout(() => resolve(TIMEOUT), timeoutMs);
    timer.unref();
    const settle = (outcome: ScriptOutcome): void => {
      clearTimeout(timer);
      resolve(outcome);
    };
    try {
      result.then((value) => settle({ kind: 'value', value }), (error: unknown) => settle({ kind: 'error', error }));
    } catch (error) {
      settle({ kind: 'error', error });
    }
  });
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return (typeof v === 'object' || typeof v === 'function') && v !== null && typeof (v as { then?: unknown }).then === 'function';
}
