import type { RouteSpec } from './spec.js';

interface CompiledRoute {
  /** Lower-case domain for an exact match, or the `.suffix` of a wildcard. */
  match: string;
  wildcard: boolean;
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
    this.#routes = routes.map((r) => {
      const domain = normalizeHost(r.domain);
      if (domain === '*') return { match: '', wildcard: true, backend: r.backend };
      if (domain.startsWith('*.')) return { match: domain.slice(1), wildcard: true, backend: r.backend };
      return { match: domain, wildcard: false, backend: r.backend };
    });
  }

  /**
   * The group of the first route matching `host`: an exact domain, or
   * `*.example.com` for any name under example.com (not example.com itself).
   */
  match(host: string): string | undefined {
    const h = normalizeHost(host);
    for (const r of this.#routes) {
      if (r.wildcard ? h.endsWith(r.match) && h.length > r.match.length : h === r.match) return r.backend;
    }
    return undefined;
  }
}

/** Lower-case, without a trailing root dot, so `Example.COM.` equals `example.com`. */
function normalizeHost(host: string): string {
  const h = host.trim().toLowerCase();
  return h.endsWith('.') ? h.slice(0, -1) : h;
}
