/**
 * The built-in services (echo, tone) as a request taker of the pipeline
 * (registrar.mode local): it takes initial INVITEs for a service number on a
 * local domain, the in-dialog requests and ACKs of its calls (matched by
 * Call-ID and our To tag), and CANCELs of INVITEs it is still answering.
 * Every call holds one of media.embedded.maxSessions; none left → 503.
 */
import type { SbcMetrics } from '../admin/metrics.js';
import type { LegTransport } from '../b2bua/leg-transport.js';
import type { CallEnding, CallRecordHandle, UaCallWatcher } from '../core/call-events.js';
import type { RequestTaker, TakenRequest } from '../core/pipeline.js';
import type { Logger } from '../log/logger.js';
import type { EmbeddedMedia } from '../media/embedded/embedded-media.js';
import type { SipRequest } from '../sip/message.js';
import { createResponse } from '../sip/response.js';
import type { ServerTransaction } from '../transaction/index.js';
import type { Flow } from '../transport/flow.js';
import { FrameTicker } from './frame-ticker.js';
import { ServiceCall, type CallEnd } from './service-call.js';
import type { ServiceNumbers } from './service-numbers.js';

export interface LocalServicesOptions {
  numbers: ServiceNumbers;
  media: EmbeddedMedia;
  legs: LegTransport;
  isLocalDomain(host: string): boolean;
  logger: Logger;
  metrics?: SbcMetrics | undefined;
  productName?: string;
  /** A call whose caller sent no RTP for this long is hung up (media.embedded.inactivitySeconds); holds are exempt. */
  inactivitySeconds: number;
  /** A call ended (its place under security.maxCallsPerUser is free). */
  callEnded?(callId: string): void;
  /** The call records, when they are kept. */
  records?: UaCallWatcher;
}

/** How a service call's end reads in its record. */
const RECORD_ENDING: Readonly<Record<CallEnd, CallEnding>> = {
  'bye': { by: 'caller', reason: 'bye-caller' },
  'max-seconds': { by: 'sbc', reason: 'max-duration' },
  'no-ack': { by: 'sbc', reason: 'failed' },
  // A caller silent in media for inactivitySeconds has vanished without its BYE.
  'inactivity': { by: 'sbc', reason: 'client-gone' },
  'cancelled': { by: 'caller', reason: 'cancel' },
  'flow-closed': { by: 'sbc', reason: 'client-gone' },
  'shutdown': { by: 'sbc', reason: 'drain' },
  'failed': { by: 'sbc', reason: 'failed' },
};

export class LocalServices implements RequestTaker {
  readonly #o: LocalServicesOptions;
  readonly #ticker = new FrameTicker();
  /** Call-ID + our tag → call. Bounded by media.embedded.maxSessions (every call holds a place). */
  readonly #calls = new Map<string, ServiceCall>();
  /** INVITEs being answered, for CANCEL. */
  readonly #answering = new WeakMap<ServerTransaction, ServiceCall>();
  /** Each call's record while it is up. */
  readonly #records = new WeakMap<ServiceCall, CallRecordHandle>();
  #closed = false;
  #sweep: NodeJS.Timeout | undefined;

  constructor(options: LocalServicesOptions) {
    this.#o = options;
  }

  /** Each service by its first number (the page's hint). */
  list(): Array<{ name: string; number: string }> {
    return this.#o.numbers.list();
  }

  get activeCalls(): number {
    return this.#calls.size;
  }

