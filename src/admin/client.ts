import { fail, ok, type Result } from '../sip/result.js';
import { listenUrl, parseListenAddress } from './listen-address.js';

/** How long the CLI waits for the admin API before giving up. */
export const ADMIN_CLIENT_TIMEOUT_MS = 10_000;

/** An answer from the admin API; `body` is parsed JSON, or the raw text when it is not JSON. */
export interface AdminAnswer {
  status: number;
  body: unknown;
}

export interface AdminRequestOptions {
  token?: string;
  timeoutMs?: number;
}

/**
 * The admin base URL: `http://…` as given, or a bare listen address
 * (`127.0.0.1:9060`, `[::1]:9060`) turned into one.
 */
export function adminBaseUrl(adminUrl: string): Result<URL> {
  let text = adminUrl;
  if (!adminUrl.includes('://')) {
    const listen = parseListenAddress(adminUrl);
    if (!listen.ok) return fail(`"${adminUrl}" is neither a URL nor host:port`);
    text = listenUrl(listen.value);
  }
  try {
    const url = new URL(text);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return fail(`"${adminUrl}" is not an http(s) URL`);
    return ok(url);
  } catch {
    return fail(`"${adminUrl}" is not a URL`);
  }
}

/**
 * One request to the admin API. A transport failure (refused, timed out) is
 * an error result naming the URL; any HTTP answer, 2xx or not, is a value.
 */
export async function requestAdmin(base: URL, method: string, path: string, options: AdminRequestOptions = {}): Promise<Result<AdminAnswer>> {
  const url = new URL(path, base);
  const timeoutMs = options.timeoutMs ?? ADMIN_CLIENT_TIMEOUT_MS;
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (options.token) headers.Authorization = `Bearer ${options.token}`;
  try {
    const response = await fetch(url, { method, headers, signal: AbortSignal.timeout(timeoutMs) });
    const text = await response.text();
    return ok({ status: response.status, body: parseJsonOrText(text) });
  } catch (err) {
    return fail(`cannot reach admin API at ${base.href}: ${describeFetchError(err, timeoutMs)}`);
  }
}

function parseJsonOrText(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** fetch() hides the useful part (ECONNREFUSED …) in `cause`. */
function describeFetchError(err: unknown, timeoutMs: number): string {
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) return `no answer within ${timeoutMs} ms`;
  const cause = err instanceof Error ? err.cause : undefined;
  if (cause instanceof Error && cause.message) return cause.message;
  return err instanceof Error ? err.message : String(err);
}
