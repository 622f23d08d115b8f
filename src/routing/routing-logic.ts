/**
 * The routing logic a configuration describes: the `routes:` rules, the
 * `routing.script` module (loaded and checked), the `routing.http` service.
 * Used at start-up, by a reload (a script that does not load is refused,
 * the running logic stays) and by `webrtc-sbc check-config`.
 */
import type { Config } from '../config/index.js';
import type { RoutingLogic } from './call-router.js';
import { RoutingService } from './http-decision.js';
import { RouteRules } from './route-rules.js';
import { loadRouteScript } from './script/script-loader.js';

export type LoadedLogic = { ok: true; logic: RoutingLogic } | { ok: false; key: string; error: string };

export async function loadRoutingLogic(config: Pick<Config, 'routes' | 'routing'>, cwd?: string): Promise<LoadedLogic> {
  const r = config.routing;
  let script: RoutingLogic['script'];
  if (r.script !== '') {
    const loaded = await loadRouteScript(r.script, cwd);
    if (!loaded.ok) return { ok: false, key: 'routing.script', error: loaded.error };
    script = loaded.route;
  }
  return {
    ok: true,
    logic: {
      rules: new RouteRules(config.routes),
      script,
      timeoutMs: r.timeoutMs,
      http: r.http.url === '' ? undefined : { service: new RoutingService({ url: r.http.url, timeoutMs: r.http.timeoutMs }), onError: r.http.onError },
    },
  };
}
