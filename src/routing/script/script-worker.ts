/**
 * The worker-thread side of `routing.isolation: worker`: imports the
 * routing script, then answers `{ id, request }` (the request as JSON) with
 * `{ id, outcome }`. A ping gets a pong, so the gateway can tell a script
 * that is merely slow from one that never yields (then it ends this thread
 * and starts another).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { canonicalName, isMultiValue, splitCommaValues } from '../../sip/headers.js';
import { loadRouteScript } from './script-loader.js';
import type { RoutingRequest, RoutingRequestJson } from './types.js';

export type ToWorker = { id: number; request: RoutingRequestJson } | { ping: number };
export type FromWorker =
  | { ready: true }
  | { loadError: string }
  | { pong: number }
  | { id: number; outcome: { kind: 'value'; value: unknown } | { kind: 'error'; error: string } };

const port = parentPort;
if (port === null) throw new Error('script-worker runs in a worker thread');
const { file } = workerData as { file: string };
const loaded = await loadRouteScript(file);
if (!loaded.ok) {
  port.postMessage({ loadError: loaded.error } satisfies FromWorker);
} else {
  const route = loaded.route;
  port.on('message', (m: ToWorker) => {
    if ('ping' in m) {
      port.postMessage({ pong: m.ping } satisfies FromWorker);
      return;
    }
    const reply = (outcome: Extract<FromWorker, { id: number }>['outcome']): void => {
      try {
        port.postMessage({ id: m.id, outcome } satisfies FromWorker);
      } catch {
        port.postMessage({ id: m.id, outcome: { kind: 'error', error: 'the decision is not plain data (functions, symbols?)' } } satisfies FromWorker);
      }
    };
    let result: unknown;
    try {
      result = route(viewOf(m.request));
    } catch (err) {
      reply({ kind: 'error', error: describe(err) });
      return;
    }
    Promise.resolve(result).then((value) => reply({ kind: 'value', value }), (err: unknown) => reply({ kind: 'error', error: describe(err) }));
  });
  port.postMessage({ ready: true } satisfies FromWorker);
}

/** The same read-only view the event loop gives a script, rebuilt from the JSON form. */
function viewOf(json: RoutingRequestJson): RoutingRequest {
  const { headers, ...data } = json;
  const values = (name: string): string[] => {
    if (typeof name !== 'string') return [];
    const n = canonicalName(name);
    const lines = headers[n] ?? [];
    return isMultiValue(n) ? lines.flatMap((l) => splitCommaValues(l)) : [...lines];
  };
  return deepFreeze({
    ...data,
    header: (name: string): string | undefined => (typeof name === 'string' ? headers[canonicalName(name)]?.[0] : undefined),
    headers: values,
  });
}

function deepFreeze<T>(o: T): T {
  if (typeof o === 'object' && o !== null) {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

function describe(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}
