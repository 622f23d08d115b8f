/**
 * `routing.http`: the routing decision from an HTTP service. The request is
 * POSTed as JSON (script/types.ts RoutingRequestJson); 204, `null` or `{}`
 * mean the usual routing, anything else is read as a decision. Connections
 * are pooled and kept alive by Node's fetch (undici's global agent).
 */
import type { RoutingRequestJson } from './script/types.js';

/** A service answer larger than this is not read (a decision is a few hundred bytes). */
const MAX_BODY_BYTES = 64 * 1024;

export type HttpOutcome = { kind: 'value'; value: unknown } | { kind: 'error'; error: string } | { kind: 'timeout' };

export interface HttpDecisionOptions {
  url: string;
  timeoutMs: number;
}

export async function askRoutingService(o: HttpDecisionOptions, request: RoutingRequestJson): Promise<HttpOutcome> {
  const signal = AbortSignal.timeout(o.timeoutMs);
  let res: Response;
  try {
    res = await fetch(o.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(request),
      signal,
    });
  } catch (err) {
    return failure(err, signal);
  }
  try {
    if (res.status === 204) {
      await res.body?.cancel();
      return { kind: 'value', value: undefined };
    }
    if (res.status !== 200) {
      await res.body?.cancel();
      return { kind: 'error', error: `HTTP ${res.status}` };
    }
    const length = Number(res.headers.get('content-length') ?? '0');
    if (length > MAX_BODY_BYTES) {
      await res.body?.cancel();
      return { kind: 'error', error: `answer of ${length} bytes is too large` };
    }
    const text = await res.text();
    if (text.length > MAX_BODY_BYTES) return { kind: 'error', error: 'answer is too large' };
    if (text.trim() === '') return { kind: 'value', value: undefined };
    try {
      return { kind: 'value', value: JSON.parse(text) as unknown };
    } catch {
      return { kind: 'error', error: 'answer is not JSON' };
    }
  } catch (err) {
    return failure(err, signal);
  }
}

function failure(err: unknown, signal: AbortSignal): HttpOutcome {
  if (signal.aborted) return { kind: 'timeout' };
  const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
  return { kind: 'error', error: `${err instanceof Error ? err.message : String(err)}${cause}` };
}