  takeRequest(taken: TakenRequest): boolean {
    const { req } = taken;
    const toTag = req.to()?.params.get('tag');
    if (toTag != null) {
      const call = this.#calls.get(key(req.callId, toTag));
      if (call === undefined) return false;
      call.onRequest(taken.server, req);
      return true;
    }
    if (req.method !== 'INVITE') return false;
    const spec = this.#o.numbers.match(req.requestUri(), this.#o.isLocalDomain);
    if (spec === undefined) return false;
    // Our own Route entries go; anything left routes the request elsewhere, not to us.
    taken.popOwnRoutes();
    if (req.headers.get('route') !== undefined) return false;
    if (this.#closed) {
      this.#reply(taken.server, req, 503, 'Service Unavailable', [['Retry-After', '30']]);
      this.#o.callEnded?.(req.callId ?? '');
      return true;
    }
    if (!this.#o.media.claimSession()) {
      this.#reply(taken.server, req, 503, 'Media Sessions Exhausted', [['Retry-After', '10']]);
      this.#o.callEnded?.(req.callId ?? '');
      return true;
    }
    const call = new ServiceCall(spec, taken.server, req, taken.source, taken.inside, {
      legs: this.#o.legs,
      media: this.#o.media.legFactory,
      ticker: this.#ticker,
      logger: this.#o.logger,
      productName: this.#o.productName,
      releaseSession: () => this.#o.media.releaseSession(),
      ended: (c, why) => this.#ended(c, why),
    });
    this.#calls.set(key(call.callId, call.localTag), call);
    const record = this.#o.records?.begin({ mode: 'service', callId: call.callId, invite: req, source: taken.source, inside: taken.inside, direction: 'local', target: spec.name });
    if (record !== undefined) this.#records.set(call, record);
    this.#sweep ??= setInterval(() => this.#onSweep(), SWEEP_MS).unref();
    this.#answering.set(taken.server, call);
    void call.start().catch((err: unknown) => {
      this.#o.logger.error({ err, callId: call.callId }, 'service call failed');
      call.hangUp('failed');
    });
    return true;
  }

  takeAck(req: SipRequest, _source: Flow, _inside: boolean): boolean {
    const toTag = req.to()?.params.get('tag');
    if (toTag == null) return false;
    const call = this.#calls.get(key(req.callId, toTag));
    if (call === undefined) return false;
    call.onAck();
    return true;
  }

  takeCancel(invite: ServerTransaction): boolean {
    const call = this.#answering.get(invite);
    if (call === undefined) return false;
    call.cancel();
    return true;
  }

  /** A client flow closed: its calls are over. */
  flowClosed(flowId: string): void {
    for (const call of [...this.#calls.values()]) if (call.clientFlowId === flowId) call.flowClosed();
  }

  /**
   * Shutdown or drain (SIGTERM): new service calls get 503, the ones up get
   * our BYE at once — a test call is not worth holding the drain for.
   */
  close(): void {
    this.#closed = true;
    for (const call of [...this.#calls.values()]) call.hangUp('shutdown');
  }

  /** Callers gone silent (a phone that vanished without BYE) are hung up; the timer runs only while calls are up. */
  #onSweep(): void {
    const limit = performance.now() - this.#o.inactivitySeconds * 1000;
    for (const call of [...this.#calls.values()]) {
      const last = call.lastActivity;
      if (last !== undefined && last < limit) call.hangUp('inactivity');
    }
  }

  #ended(call: ServiceCall, why: CallEnd): void {
    this.#calls.delete(key(call.callId, call.localTag));
    if (this.#calls.size === 0 && this.#sweep !== undefined) {
      clearInterval(this.#sweep);
      this.#sweep = undefined;
    }
    this.#o.callEnded?.(call.callId);
    this.#o.metrics?.serviceCalls.inc({ service: call.spec.name, end: why });
    const record = this.#records.get(call);
    if (record !== undefined) {
      if (call.answered) this.#o.records?.answered(record, call.answeredAt);
      this.#o.records?.finish(record, call.finalStatus === 0 ? null : call.finalStatus, RECORD_ENDING[why]);
    }
  }

  #reply(server: ServerTransaction, req: SipRequest, status: number, reason: string, headers: Array<[string, string]>): void {
    const res = createResponse(req, status, reason, { headers });
    if (this.#o.productName !== undefined) res.headers.set('server', this.#o.productName);
    server.respond(res);
  }
}

const SWEEP_MS = 2000;

function key(callId: string | undefined, tag: string): string {
  return `${callId ?? ''}\n${tag}`;
}
