/**
 * Offer/answer through the media engine on every call that has a WebRTC side
 * (PROTOCOLS.md §1; PEERS.md "rtpengine"): an SDP going to a browser gets the
 * SAVPF/ICE/DTLS set, an SDP from a browser going to a plain-RTP peer gets the
 * RTP/AVP set. Plain RTP on both sides is left alone.
 *
 *   request with SDP (INVITE, re-INVITE, UPDATE)  → offer   (from-tag = sender's tag)
 *   request without SDP (late offer)              → the 2xx carries the offer (from-tag = To tag),
 *                                                   the ACK the answer
 *   1xx/2xx with SDP to an offer                  → answer  (from-tag = offerer, to-tag = answerer)
 *   BYE, final failure of the initial INVITE,
 *   the client's flow closing                     → delete
 */
import { RequestRejection } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { SipRequest, SipResponse } from '../sip/message.js';
import type { Flow } from '../transport/flow.js';
import type { EnginePool, FlagSets, MediaDirection } from './rtpengine/index.js';
import { hasBundleGroup, hasSdp, isWebrtcSdp, restoreBundle } from './sdp.js';

/** What the pipeline needs from a media relay. */
export interface MediaHooks {
  /** Rewrite the SDP of a request forwarded from `from` to `to`. @throws MediaUnavailable */
  request(req: SipRequest, from: Flow, to: Flow): Promise<void>;
  /** Rewrite the SDP of a response to `req` on its way from `from` (downstream) to `to` (upstream). */
  response(res: SipResponse, req: SipRequest, from: Flow, to: Flow): Promise<void>;
  /** The call is over: free its media. */
  endCall(callId: string): void;
  close(): void;
  /** Whether this process relays media of the call (a session of its own for the Call-ID). */
  holds?(callId: string): boolean;
}

/** The engine could not take the SDP: the request is answered with this status. */
export class MediaUnavailable extends RequestRejection {
  constructor(message: string, status = 503, options?: { cause?: unknown }) {
    super(message, status, options);
    this.name = 'MediaUnavailable';
  }
}

const MAX_TRACKED = 100_000;

export interface RtpengineMediaOptions {
  pool: EnginePool;
  flags: FlagSets;
  logger: Logger;
  /**
   * Also anchor plain-RTP ⇄ plain-RTP calls (NATed phones ⇄ the backend) in the
   * engine, so neither side learns the other's media address. @default true
   */
  anchorPlainCalls?: boolean;
  /**
   * Under a supervisor (workers > 1): this worker's mark (`w2`) in the engine
   * session of a dialog's pass through it when another worker already holds a
   * session for the Call-ID (browser → worker 1 → a proxy → worker 2 → browser).
   */
  workerMark?: string;
}

export class RtpengineMedia implements MediaHooks {
  readonly #pool: EnginePool;
  readonly #flags: FlagSets;
  readonly #log: Logger;
  readonly #anchorPlain: boolean;
  readonly #workerMark: string | undefined;
  /** Call-IDs whose WebRTC offer grouped its media with BUNDLE (an answer may only keep what was offered). */
  readonly #bundled = new Map<string, true>();
  /** Flow id → Call-IDs with media through that client flow, to delete them when it closes. */
  readonly #byFlow = new Map<string, Set<string>>();
  /**
   * Call-ID → its engine sessions, one per client (WebSocket flow id, '' for
   * none). Usually one; a call that crosses us twice (browser → us → a proxy →
   * us → browser) gets a second session so the engine never sees the same
   * Call-ID and tag offered from two places.
   */
  readonly #calls = new Map<string, Map<string, string>>();

  constructor(options: RtpengineMediaOptions) {
    this.#pool = options.pool;
    this.#flags = options.flags;
    this.#log = options.logger;
    this.#anchorPlain = options.anchorPlainCalls ?? true;
    this.#workerMark = options.workerMark;
  }

