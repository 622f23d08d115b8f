import type { RouteSpec } from './spec.js';

interface CompiledRoute {
  /** Whether a normalized host is the route's domain. */
  match: (host: string) => boolean;
  backend: string;
}

/** The fallback group when no route matches (CONTRACT.md `routes`). */
export const DEFAULT_GROUP = 'default';

/**
 * Request-URI host → backend group, for several tenants on one SBC.
 * Routes are tried in order; the first match wins.
 */
export class DomainRoutes {
  readonly #routes: CompiledRoute[];

  constructor(routes: readonly RouteSpec[]) {
    this.#routes = routes.map((r) => ({ match: hostPattern(r.domain), backend: r.backend }));
  }

  /**
   * The group of the first route matching `host`: an exact domain, or
   * `*.example.com` for any name under example.com (not example.com itself).
   */
  match(host: string): string | undefined {
    const h = normalizeHost(host);
    for (const r of this.#routes) {
      if (r.match(h)) return r.backend;
    }
    return undefined;
  }
}

/**
 * A domain pattern: exact, `*.example.com` (names under example.com, not
 * example.com itself) or `*` (everything); the test takes a host already
 * normalized (normalizeHost).
 */
export function hostPattern(domain: string): (host: string) => boolean {
  const d = normalizeHost(domain);
  if (d === '*') return () => true;
  if (d.startsWith('*.')) {
    const suffix = d.slice(1);
    return (h) => h.length > suffix.length && h.endsWith(suffix);
  }
  return (h) => h === d;
}

/** Lower-case, without a trailing root dot, so `Example.COM.` equals `example.com`. */
export function normalizeHost(host: string): string {
  const h = host.trim().toLowerCase();
  return h.endsWith('.') ? h.slice(0, -1) : h;
}
