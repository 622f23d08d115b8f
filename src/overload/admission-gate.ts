/**
 * Where admission control meets the wire: every received message passes here
 * before the parser. While shedding, a new out-of-dialog request from outside
 * that is not admitted gets a stateless 503 built from its raw header lines
 * (no parse, no transaction, no log line), with a short random Retry-After
 * (RFC 3261 §21.5.4; RFC 7339 for why it is randomized: clients must not come
 * back in step). What passes goes on to the parser and the pipeline unchanged.
 *
 * Kept out of the shedding, on purpose:
 *  - responses, ACK, CANCEL, BYE, PRACK and in-dialog requests (To tag);
 *  - retransmissions of a request we already have a transaction for: the
 *    transaction layer resends its last response (RFC 3261 §17.2);
 *  - requests from inside (backends, trusted networks). A 503 with
 *    Retry-After tells the upstream element to stop sending to us for that
 *    long, and a backend applies it to everything it sends us, calls to our
 *    registered clients included (most mark the destination down). The
 *    backend's call rate toward us is its own to control, so inside requests
 *    are only refused when the heap is over its threshold, where carrying on
 *    would kill the process: then with a 503 without Retry-After, which fails
 *    that one request only.
 * The ACK for a 503 of ours is recognised by our To tag and absorbed here.
 */
import type { Flow } from '../transport/flow.js';
import type { Admission } from './admission.js';
import { isSheddable, rawMethod, rawResponse, scanRequestHead } from './raw-request.js';

/** To tag prefix of the 503s sent here, so their ACKs are recognised without state. */
export const SHED_TAG_PREFIX = 'sh503';
const SHED_TAG_MARKER = Buffer.from(`;tag=${SHED_TAG_PREFIX}`, 'latin1');

export interface ShedCounter {
  inc(labels: { reason: string }): void;
}

export interface AdmissionGateOptions {
  admission: Admission;
  isInside(flow: Flow): boolean;
  /** A server transaction with this key exists (the request is a retransmission). */
  hasServerTransaction(branch: string, sentBy: string, method: string): boolean;
  /** sbc_overload_shed_total. */
  shed?: ShedCounter;
  /** A datagram read after a loop stall longer than this waited that long; its sender has retransmitted already. */
  t1Ms: number;
  /** Retry-After is random in [1, this]. */
  retryAfterMaxSeconds: number;
  random?: () => number;
}

export class AdmissionGate {
  readonly #o: AdmissionGateOptions;
  readonly #random: () => number;
  /** When the last 503 went out (performance.now()); an ACK is searched for our tag only within 64·T1 of it. */
  #lastShedAt = Number.NEGATIVE_INFINITY;
  /** UDP datagrams (and their bytes) seen since takeReads(): the load monitor's read rate. */
  #datagrams = 0;
  #bytes = 0;

  constructor(options: AdmissionGateOptions) {
    this.#o = options;
    this.#random = options.random ?? Math.random;
  }

  /** UDP datagrams and bytes screened since the previous call. */
  takeReads(): { datagrams: number; bytes: number } {
    const r = { datagrams: this.#datagrams, bytes: this.#bytes };
    this.#datagrams = 0;
    this.#bytes = 0;
    return r;
  }

  /** True when the message was dealt with here (shed, or the ACK of a shed 503); false → parse and process it. */
  screen(flow: Flow, data: Buffer): boolean {
    const admission = this.#o.admission;
    if (flow.reliable === false) {
      this.#datagrams++;
      this.#bytes += data.length;
    }
    // Fast path while normal: four byte compares; an ACK is only searched for our tag while a 503 of ours can still be ACKed.
    const ack = data[0] === 65 && data[1] === 67 && data[2] === 75 && data[3] === 32;
    if (ack) return performance.now() - this.#lastShedAt <= 64 * this.#o.t1Ms && data.indexOf(SHED_TAG_MARKER) >= 0;
    if (!admission.shedding) return false;
    const method = rawMethod(data);
    if (method === undefined || !isSheddable(method)) return false;
    const inside = this.#o.isInside(flow);
    if (inside && !admission.critical) return false;
    const head = scanRequestHead(data, method);
    if (head === undefined || head.toTag) return false;
    if (this.#o.hasServerTransaction(head.branch, head.sentBy, method)) return false;
    // Only a new request counts against the admitted rate (not a retransmission, not an in-dialog one).
    if (admission.admitsNew()) return false;
    if (admission.lastStallMs > this.#o.t1Ms) {
      // It sat behind a stall longer than T1: its retransmission is already queued and will be answered.
      this.#o.shed?.inc({ reason: 'stale' });
      return true;
    }
    const tag = `${SHED_TAG_PREFIX}${Math.floor(this.#random() * 0x7fffffff).toString(36)}`;
    const extra = inside ? [] : [`Retry-After: ${1 + Math.floor(this.#random() * this.#o.retryAfterMaxSeconds)}`];
    flow.send(rawResponse(head, 503, 'Service Unavailable', tag, extra));
    this.#lastShedAt = performance.now();
    this.#o.shed?.inc({ reason: inside ? 'heap' : (admission.reason ?? 'overload') });
    return true;
  }
}
