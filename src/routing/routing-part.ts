/**
 * Backends and routes as a part of the gateway: the dispatcher with its
 * OPTIONS health probes, and the operator routing step (routes rules,
 * routing.script, routing.http); a reload swaps backends, routes and the
 * routing logic live, or refuses a script that does not load.
 */
import type { Config } from '../config/index.js';
import { OptionsProber } from '../core/options-prober.js';
import { SbcError } from '../errors.js';
import type { Part, PartContext, ReloadOutcome, SipLayers } from '../server/part.js';
import { PRODUCT, started } from '../server/part.js';
import { CallRouter } from './call-router.js';
import { Dispatcher } from './dispatcher.js';
import { domainRoutesOf } from './route-rules.js';
import { loadRoutingLogic } from './routing-logic.js';

export interface RoutingPartOptions extends PartContext, SipLayers {
  /** Whether a probe that timed out since `since` is excused (the gateway was shedding load). */
  excuses: (since: number) => boolean;
}

export class RoutingPart implements Part {
  readonly name = 'routing';
  readonly #o: RoutingPartOptions;
  #dispatcher: Dispatcher | undefined;
  #router: CallRouter | undefined;

  constructor(options: RoutingPartOptions) {
    this.#o = options;
  }

  get dispatcher(): Dispatcher {
    return started(this.#dispatcher);
  }

  /** The operator routing step. */
  get router(): CallRouter {
    return started(this.#router);
  }

  async start(): Promise<void> {
    const { config: c, logger: log, metrics } = this.#o;
    const logic = await loadRoutingLogic(c, log.child({ part: 'routing' }));
    if (!logic.ok) throw new SbcError('SBC_ERR_CONFIG_KEY', `config error: ${logic.key}: ${logic.error}`);
    const prober = new OptionsProber(this.#o.transport(), this.#o.transactions(), PRODUCT);
    const dispatcher = new Dispatcher({
      groups: c.backends,
      routes: domainRoutesOf(c.routes),
      logger: log.child({ part: 'routing' }),
      probe: (target, method, timeoutMs) => prober.probe(target, method, timeoutMs),
      excuses: this.#o.excuses,
    });
    dispatcher.onChange = (t) => {
      metrics.backendUp.set({ group: t.group, target: t.uri }, t.up ? 1 : 0);
      log.info({ group: t.group, target: t.uri, up: t.up }, t.up ? 'backend up' : 'backend down');
    };
    this.#dispatcher = dispatcher;
    this.#router = new CallRouter(logic.logic, {
      dispatcher,
      logger: log.child({ part: 'routing' }),
      metrics,
      authenticates: c.security.auth.mode === 'local',
    });
    if (c.routing.script !== '') log.info({ script: c.routing.script, isolation: c.routing.isolation }, 'routing script loaded');
    await dispatcher.start();
  }

  stop(): void {
    this.#dispatcher?.stop();
    this.#router?.close();
  }

  async reload(next: Config): Promise<ReloadOutcome> {
    // The script first: a broken one refuses the whole reload before anything changed.
    const logic = await loadRoutingLogic(next, this.#o.logger.child({ part: 'routing' }));
    if (!logic.ok) {
      this.#o.logger.warn({ key: logic.key, error: logic.error }, 'reload refused: routing script does not load; the running one stays');
      return { ok: false, key: logic.key, error: logic.error };
    }
    await this.dispatcher.reload(next.backends, domainRoutesOf(next.routes));
    this.router.setLogic(logic.logic);
    return { ok: true, applied: ['backends', 'routes', 'routing'] };
  }
}
