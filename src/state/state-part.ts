/** The state store as a part of the gateway: opened first, closed last. */
import type { Part, PartContext } from '../server/part.js';
import { started } from '../server/part.js';
import { createStateStore } from './index.js';
import type { StateStore } from './store.js';

export class StatePart implements Part {
  readonly name = 'state';
  readonly #ctx: PartContext;
  #store: StateStore | undefined;

  constructor(ctx: PartContext) {
    this.#ctx = ctx;
  }

  get store(): StateStore {
    return started(this.#store);
  }

  async start(): Promise<void> {
    this.#store = await createStateStore(this.#ctx.config.state, { logger: this.#ctx.logger.child({ part: 'state' }) });
  }

  async stop(): Promise<void> {
    await this.#store?.close();
  }
}
