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
import { checkScriptFile, loadRouteScript } from './script/script-loader.js';
import { WorkerScript } from './script/worker-runner.js';
import type { Logger } from '../log/logger.js';

export type LoadedLogic = { ok: true; logic: RoutingLogic } | { ok: false; key: string; error: string };

/**
 * `logger` is for a script thread (routing.isolation: worker); without one
 * (check-config) the script is loaded on this thread to check it, never run.
 */
export async function loadRoutingLogic(config: Pick<Config, 'routes' | 'routing'>, logger?: Logger): Promise<LoadedLogic> {
  const r = config.routing;
  let script: RoutingLogic['script'];
  if (r.script !== '') {
    if (r.isolation === 'worker' && logger !== undefined) {
      // Loaded in its own thread only: even its top-level code never runs on the gateway's.
      const file = await checkScriptFile(r.script);
      if (!file.ok) return { ok: false, key: 'routing.script', error: file.error };
      const started = await WorkerScript.start(file.path, logger);
      if (!started.ok) return { ok: false, key: 'routing.script', error: started.error };
      script = { kind: 'worker', thread: started.script };
    } else {
      const loaded = await loadRouteScript(r.script);
      if (!loaded.ok) return { ok: false, key: 'routing.script', error: loaded.error };
      script = { kind: 'event-loop', route: loaded.route };
    }
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
