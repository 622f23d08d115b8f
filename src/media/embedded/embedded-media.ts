/**
 * The embedded media relay behind the same {@link MediaHooks} the rtpengine
 * path implements: the pipeline and the B2BUA call request/response/endCall
 * and never learn which relay runs. SIP events map onto sessions so:
 *
 *   INVITE/UPDATE/PRACK with SDP          → offer from the sender (From tag)
 *   ACK (or PRACK answering our offer)    → answer from the sender
 *   1xx/2xx with SDP to a request with SDP → answer from the responder (To tag)
 *   2xx/1xx with SDP to one without        → offer from the responder (late offer)
 *   BYE, final failure, CANCEL, flow close → endCall / flowClosed: the session is freed
 *
 * A session is keyed by Call-ID and the pair of flows on the hop (the same
 * for a request and its responses, and for in-dialog requests either way), so
 * a call that crosses us twice, or forks to two browsers, gets one per hop.
 * One unref'd sweep per second frees sessions without RTP for
 * inactivitySeconds (holdInactivitySeconds on hold or before the answer) or
 * older than maxCallSeconds, and flushes the packet counters into metrics.
 */
import type { RTCCertificate } from 'werift';
import type { SbcMetrics } from '../../admin/metrics.js';
import type { Logger } from '../../log/logger.js';
import type { SipRequest, SipResponse } from '../../sip/message.js';
import type { Flow } from '../../transport/flow.js';
import { MediaUnavailable, type MediaHooks } from '../media-control.js';
import { hasSdp } from '../sdp.js';
import { parseAudioSdp } from './audio-sdp.js';
import { createRelayCertificate } from './certificate.js';
import { LegFactory } from './leg-factory.js';
import { SideCounters } from './media-leg.js';
import { PortAllocator } from './port-allocator.js';
import { RelayRefusal, type RefusalReason } from './relay-refusal.js';
import { Session, type LegKind } from './session.js';
import { NoCandidateError } from './webrtc-leg.js';

export interface EmbeddedMediaSettings {
  /** IPv4 address media sockets bind to. */
  address: string;
  /** IPv4 address written into SDP; '' = the bound one (for 0.0.0.0, `fallbackAdvertise`). */
  advertise: string;
  ports: { min: number; max: number };
  maxSessions: number;
  inactivitySeconds: number;
  holdInactivitySeconds: number;
  maxCallSeconds: number;
}

export interface EmbeddedMediaOptions {
  settings: EmbeddedMediaSettings;
  /** What to advertise when bound to 0.0.0.0 with no advertise set. */
  fallbackAdvertise: string;
  logger: Logger;
  metrics?: SbcMetrics | undefined;
  /** One DTLS certificate for every peer; generated when absent. */
  certificate?: RTCCertificate;
  /** A session freed for reaching maxCallSeconds: its call's record ends as `max-duration`. */
  onMaxDuration?: ((callId: string) => void) | undefined;
}

export interface EmbeddedSnapshot {
  name: 'embedded';
  address: string;
  advertise: string;
  sessions: number;
  maxSessions: number;
  portPairsFree: number;
  portPairsTotal: number;
  legsOpen: number;
}

type EndReason = 'bye' | 'inactivity' | 'max-duration' | 'flow-closed' | 'shutdown' | 'failed';

const SWEEP_MS = 1000;
/** Sweeps between RTCP sender reports on plain legs (RFC 3550 §6.2: about every 5 s). */
const REPORT_EVERY = 5;

