/**
 * Registrations as a part of the gateway: what is registered through each
 * flow (for NAT keepalives and GET /api/flows) and, with registrar.mode
 * local, the registrar that answers REGISTER here.
 */
import type { Part, PartContext } from '../server/part.js';
import type { StateStore } from '../state/index.js';
import type { TransportLayer } from '../transport/index.js';
import type { Dispatcher } from '../routing/index.js';
import { localRoutingFromConfig } from './local/local-routing-from-config.js';
import { registrarMode, type LocalRegistrar, type LocalRouting, type RegistrarMode } from './local/index.js';
import { Registrations } from './registrations.js';

export interface RegistrarPartOptions extends PartContext {
  store: () => StateStore;
  transport: () => TransportLayer;
  dispatcher: () => Dispatcher;
}

export class RegistrarPart implements Part {
  readonly name = 'registrar';
  readonly mode: RegistrarMode;
  readonly registrations: Registrations;
  readonly #o: RegistrarPartOptions;
  #local: { registrar: LocalRegistrar; routing: LocalRouting } | undefined;

  constructor(options: RegistrarPartOptions) {
    this.#o = options;
    const c = options.config;
    this.mode = registrarMode(c);
    this.registrations = new Registrations({ maxBindingsPerFlow: c.registrar.maxBindingsPerFlow, maxFlows: c.registrar.maxFlows });
  }

  /** registrar.mode local: the registrar answering REGISTER here. */
  get localRegistrar(): LocalRegistrar | undefined {
    return this.#local?.registrar;
  }

  /** registrar.mode local: how calls reach the registered contacts. */
  get localRouting(): LocalRouting | undefined {
    return this.#local?.routing;
  }

  start(): void {
    const transport = this.#o.transport();
    if (this.#o.dispatcher().isEmpty && this.mode === 'path') this.#o.logger.warn('no backend configured (backends is empty): calls and registrations will be answered 503');
    if (this.mode === 'local') {
      this.#local = localRoutingFromConfig(this.#o, {
        store: this.#o.store(),
        transport,
        onFlowBindings: (flow, aor, contacts) => this.registrations.bindings.update(flow.id, aor, contacts),
      });
    }
    transport.flows.onClose((flow) => this.registrations.dropFlow(flow.id));
  }

  stop(): void {
    // Bindings live in the state store; flows close with the transport.
  }

  /** GET /api/registrations. */
  async snapshot(): Promise<{ mode: RegistrarMode; count: number; registrations: unknown[] }> {
    return { mode: this.mode, count: this.#local?.registrar.count() ?? 0, registrations: (await this.#local?.registrar.list()) ?? [] };
  }
}
