import { ALGORITHMS, type BackendGroupSpec, type RouteSpec } from './spec.js';
import { parseTargetUri } from './target.js';

/** A `backends`/`routes` problem, naming the configuration key and the fix. */
export interface RoutingConfigProblem {
  key: string;
  message: string;
}

/**
 * Everything the routing layer needs to hold about `backends` and `routes`
 * beyond their shape: target URIs that parse, no duplicate targets, routes
 * that name an existing group. `check-config` can print these; the
 * Dispatcher refuses a configuration that has any.
 */
export function checkRoutingConfig(
  groups: Readonly<Record<string, BackendGroupSpec>>,
  routes: readonly RouteSpec[],
): RoutingConfigProblem[] {
  const problems: RoutingConfigProblem[] = [];
  for (const [name, group] of Object.entries(groups)) {
    const at = `backends.${name}`;
    if (!(ALGORITHMS as readonly string[]).includes(group.algorithm)) {
      problems.push({ key: `${at}.algorithm`, message: `"${group.algorithm}" is not one of ${ALGORITHMS.join(', ')}` });
    }
    const p = group.probe;
    if (!(p.intervalSeconds >= 0)) problems.push({ key: `${at}.probe.intervalSeconds`, message: 'must be 0 (off) or more' });
    if (!(p.failuresToDown >= 1)) problems.push({ key: `${at}.probe.failuresToDown`, message: 'must be 1 or more' });
    if (!(p.successesToUp >= 1)) problems.push({ key: `${at}.probe.successesToUp`, message: 'must be 1 or more' });
    if (p.timeoutMs !== undefined && !(p.timeoutMs > 0)) problems.push({ key: `${at}.probe.timeoutMs`, message: 'must be more than 0' });
    if (p.method.trim() === '') problems.push({ key: `${at}.probe.method`, message: 'must name a SIP method, e.g. OPTIONS' });
    const seen = new Set<string>();
    group.targets.forEach((t, i) => {
      const key = `${at}.targets[${i}]`;
      const parsed = parseTargetUri(t.uri);
      if (!parsed.ok) problems.push({ key: `${key}.uri`, message: parsed.error });
      if (seen.has(t.uri)) problems.push({ key: `${key}.uri`, message: `"${t.uri}" is listed twice in this group` });
      seen.add(t.uri);
      if (!(t.weight >= 0)) problems.push({ key: `${key}.weight`, message: 'must be 0 or more' });
      if (!Number.isFinite(t.priority)) problems.push({ key: `${key}.priority`, message: 'must be a number' });
    });
  }
  routes.forEach((r, i) => {
    if (r.domain.trim() === '') problems.push({ key: `routes[${i}].domain`, message: 'must not be empty' });
    if (!Object.hasOwn(groups, r.backend)) {
      problems.push({ key: `routes[${i}].backend`, message: `no backend group "${r.backend}"; add it under backends or fix the name` });
    }
  });
  return problems;
}

/** Thrown by the Dispatcher for a configuration checkRoutingConfig rejects. */
export class RoutingConfigError extends Error {
  readonly code = 'SBC_ERR_CONFIG_KEY';
  readonly problems: readonly RoutingConfigProblem[];

  constructor(problems: readonly RoutingConfigProblem[]) {
    super(problems.map((p) => `${p.key}: ${p.message}`).join('; '));
    this.name = 'RoutingConfigError';
    this.problems = problems;
  }
}
