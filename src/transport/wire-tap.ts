import type { Flow } from './flow.js';

/** Which way a message crossed the wire: received on the flow, or sent on it. */
export type WireDirection = 'in' | 'out';

/**
 * Sees every SIP message the transport layer receives (before any parsing)
 * and every message it sends (once the flow took it), with its flow. Must
 * not throw and must not keep the caller waiting: it runs on the call path.
 */
export type WireObserver = (direction: WireDirection, flow: Flow, data: Buffer) => void;

/**
 * The one place message capture hooks into the transport layer. With no
 * observer set the cost per message is one property read.
 */
export class WireTap {
  observer: WireObserver | undefined = undefined;
}