export class EmbeddedMedia implements MediaHooks {
  readonly #s: EmbeddedMediaSettings;
  readonly #log: Logger;
  readonly #onMaxDuration: ((callId: string) => void) | undefined;
  readonly #metrics: SbcMetrics | undefined;
  readonly #allocator: PortAllocator;
  readonly #legs: LegFactory;
  readonly #advertise: string;
  readonly #counters = { webrtc: new SideCounters(), plain: new SideCounters() };
  readonly #flushed = { webrtc: new SideCounters(), plain: new SideCounters() };
  /** Call-ID → hop key (the two flow ids) → session. */
  readonly #calls = new Map<string, Map<string, Session>>();
  /** Session → the flow and From tag of the INVITE that opened it: sessions with one origin are branches of one fork. */
  readonly #origins = new WeakMap<Session, string>();
  /** WebSocket client flow id → Call-IDs with media through it. */
  readonly #byFlow = new Map<string, Set<string>>();
  #sessions = 0;
  #sweeps = 0;
  /** Sessions still closing (their legs' sockets and peers being freed). */
  readonly #closing = new Set<Promise<void>>();
  readonly #sweep: NodeJS.Timeout;
  #closed = false;

  private constructor(o: EmbeddedMediaOptions, certificate: RTCCertificate) {
    this.#s = o.settings;
    this.#log = o.logger;
    this.#onMaxDuration = o.onMaxDuration;
    this.#metrics = o.metrics;
    this.#advertise = o.settings.advertise !== '' ? o.settings.advertise : o.settings.address === '0.0.0.0' ? o.fallbackAdvertise : o.settings.address;
    this.#allocator = new PortAllocator(o.settings.ports.min, o.settings.ports.max);
    this.#legs = new LegFactory({ allocator: this.#allocator, bindAddress: o.settings.address, advertise: this.#advertise, certificate, counters: this.#counters });
    this.#sweep = setInterval(() => this.#onSweep(), SWEEP_MS);
    this.#sweep.unref();
  }

  static async create(o: EmbeddedMediaOptions): Promise<EmbeddedMedia> {
    return new EmbeddedMedia(o, o.certificate ?? (await createRelayCertificate()));
  }

  get sessionCount(): number {
    return this.#sessions;
  }

  snapshot(): EmbeddedSnapshot {
    return {
      name: 'embedded',
      address: this.#s.address,
      advertise: this.#advertise,
      sessions: this.#sessions,
      maxSessions: this.#s.maxSessions,
      portPairsFree: this.#allocator.free,
      portPairsTotal: this.#allocator.total,
      legsOpen: this.#legs.open,
    };
  }

  /** Every session (bounded), for /api/dialogs in proxy mode where no dialog is kept. */
  sessionList(limit = 10_000): Array<{ callId: string; caller: string; callee: string; ageSeconds: number; onHold: boolean }> {
    const now = performance.now();
    const out: Array<{ callId: string; caller: string; callee: string; ageSeconds: number; onHold: boolean }> = [];
    for (const [callId, sessions] of this.#calls) {
      for (const s of sessions.values()) {
        out.push({ callId, ...s.describe(), ageSeconds: Math.round((now - s.createdAt) / 1000), onHold: s.onHold });
        if (out.length >= limit) return out;
      }
    }
    return out;
  }

  /** Built-in services (src/services) open their own endpoints with the relay's legs (see local-endpoint.ts). */
  get legFactory(): LegFactory {
    return this.#legs;
  }

  /** An endpoint of our own takes one of media.embedded.maxSessions; false (counted) when none is left. */
  claimSession(): boolean {
    if (this.#closed || this.#sessions >= this.#s.maxSessions) {
      this.#fail('sessions-limit');
      return false;
    }
    this.#sessions++;
    this.#metrics?.embeddedSessions.set(this.#sessions);
    return true;
  }

  /** Gives back a place taken with claimSession(). */
  releaseSession(): void {
    this.#sessions--;
    this.#metrics?.embeddedSessions.set(this.#sessions);
  }

