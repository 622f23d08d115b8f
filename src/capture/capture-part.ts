/**
 * HEP capture as a part of the gateway: with `capture.hep.address` set, every
 * SIP message the transport layer receives or sends goes to the collector
 * (HEPv3 over UDP); a reload applies a changed `capture.hep` at once.
 */
import type { Config } from '../config/index.js';
import { parseHostPort } from '../config/net-formats.js';
import type { Part, PartContext, ReloadOutcome } from '../server/part.js';
import type { TransportLayer } from '../transport/index.js';
import { HepSender } from './hep-sender.js';

export interface CapturePartOptions extends PartContext {
  transport: () => TransportLayer;
}

type HepConfig = Config['capture']['hep'];

export class CapturePart implements Part {
  readonly name = 'capture';
  readonly #o: CapturePartOptions;
  #current: HepConfig;
  #sender: HepSender | undefined;

  constructor(options: CapturePartOptions) {
    this.#o = options;
    this.#current = options.config.capture.hep;
  }

  /** The active sender (tests, diagnostics). */
  get sender(): HepSender | undefined {
    return this.#sender;
  }

  async start(): Promise<void> {
    await this.#apply(this.#current);
  }

  async reload(next: Config): Promise<ReloadOutcome> {
    const hep = next.capture.hep;
    if (JSON.stringify(hep) === JSON.stringify(this.#current)) return { ok: true, applied: [] };
    this.#detach();
    this.#current = hep;
    await this.#apply(hep);
    return { ok: true, applied: ['capture.hep'] };
  }

  stop(): void {
    this.#detach();
  }

  async #apply(hep: HepConfig): Promise<void> {
    const target = hep.address === '' ? undefined : parseHostPort(hep.address);
    if (target === undefined) return;
    const { metrics, logger } = this.#o;
    const sender = new HepSender({
      host: target.host,
      port: target.port,
      captureId: hep.id,
      password: hep.password,
      maxQueue: hep.maxQueue,
      logger: logger.child({ part: 'capture' }),
      onSent: () => metrics.hepSent.inc(),
      onDropped: (reason) => metrics.hepDropped.inc({ reason }),
    });
    this.#sender = sender;
    this.#o.transport().tap.observer = (direction, flow, data) => sender.capture(direction, flow, data);
    await sender.start();
    logger.info({ collector: hep.address, captureId: hep.id }, 'hep capture on');
  }

  #detach(): void {
    if (this.#sender === undefined) return;
    this.#o.transport().tap.observer = undefined;
    this.#sender.stop();
    this.#sender = undefined;
  }
}
