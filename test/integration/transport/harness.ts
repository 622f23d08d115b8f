import type { ParseError } from '../../../src/sip/parser.js';
import type { SipMessage } from '../../../src/sip/message.js';
import { silentLogger } from '../../../src/log/logger.js';
import type { Flow, ListenerSpec } from '../../../src/transport/flow.js';
import type { TransportLimits } from '../../../src/transport/limits.js';
import { TransportLayer, type TransportLayerOptions } from '../../../src/transport/transport-layer.js';

export const SECRET = 'transport-test-secret-0123456789';

/** What the transport layer handed up, in arrival order. */
export type Delivery =
  | { kind: 'message'; msg: SipMessage; flow: Flow }
  | { kind: 'invalid'; error: ParseError; flow: Flow }
  | { kind: 'closed'; flow: Flow };

/** An async queue: next() waits for the next item. */
export class Queue<T> {
  readonly #items: T[] = [];
  readonly #waiters: Array<(item: T) => void> = [];

  push(item: T): void {
    const w = this.#waiters.shift();
    if (w !== undefined) w(item);
    else this.#items.push(item);
  }

  next(): Promise<T> {
    const item = this.#items.shift();
    if (item !== undefined) return Promise.resolve(item);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  get length(): number {
    return this.#items.length;
  }
}

export interface Harness {
  layer: TransportLayer;
  deliveries: Queue<Delivery>;
  /** Next delivery that is a message (fails on anything else). */
  nextMessage(): Promise<{ msg: SipMessage; flow: Flow }>;
  stop(): Promise<void>;
}

/** A started transport layer whose deliveries are queued for the test to await. */
export async function startHarness(
  listeners: Array<Partial<ListenerSpec> & Pick<ListenerSpec, 'transport'>>,
  extra: { limits?: Partial<TransportLimits> } & Partial<Omit<TransportLayerOptions, 'listeners' | 'limits'>> = {},
): Promise<Harness> {
  const layer = new TransportLayer({
    listeners: listeners.map((l) => ({ address: '127.0.0.1', port: 0, advertise: l.address ?? '127.0.0.1', ...l })),
    logger: silentLogger(),
    flowTokenSecret: SECRET,
    ...extra,
  });
  const deliveries = new Queue<Delivery>();
  layer.setUser({
    onMessage: (msg, flow) => deliveries.push({ kind: 'message', msg, flow }),
    onInvalid: (error, flow) => deliveries.push({ kind: 'invalid', error, flow }),
    onFlowClosed: (flow) => deliveries.push({ kind: 'closed', flow }),
  });
  await layer.start();
  return {
    layer,
    deliveries,
    async nextMessage() {
      for (;;) {
        const d = await deliveries.next();
        if (d.kind === 'closed') continue;
        if (d.kind !== 'message') throw new Error(`expected a message, got ${d.kind}: ${d.error.reason}`);
        return d;
      }
    },
    stop: () => layer.stop(),
  };
}

/** A well-formed request; `tag` goes into Call-ID so tests can tell messages apart. */
export function sipRequest(tag: string, opts: { transport?: string; body?: string } = {}): Buffer {
  const body = opts.body ?? '';
  return Buffer.from(
    `OPTIONS sip:sbc@127.0.0.1 SIP/2.0\r\n` +
      `Via: SIP/2.0/${(opts.transport ?? 'UDP').toUpperCase()} 127.0.0.1:5099;branch=z9hG4bK-${tag}\r\n` +
      `From: <sip:alice@example.com>;tag=f-${tag}\r\n` +
      `To: <sip:sbc@example.com>\r\n` +
      `Call-ID: ${tag}\r\n` +
      `CSeq: 1 OPTIONS\r\n` +
      `Max-Forwards: 70\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

/** A response as the SBC would send it back on the flow. */
export function sipResponse(tag: string): Buffer {
  return Buffer.from(
    `SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK-${tag}\r\nFrom: <sip:alice@example.com>;tag=f-${tag}\r\n` +
      `To: <sip:sbc@example.com>;tag=t\r\nCall-ID: ${tag}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`,
  );
}

/** Port the first listener of `transport` is bound to. */
export function portOf(layer: TransportLayer, transport: ListenerSpec['transport']): number {
  const info = layer.listenerFor(transport);
  if (info === undefined || !info.up) throw new Error(`no ${transport} listener up`);
  return info.boundPort;
}
