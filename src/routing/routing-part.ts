/**
 * Backends and routes as a part of the gateway: the dispatcher with its
 * OPTIONS health probes; a reload swaps backends and routes live.
 */
import type { Config } from '../config/index.js';
import { OptionsProber } from '../core/options-prober.js';
import type { Part, PartContext, ReloadOutcome, SipLayers } from '../server/part.js';
import { PRODUCT, started } from '../server/part.js';
import { Dispatcher } from './dispatcher.js';

export interface RoutingPartOptions extends PartContext, SipLayers {
  /** Whether a probe that timed out since `since` is excused (the gateway was shedding load). */
  excuses: (since: number) => boolean;
}

export class RoutingPart implements Part {
  readonly name = 'routing';
  readonly #o: RoutingPartOptions;
  #dispatcher: Dispatcher | undefined;

  constructor(options: RoutingPartOptions) {
    this.#o = options;
  }

  get dispatcher(): Dispatcher {
    return started(this.#dispatcher);
  }

  async start(): Promise<void> {
    const { config: c, logger: log, metrics } = this.#o;
    const prober = new OptionsProber(this.#o.transport(), this.#o.transactions(), PRODUCT);
    const dispatcher = new Dispatcher({
      groups: c.backends,
      routes: c.routes,
      logger: log.child({ part: 'routing' }),
      probe: (target, method, timeoutMs) => prober.probe(target, method, timeoutMs),
      excuses: this.#o.excuses,
    });
    dispatcher.onChange = (t) => {
      metrics.backendUp.set({ group: t.group, target: t.uri }, t.up ? 1 : 0);
      log.info({ group: t.group, target: t.uri, up: t.up }, t.up ? 'backend up' : 'backend down');
    };
    this.#dispatcher = dispatcher;
    await dispatcher.start();
  }

  stop(): void {
    this.#dispatcher?.stop();
  }

  async reload(next: Config): Promise<ReloadOutcome> {
    await this.dispatcher.reload(next.backends, next.routes);
    return { ok: true, applied: ['backends', 'routes'] };
  }
}