  /** The media path of a call, for /api/dialogs. */
  mediaPath(callId: string): Array<{ caller: string; callee: string }> {
    return [...(this.#calls.get(callId)?.values() ?? [])].map((s) => s.describe());
  }

  async request(req: SipRequest, from: Flow, to: Flow): Promise<void> {
    if (!hasSdp(req) || this.#closed) return;
    const callId = req.callId ?? '';
    const raw = req.body.toString('utf8');
    const parsed = parseAudioSdp(raw);
    const fromTag = req.from()?.params.get('tag') ?? '';
    const toTag = req.to()?.params.get('tag') ?? '';
    const client = hopKey(from, to);
    const initial = req.method === 'INVITE' && toTag === '';
    let session = this.#find(callId, client, initial);
    const answerLike = req.method === 'ACK' || (req.method === 'PRACK' && session?.awaitingAnswerFrom(session.sideOf(fromTag)) === true);
    if (!parsed.ok) {
      this.#fail('bad-sdp');
      this.#log.info({ callId, method: req.method, error: parsed.error }, 'embedded media: unusable SDP');
      if (answerLike) return;
      throw new RelayRefusal('bad-sdp', 400, 'Malformed SDP');
    }
    const desc = parsed.value;
    if (!answerLike && desc.webrtc && !(raw.includes('a=ice-ufrag:') && raw.includes('a=fingerprint:'))) {
      this.#fail('bad-sdp');
      throw new RelayRefusal('bad-sdp', 400, 'Malformed SDP');
    }
    let created = false;
    if (session === undefined) {
      if (answerLike) return;
      // Browser ⇄ browser: both ends do ICE and DTLS-SRTP themselves; nothing to convert, the SDP passes untouched.
      if (desc.webrtc && isWebSocket(to)) return;
      session = this.#create(callId, client, clientFlows(from, to), fromTag, desc.webrtc ? 'webrtc' : 'plain', isWebSocket(to) ? 'webrtc' : 'plain');
      created = true;
      if (initial) this.#origins.set(session, `${from.id}|${fromTag}`);
    }
    const side = session.sideOf(fromTag);
    try {
      const out = answerLike ? await session.answer(side, desc, raw) : await session.offer(side, desc, raw);
      req.body = Buffer.from(out, 'utf8');
    } catch (err) {
      const refusal = asRefusal(err);
      this.#fail(refusal.reason);
      this.#log.warn({ err, callId, method: req.method, reason: refusal.reason }, 'embedded media refused the SDP');
      if (created) this.#end(callId, session, 'failed');
      throw refusal;
    }
  }

  async response(res: SipResponse, req: SipRequest, from: Flow, to: Flow): Promise<void> {
    if (this.#closed) return;
    const method = res.cseq()?.method;
    if (method !== 'INVITE' && method !== 'UPDATE') return;
    const callId = res.callId ?? '';
    const client = hopKey(from, to);
    const initial = method === 'INVITE' && (req.to()?.params.get('tag') ?? '') === '';
    let session = this.#find(callId, client, initial);
    if (session !== undefined && res.status >= 200 && res.status < 300 && initial && !session.answered) {
      session.answered = true;
      this.#endOtherBranches(callId, session);
    }
    if (res.status >= 300 || !hasSdp(res)) return;
    const raw = res.body.toString('utf8');
    const parsed = parseAudioSdp(raw);
    if (!parsed.ok) {
      this.#fail('bad-sdp');
      this.#log.warn({ callId, status: res.status, error: parsed.error }, 'embedded media: unusable SDP in a response; relayed unchanged');
      return;
    }
    const answererTag = res.to()?.params.get('tag') ?? '';
    const lateOffer = !hasSdp(req);
    if (session === undefined) {
      if (!lateOffer || (parsed.value.webrtc && isWebSocket(to))) return;
      session = this.#create(callId, client, clientFlows(from, to), req.from()?.params.get('tag') ?? '', isWebSocket(to) ? 'webrtc' : 'plain', parsed.value.webrtc ? 'webrtc' : 'plain');
      if (res.status >= 200 && initial) session.answered = true;
    }
    const side = session.sideOf(answererTag);
    try {
      const out = lateOffer ? await session.offer(side, parsed.value, raw) : await session.answer(side, parsed.value, raw);
      res.body = Buffer.from(out, 'utf8');
    } catch (err) {
      const refusal = asRefusal(err);
      this.#fail(refusal.reason);
      // The response still goes up: failing it here would leave the downstream dialog up with nobody to end it.
      this.#log.error({ err, callId, status: res.status, reason: refusal.reason }, 'embedded media failed on a response SDP; relayed unchanged');
    }
  }

  holds(callId: string): boolean {
    return this.#calls.has(callId);
  }

  endCall(callId: string): void {
    const sessions = this.#calls.get(callId);
    if (sessions === undefined) return;
    for (const s of [...sessions.values()]) this.#end(callId, s, 'bye');
  }

  /** A client flow closed: its calls have no media peer any more. */
  flowClosed(flowId: string): void {
    const set = this.#byFlow.get(flowId);
    if (set === undefined) return;
    this.#byFlow.delete(flowId);
    for (const callId of set) {
      for (const s of [...(this.#calls.get(callId)?.values() ?? [])]) if (s.clientFlows.includes(flowId)) this.#end(callId, s, 'flow-closed');
    }
  }

  close(): void {
    void this.shutdown();
  }

  /** Free every session and wait until their sockets and peers are closed. */
  async shutdown(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      clearInterval(this.#sweep);
      for (const [callId, sessions] of [...this.#calls]) for (const s of [...sessions.values()]) this.#end(callId, s, 'shutdown');
      this.#flush();
    }
    await Promise.all([...this.#closing]);
  }

  /** Sessions still being torn down finish (tests: counts back to the start). */
  async settled(): Promise<void> {
    await Promise.all([...this.#closing]);
  }

  #find(callId: string, client: string, initialInvite: boolean): Session | undefined {
    const sessions = this.#calls.get(callId);
    if (sessions === undefined) return undefined;
    const known = sessions.get(client);
    if (known !== undefined) return known;
    // A second pass of one dialog through us gets its own session; otherwise (a client back on a new flow) the one there is.
    if (initialInvite) return undefined;
    return sessions.values().next().value;
  }

  #create(callId: string, client: string, flows: string[], callerTag: string, callerKind: LegKind, calleeKind: LegKind): Session {
    if (this.#sessions >= this.#s.maxSessions) {
      this.#fail('sessions-limit');
      this.#log.warn({ callId, maxSessions: this.#s.maxSessions }, 'embedded media at media.embedded.maxSessions: call refused');
      throw new RelayRefusal('sessions-limit', 503, 'Media Sessions Exhausted');
    }
    const session = new Session({
      id: `${callId}|${client}`,
      callerTag,
      clientFlows: flows,
      kinds: { caller: callerKind, callee: calleeKind },
      legs: this.#legs,
      counters: this.#counters,
    });
    let sessions = this.#calls.get(callId);
    if (sessions === undefined) {
      sessions = new Map();
      this.#calls.set(callId, sessions);
    }
    sessions.set(client, session);
    this.#sessions++;
    for (const flow of flows) {
      let set = this.#byFlow.get(flow);
      if (set === undefined) {
        set = new Set();
        this.#byFlow.set(flow, set);
      }
      set.add(callId);
    }
    this.#metrics?.embeddedSessions.set(this.#sessions);
    return session;
  }

  #end(callId: string, session: Session, why: EndReason): void {
    const sessions = this.#calls.get(callId);
    if (sessions === undefined) return;
    let found = false;
    for (const [client, s] of sessions) {
      if (s !== session) continue;
      sessions.delete(client);
      found = true;
    }
    if (!found) return;
    if (sessions.size === 0) this.#calls.delete(callId);
    for (const flow of session.clientFlows) {
      const set = this.#byFlow.get(flow);
      // Another session of this call may still use the flow.
      if (set === undefined || [...(this.#calls.get(callId)?.values() ?? [])].some((s) => s.clientFlows.includes(flow))) continue;
      set.delete(callId);
      if (set.size === 0) this.#byFlow.delete(flow);
    }
    this.#sessions--;
    this.#metrics?.embeddedSessions.set(this.#sessions);
    if (why === 'max-duration') this.#onMaxDuration?.(callId);
    if (why === 'inactivity' || why === 'max-duration') {
      this.#fail(why);
      this.#log.warn({ callId, why, path: session.describe() }, 'embedded media session freed');
    } else this.#log.debug({ callId, why }, 'embedded media session closed');
    this.#flush();
    const done = session.close().catch((err: unknown) => this.#log.warn({ err, callId }, 'embedded media session did not close cleanly'));
    this.#closing.add(done);
    void done.finally(() => this.#closing.delete(done));
  }

  /**
   * A fork's winner answered: the sessions opened for its sibling branches (same
   * INVITE, other callees; they get CANCEL, and their failures never come back
   * up to us) are freed now rather than when the call ends.
   */
  #endOtherBranches(callId: string, winner: Session): void {
    const origin = this.#origins.get(winner);
    const sessions = this.#calls.get(callId);
    if (origin === undefined || sessions === undefined || sessions.size < 2) return;
    for (const s of [...sessions.values()]) if (s !== winner && !s.answered && this.#origins.get(s) === origin) this.#end(callId, s, 'bye');
  }

  #onSweep(): void {
    const now = performance.now();
    const maxAge = this.#s.maxCallSeconds * 1000;
    const report = ++this.#sweeps % REPORT_EVERY === 0;
    for (const [callId, sessions] of [...this.#calls]) {
      for (const s of [...sessions.values()]) {
        if (report) s.sendReports();
        const limit = (s.onHold || !s.answered ? this.#s.holdInactivitySeconds : this.#s.inactivitySeconds) * 1000;
        if (now - s.createdAt > maxAge) this.#end(callId, s, 'max-duration');
        else if (now - s.lastActivity > limit) this.#end(callId, s, 'inactivity');
      }
    }
    this.#flush();
  }

  /** Packet counters into metrics, as deltas since the last flush (no per-packet metric calls). */
  #flush(): void {
    const m = this.#metrics;
    if (m === undefined) return;
    for (const side of ['webrtc', 'plain'] as const) {
      const c = this.#counters[side];
      const f = this.#flushed[side];
      const delta = (k: keyof SideCounters): number => {
        const d = c[k] - f[k];
        f[k] = c[k];
        return d;
      };
      const add = (handle: { inc(l: never, v?: number): void }, labels: unknown, v: number): void => {
        if (v > 0) handle.inc(labels as never, v);
      };
      add(m.embeddedPackets, { side, direction: 'in' }, delta('packetsIn'));
      add(m.embeddedPackets, { side, direction: 'out' }, delta('packetsOut'));
      add(m.embeddedBytes, { side, direction: 'in' }, delta('bytesIn'));
      add(m.embeddedBytes, { side, direction: 'out' }, delta('bytesOut'));
      add(m.embeddedDropped, { side, reason: 'foreign-source' }, delta('foreignSource'));
      add(m.embeddedDropped, { side, reason: 'malformed' }, delta('malformed'));
      add(m.embeddedDropped, { side, reason: 'unknown-payload-type' }, delta('unknownPayloadType'));
      add(m.embeddedLost, { side }, delta('lost'));
      add(m.embeddedDtmf, { side }, delta('dtmfEvents'));
    }
  }

  #fail(reason: RefusalReason | 'inactivity' | 'max-duration'): void {
    this.#metrics?.embeddedFailures.inc({ reason });
  }
}

function asRefusal(err: unknown): RelayRefusal {
  if (err instanceof RelayRefusal) return err;
  if (err instanceof NoCandidateError) return new RelayRefusal('ports', 503, 'Media Ports Unavailable', { cause: err });
  if (err instanceof MediaUnavailable) return new RelayRefusal('negotiation', err.status, err.message, { cause: err });
  return new RelayRefusal('negotiation', 488, 'Not Acceptable Here', { cause: err });
}

/** The hop's two flows, in either direction. */
function hopKey(from: Flow, to: Flow): string {
  return from.id < to.id ? `${from.id} ${to.id}` : `${to.id} ${from.id}`;
}

/** The WebSocket client flows on this hop: their closing ends the session. */
function clientFlows(from: Flow, to: Flow): string[] {
  return [from, to].filter(isWebSocket).map((f) => f.id);
}

function isWebSocket(flow: Flow): boolean {
  return flow.transport === 'ws' || flow.transport === 'wss';
}