  async request(req: SipRequest, from: Flow, to: Flow): Promise<void> {
    if (!hasSdp(req)) return;
    const callId = req.callId ?? '';
    const sdp = req.body.toString('utf8');
    const direction = this.#direction(sdp, from, to);
    if (direction === undefined) return;
    const fromTag = req.from()?.params.get('tag') ?? '';
    const toTag = req.to()?.params.get('tag') ?? '';
    const client = clientOf(from, to);
    const initial = req.method === 'INVITE' && toTag === '';
    let session = this.#session(callId, client, initial);
    try {
      // A pass this worker has not seen begin, of a call another worker offered first: a session of its own.
      if (initial && this.#workerMark !== undefined && !this.#calls.has(callId) && (await this.#pool.holds(callId))) session = `${callId}~${this.#workerMark}`;
      let out: string;
      if (req.method === 'ACK' || req.method === 'PRACK') {
        // The answer to an offer the other side made in a response (late offer).
        out = (await this.#pool.answer({ callId: session, fromTag: toTag, toTag: fromTag, sdp, flags: this.#flags.answer(direction) })).sdp;
      } else {
        if (direction === 'webrtcToRtp' && hasBundleGroup(sdp)) this.#remember(this.#bundled, session, true);
        out = (await this.#pool.offer({ callId: session, fromTag, sdp, flags: this.#flags.offer(direction) })).sdp;
        if (direction === 'rtpToWebrtc') out = restoreBundle(out);
      }
      this.#track(callId, client, session);
      req.body = Buffer.from(out, 'utf8');
    } catch (err) {
      this.#log.warn({ err, callId, method: req.method }, 'media engine refused the SDP');
      throw new MediaUnavailable('Media Engine Unavailable', 503, { cause: err });
    }
  }

  async response(res: SipResponse, req: SipRequest, from: Flow, to: Flow): Promise<void> {
    if (res.status >= 300 || !hasSdp(res)) return;
    const method = res.cseq()?.method;
    if (method !== 'INVITE' && method !== 'UPDATE') return;
    const callId = res.callId ?? '';
    const sdp = res.body.toString('utf8');
    const direction = this.#direction(sdp, from, to);
    if (direction === undefined) return;
    const offererTag = req.from()?.params.get('tag') ?? '';
    const answererTag = res.to()?.params.get('tag') ?? '';
    const client = clientOf(from, to);
    const session = this.#session(callId, client, method === 'INVITE' && (req.to()?.params.get('tag') ?? '') === '');
    try {
      let out: string;
      if (hasSdp(req)) {
        out = (await this.#pool.answer({ callId: session, fromTag: offererTag, toTag: answererTag, sdp, flags: this.#flags.answer(direction) })).sdp;
        if (direction === 'rtpToWebrtc' && this.#bundled.has(session)) out = restoreBundle(out);
      } else {
        // Late offer: the responder is the offerer (PROTOCOLS.md §1.2, tag orientation).
        out = (await this.#pool.offer({ callId: session, fromTag: answererTag, sdp, flags: this.#flags.offer(direction) })).sdp;
        if (direction === 'rtpToWebrtc') out = restoreBundle(out);
      }
      this.#track(callId, client, session);
      res.body = Buffer.from(out, 'utf8');
    } catch (err) {
      // The response still goes up unchanged: failing it here would leave the
      // downstream dialog established with nobody to tear it down.
      this.#log.error({ err, callId, status: res.status }, 'media engine failed on a response SDP; relayed unchanged');
    }
  }

  holds(callId: string): boolean {
    return this.#calls.has(callId);
  }

  endCall(callId: string): void {
    const sessions = this.#calls.get(callId);
    if (sessions === undefined) return;
    this.#calls.delete(callId);
    for (const [client, session] of sessions) {
      this.#bundled.delete(session);
      const set = this.#byFlow.get(client);
      set?.delete(callId);
      if (set?.size === 0) this.#byFlow.delete(client);
      this.#pool.delete({ callId: session, deleteDelay: 0 }).catch((err: unknown) => this.#log.debug({ err, callId: session }, 'media delete failed'));
    }
  }

  /** A client flow closed: its calls have no media peer any more. */
  flowClosed(flowId: string): void {
    const set = this.#byFlow.get(flowId);
    if (set === undefined) return;
    this.#byFlow.delete(flowId);
    for (const callId of set) this.endCall(callId);
  }

  close(): void {
    this.#bundled.clear();
    this.#byFlow.clear();
    this.#calls.clear();
  }

  /** The engine's Call-ID for this call as seen through `client`'s side. */
  #session(callId: string, client: string, initialInvite: boolean): string {
    const sessions = this.#calls.get(callId);
    if (sessions === undefined) return callId;
    const known = sessions.get(client);
    if (known !== undefined) return known;
    // A second pass of one dialog through us: its own engine session.
    if (initialInvite) return `${callId}~${sessions.size}`;
    return sessions.values().next().value ?? callId;
  }

  /**
   * Which flag set applies: toward a browser the WebRTC set, toward anyone
   * else the RTP/AVP set (which is also right for plain RTP on both sides);
   * undefined when no side speaks WebRTC and plain calls are not anchored.
   */
  #direction(sdp: string, from: Flow, to: Flow): MediaDirection | undefined {
    if (isWebSocket(to)) return 'rtpToWebrtc';
    if (isWebSocket(from) || isWebrtcSdp(sdp) || this.#anchorPlain) return 'webrtcToRtp';
    return undefined;
  }

  #track(callId: string, client: string, session: string): void {
    let sessions = this.#calls.get(callId);
    if (sessions === undefined) {
      if (this.#calls.size >= MAX_TRACKED) {
        const oldest = this.#calls.keys().next().value;
        if (oldest !== undefined) this.endCall(oldest);
      }
      sessions = new Map();
      this.#calls.set(callId, sessions);
    }
    if (!sessions.has(client) && sessions.size < 8) sessions.set(client, session);
    if (client === '') return;
    let set = this.#byFlow.get(client);
    if (set === undefined) {
      set = new Set();
      this.#byFlow.set(client, set);
    }
    set.add(callId);
  }

  #remember(map: Map<string, true>, key: string, value: true): void {
    if (map.size >= MAX_TRACKED) {
      const oldest = map.keys().next().value;
      if (oldest !== undefined) map.delete(oldest);
    }
    map.set(key, value);
  }
}

/** The WebSocket client flow on this hop, if any ('' when neither side is one). */
function clientOf(from: Flow, to: Flow): string {
  if (isWebSocket(to)) return to.id;
  if (isWebSocket(from)) return from.id;
  return '';
}

function isWebSocket(flow: Flow): boolean {
  return flow.transport === 'ws' || flow.transport === 'wss';
}
