/**
 * One SIP account and at most one call, on top of SIP.js 0.21.2's documented API
 * (UserAgent, Registerer, Inviter, Invitation, Web.SessionDescriptionHandler).
 * The page's buttons and the `window.softphone` test hook both drive this class.
 *
 *   idle ──register()──► connecting ──200──► registered ──call()──► calling ──2xx──► in call
 *                             │                  │  ▲                                  │
 *                             └─fail─► unregistered  └── INVITE ──► ringing ─answer()──┘
 *                                                                                       │
 *                                       ended ◄── BYE / CANCEL / rejection / hangup() ──┘
 *
 *   registered ──WebSocket dropped──► reconnecting ──connected──► connecting ──200──► registered
 *                                        ▲      │ (retry with backoff until unregister())
 *                                        └──────┘
 */
import {
  Invitation,
  Inviter,
  Registerer,
  RegistererState,
  SessionState,
  UserAgent,
  Web,
  type Core,
  type Session,
} from 'sip.js';
import { NO_QUALITY, summarizeStats, type CallQuality, type StatsEntry } from './call-quality.js';
import { domainOf, toTargetUri } from './target-uri.js';

/** What `window.softphone.state()` returns: the latest registration or call phase. */
export type PhoneState =
  | 'idle'
  | 'connecting'
  | 'registered'
  | 'unregistered'
  | 'reconnecting'
  | 'calling'
  | 'ringing'
  | 'in call'
  | 'ended';

/** The account form, also accepted by `window.softphone.register()`. */
export interface AccountOptions {
  /** WebSocket URL of the SBC, e.g. `wss://sbc.example.com:7443`. */
  server: string;
  /** Address of record, `sip:user@domain`. */
  aor: string;
  /** Digest user name; defaults to the AOR's user part. */
  authUser?: string;
  password?: string;
  displayName?: string;
  /** Optional STUN server URL (`stun:host:port`); none by default so calls stay on the host's addresses. */
  stun?: string;
}

/** One finished call, for the call log. */
export interface CallLogEntry {
  direction: 'in' | 'out';
  peer: string;
  startedAt: Date;
  answeredAt?: Date;
  endedAt: Date;
  /** Why it ended: "hung up", "remote hung up", "486 Busy Here", "missed", … */
  outcome: string;
}

/** Everything the page renders, emitted on every change. */
export interface PhoneView {
  state: PhoneState;
  /** Human-readable status line, with the reason when something ended or failed. */
  status: string;
  /** A UserAgent exists (connecting or connected). */
  connected: boolean;
  registered: boolean;
  call?: { direction: 'in' | 'out'; peer: string; answered: boolean; held: boolean; muted: boolean };
}

/** How the page hears from the phone. */
export interface PhoneListener {
  onChange(view: PhoneView): void;
  onCallEnded(entry: CallLogEntry): void;
  onQuality(quality: CallQuality): void;
}

interface ActiveCall {
  session: Session;
  direction: 'in' | 'out';
  peer: string;
  startedAt: Date;
  answeredAt?: Date;
  outcome?: string;
  held: boolean;
  muted: boolean;
}

type IncomingResponse = Core.IncomingResponse;

const QUALITY_INTERVAL_MS = 1000;
const AUDIO_ONLY = { constraints: { audio: true, video: false } };
const DTMF_TONE = /^[0-9A-D*#]$/i;
/** First retry right away after a drop, then 2, 4, 8… s, capped so a phone comes back soon after the server. */
const RECONNECT_FIRST_DELAY_MS = 0;
const RECONNECT_BASE_DELAY_MS = 1000;
const RECONNECT_MAX_DELAY_MS = 30_000;

/** A softphone: one registration, one call at a time. */
export class Phone {
  readonly #audio: HTMLAudioElement;
  readonly #listener: PhoneListener;
  #userAgent: UserAgent | undefined;
  #registerer: Registerer | undefined;
  #aor = '';
  #aorDomain = '';
  #call: ActiveCall | undefined;
  #state: PhoneState = 'idle';
  #status = 'Not registered';
  #registered = false;
  #qualityTimer: ReturnType<typeof setInterval> | undefined;
  #reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  /** Failed reconnection attempts since the last drop; 0 while connected. */
  #reconnectAttempts = 0;
  /** The transport dropped and has not come back yet: the next connect must re-register. */
  #dropped = false;
  #lastQuality: CallQuality = NO_QUALITY;

  /** @param audio the `<audio autoplay>` element that plays the remote party */
  constructor(audio: HTMLAudioElement, listener: PhoneListener) {
    this.#audio = audio;
    this.#listener = listener;
  }

  get state(): PhoneState {
    return this.#state;
  }

  /**
   * Connects to the server and registers the AOR, replacing any previous account.
   * Resolves once the registrar accepted (SIP.js answers digest challenges itself);
   * rejects with the status ("403 Forbidden") or the connection error.
   */
  async register(account: AccountOptions): Promise<void> {
    await this.#stopUserAgent();
    const uri = UserAgent.makeURI(account.aor.trim());
    if (uri === undefined || uri.user === undefined) {
      throw this.#fail('unregistered', `"${account.aor}" is not an address of record like sip:alice@example.com`);
    }
    const stun = nonEmpty(account.stun);
    const userAgent = new UserAgent({
      uri,
      transportOptions: { server: account.server.trim() },
      authorizationUsername: nonEmpty(account.authUser) ?? uri.user,
      authorizationPassword: account.password ?? '',
      displayName: nonEmpty(account.displayName) ?? '',
      logLevel: 'error',
      sessionDescriptionHandlerFactoryOptions: {
        peerConnectionConfiguration: { iceServers: stun === undefined ? [] : [{ urls: stun }] },
      },
      delegate: {
        onInvite: (invitation) => this.#onInvite(invitation),
        onConnect: () => this.#onConnect(userAgent),
        onDisconnect: (error) => this.#onDisconnect(userAgent, error),
      },
    });
    this.#userAgent = userAgent;
    this.#aor = uri.toString();
    this.#aorDomain = domainOf(this.#aor);
    this.#update('connecting', `Connecting to ${account.server}…`);
    try {
      await userAgent.start();
    } catch (error) {
      await this.#stopUserAgent();
      throw this.#fail('unregistered', `Could not connect to ${account.server}: ${messageOf(error)}`);
    }
    const registerer = new Registerer(userAgent);
    this.#registerer = registerer;
    registerer.stateChange.addListener((state) => this.#onRegistererState(registerer, state));
    await new Promise<void>((resolve, reject) => {
      const refused = (response: IncomingResponse): void =>
        reject(this.#fail('unregistered', `Registration failed: ${statusOf(response)}`));
      registerer
        .register({ requestDelegate: { onAccept: () => resolve(), onReject: refused, onRedirect: refused } })
        .catch((error: unknown) => reject(this.#fail('unregistered', `Registration failed: ${messageOf(error)}`)));
    });
  }

  /** Unregisters (best effort) and closes the connection. */
  async unregister(): Promise<void> {
    const registerer = this.#registerer;
    if (registerer?.state === RegistererState.Registered) {
      await new Promise<void>((resolve) => {
        registerer
          .unregister({ requestDelegate: { onAccept: () => resolve(), onReject: () => resolve() } })
          .catch(() => resolve());
      });
    }
    await this.#stopUserAgent();
    this.#update('unregistered', 'Unregistered');
  }

  /**
   * Calls `target` (a SIP URI, user@host, or a user/number in the AOR's domain).
   * Resolves once the INVITE is sent; the state then moves to "in call" or "ended".
   */
  async call(target: string): Promise<void> {
    const userAgent = this.#requireUserAgent();
    if (this.#call !== undefined) throw new Error('Already in a call; hang up first');
    const uriText = toTargetUri(target, this.#aorDomain);
    const uri = uriText === undefined ? undefined : UserAgent.makeURI(uriText);
    if (uri === undefined) throw new Error(`"${target}" is not a number, user or SIP URI`);
    const inviter = new Inviter(userAgent, uri, { sessionDescriptionHandlerOptions: AUDIO_ONLY });
    const call = this.#track(inviter, 'out', `${uri.user ?? ''}@${uri.host}`);
    this.#update('calling', `Calling ${call.peer}…`);
    try {
      await inviter.invite({
        requestDelegate: {
          onProgress: (response) => {
            if (this.#call === call && response.message.statusCode === 180) {
              this.#update('calling', `Calling ${call.peer}… ringing`);
            }
          },
          onReject: (response) => (call.outcome ??= statusOf(response)),
          onRedirect: (response) => (call.outcome ??= statusOf(response)),
        },
      });
    } catch (error) {
      // SIP.js has already terminated the session (e.g. no microphone); say why.
      call.outcome ??= messageOf(error);
      if (this.#call === call) await this.hangup();
      throw new Error(`Call failed: ${messageOf(error)}`);
    }
  }

  /** Answers the ringing incoming call with audio. */
  async answer(): Promise<void> {
    const call = this.#call;
    if (call === undefined || !(call.session instanceof Invitation) || call.session.state !== SessionState.Initial) {
      throw new Error('No incoming call to answer');
    }
    await call.session.accept({ sessionDescriptionHandlerOptions: AUDIO_ONLY });
  }

  /** Rejects the ringing incoming call with 603 Decline. */
  async decline(): Promise<void> {
    const call = this.#call;
    if (call === undefined || !(call.session instanceof Invitation) || call.session.state !== SessionState.Initial) {
      throw new Error('No incoming call to decline');
    }
    call.outcome ??= 'declined';
    await call.session.reject({ statusCode: 603, reasonPhrase: 'Decline' });
  }

  /** Ends the call whatever its phase: CANCEL while calling, 603 while ringing, BYE when answered. */
  async hangup(): Promise<void> {
    const call = this.#call;
    if (call === undefined) return;
    const session = call.session;
    switch (session.state) {
      case SessionState.Initial:
      case SessionState.Establishing:
        if (session instanceof Inviter) {
          call.outcome ??= 'cancelled';
          await session.cancel();
        } else if (session instanceof Invitation) {
          call.outcome ??= 'declined';
          await session.reject({ statusCode: 603, reasonPhrase: 'Decline' });
        }
        return;
      case SessionState.Established:
        call.outcome ??= 'hung up';
        await session.bye();
        return;
      default:
        return; // already ending
    }
  }

  /**
   * Puts the call on hold (or resumes it) with a re-INVITE whose SDP is
   * sendonly/inactive (RFC 3264 §8.4), via SIP.js's `hold` SDH option.
   * Resolves when the other side accepted it.
   */
  async hold(on: boolean): Promise<void> {
    const call = this.#answeredCall();
    if (call.held === on) return;
    const session = call.session;
    const previous = session.sessionDescriptionHandlerOptionsReInvite;
    const options: Web.SessionDescriptionHandlerOptions = { ...previous, hold: on };
    session.sessionDescriptionHandlerOptionsReInvite = options;
    try {
      await reinvite(session);
    } catch (error) {
      const unchanged: Web.SessionDescriptionHandlerOptions = { ...previous, hold: call.held };
      session.sessionDescriptionHandlerOptionsReInvite = unchanged;
      throw new Error(`${on ? 'Hold' : 'Resume'} failed: ${messageOf(error)}`);
    }
    call.held = on;
    this.#applyTrackState(call);
    this.#update('in call', on ? `On hold with ${call.peer}` : `In call with ${call.peer}`);
  }

  /**
   * Renegotiates the media with new ICE credentials, as after a network
   * change: a re-INVITE whose offer restarts ICE (RFC 8839 §4.4.1.1.1).
   * Resolves with the ICE usernames (ours, the far end's) before and after.
   */
  async restartIce(): Promise<{ local: [string, string]; remote: [string, string] }> {
    const ufrags = (): [string, string] => {
      const pc = this.#peerConnection();
      return [iceUfrag(pc?.localDescription?.sdp), iceUfrag(pc?.remoteDescription?.sdp)];
    };
    const [localBefore, remoteBefore] = ufrags();
    const session = this.#answeredCall().session;
    const previous = session.sessionDescriptionHandlerOptionsReInvite;
    const restart: Web.SessionDescriptionHandlerOptions = { ...previous, offerOptions: { ...(previous as Web.SessionDescriptionHandlerOptions).offerOptions, iceRestart: true } };
    session.sessionDescriptionHandlerOptionsReInvite = restart;
    try {
      await reinvite(session);
    } catch (error) {
      throw new Error(`ICE restart failed: ${messageOf(error)}`);
    } finally {
      session.sessionDescriptionHandlerOptionsReInvite = previous;
    }
    const [localAfter, remoteAfter] = ufrags();
    return { local: [localBefore, localAfter], remote: [remoteBefore, remoteAfter] };
  }

  /** Stops (or restarts) sending the microphone. */
  mute(on: boolean): void {
    const call = this.#answeredCall();
    call.muted = on;
    this.#applyTrackState(call);
    this.#emit();
  }

  /** Sends one DTMF tone as RFC 4733 telephone-event through the RTP sender. */
  dtmf(tone: string): void {
    if (!DTMF_TONE.test(tone)) throw new Error(`"${tone}" is not a DTMF tone (0-9, *, #, A-D)`);
    const call = this.#answeredCall();
    const handler = call.session.sessionDescriptionHandler;
    if (!(handler instanceof Web.SessionDescriptionHandler) || !handler.sendDtmf(tone)) {
      throw new Error('DTMF not sent: the call has no telephone-event (RFC 4733) sender');
    }
  }

  /** Live call quality during a call; after it, the last sample taken. */
  async stats(): Promise<CallQuality> {
    const peerConnection = this.#peerConnection();
    if (peerConnection === undefined) return this.#lastQuality;
    const report = await peerConnection.getStats();
    this.#lastQuality = summarizeStats(report.values() as IterableIterator<StatsEntry>);
    return this.#lastQuality;
  }

  /** Ends the call, unregisters and disconnects; safe to call more than once. */
  async close(): Promise<void> {
    this.#stopQuality();
    await this.#stopUserAgent();
  }

  #onInvite(invitation: Invitation): void {
    if (this.#call !== undefined) {
      // One call at a time. RFC 3261 §21.4.24
      void invitation.reject({ statusCode: 486, reasonPhrase: 'Busy Here' });
      return;
    }
    const identity = invitation.remoteIdentity;
    const address = `${identity.uri.user ?? ''}@${identity.uri.host}`;
    const peer = identity.displayName ? `${identity.displayName} (${address})` : address;
    const call = this.#track(invitation, 'in', peer);
    this.#update('ringing', `Incoming call from ${call.peer}`);
  }

  #track(session: Session, direction: 'in' | 'out', peer: string): ActiveCall {
    const call: ActiveCall = { session, direction, peer, startedAt: new Date(), held: false, muted: false };
    this.#call = call;
    this.#lastQuality = NO_QUALITY;
    session.delegate = {
      onBye: (bye) => {
        call.outcome ??= 'remote hung up';
        void bye.accept();
      },
      onCancel: () => (call.outcome ??= 'missed'),
    };
    session.stateChange.addListener((state) => {
      if (state === SessionState.Established) this.#onAnswered(call);
      // SIP.js terminates the session before it hands the final response to our request
      // delegate, so the outcome ("486 Busy Here") is only known a microtask later.
      else if (state === SessionState.Terminated) queueMicrotask(() => this.#onEnded(call));
    });
    return call;
  }

  #onAnswered(call: ActiveCall): void {
    if (this.#call !== call) return;
    call.answeredAt = new Date();
    const handler = call.session.sessionDescriptionHandler;
    if (handler instanceof Web.SessionDescriptionHandler) {
      this.#audio.srcObject = handler.remoteMediaStream;
      // The click that answered or dialled is the user gesture autoplay needs; if play() is
      // still refused, the status line says so instead of failing silently.
      this.#audio.play().catch(() => this.#update('in call', `In call with ${call.peer} (click the page to hear audio)`));
    }
    this.#startQuality();
    this.#update('in call', `In call with ${call.peer}`);
  }

  #onEnded(call: ActiveCall): void {
    if (this.#call !== call) return;
    this.#call = undefined;
    this.#stopQuality();
    this.#audio.srcObject = null;
    const outcome = call.outcome ?? (call.answeredAt ? 'ended' : call.direction === 'in' ? 'missed' : 'no answer');
    const entry: CallLogEntry = { direction: call.direction, peer: call.peer, startedAt: call.startedAt, endedAt: new Date(), outcome };
    if (call.answeredAt) entry.answeredAt = call.answeredAt;
    this.#listener.onCallEnded(entry);
    this.#update('ended', `Call ended: ${outcome}`);
  }

  #onRegistererState(registerer: Registerer, state: RegistererState): void {
    if (this.#registerer !== registerer) return;
    this.#registered = state === RegistererState.Registered;
    if (this.#call !== undefined) return this.#emit(); // the call phase stays on the status line
    if (state === RegistererState.Registered) this.#update('registered', `Registered as ${this.#aor}`);
    else if (state === RegistererState.Unregistered && this.#state === 'registered') this.#update('unregistered', 'Registration lost');
    else this.#emit();
  }

  // SIP.js only calls this for a drop it did not ask for (error set); its own reconnection
  // options are deprecated and give up after a fixed count, so the phone retries itself.
  #onDisconnect(userAgent: UserAgent, error: Error | undefined): void {
    if (this.#userAgent !== userAgent || error === undefined) return;
    this.#registered = false;
    this.#dropped = true;
    this.#reconnectAttempts = 0;
    this.#scheduleReconnect(userAgent, error.message);
  }

  #scheduleReconnect(userAgent: UserAgent, reason: string): void {
    this.#clearReconnect();
    const attempt = this.#reconnectAttempts++;
    const delay = attempt === 0
      ? RECONNECT_FIRST_DELAY_MS
      : Math.min(RECONNECT_BASE_DELAY_MS * 2 ** (attempt - 1), RECONNECT_MAX_DELAY_MS);
    const when = delay === 0 ? 'now' : `in ${Math.round(delay / 1000)} s`;
    this.#showRegistration('reconnecting', `Connection lost (${reason}); reconnecting ${when}…`);
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined;
      if (this.#userAgent !== userAgent) return;
      userAgent.reconnect().catch((error: unknown) => {
        if (this.#userAgent === userAgent) this.#scheduleReconnect(userAgent, messageOf(error));
      });
    }, delay);
  }

  // Fires on the first connect too; only a connect after a drop re-registers, so the
  // registrar learns the new flow (our SBC puts a new Path on the new connection).
  #onConnect(userAgent: UserAgent): void {
    if (this.#userAgent !== userAgent || !this.#dropped) return;
    this.#dropped = false;
    this.#reconnectAttempts = 0;
    this.#clearReconnect();
    const registerer = this.#registerer;
    if (registerer === undefined) return;
    this.#showRegistration('connecting', 'Reconnected; registering again…');
    const refused = (response: IncomingResponse): void =>
      this.#showRegistration('unregistered', `Registration failed after reconnecting: ${statusOf(response)}`);
    // The Registerer never left "Registered" while the socket was down, so no state change
    // will announce this 200: the request delegate does.
    const accepted = (): void => {
      if (this.#registerer !== registerer) return;
      this.#registered = true;
      this.#showRegistration('registered', `Registered as ${this.#aor}`);
    };
    registerer
      .register({ requestDelegate: { onAccept: accepted, onReject: refused, onRedirect: refused } })
      .catch((error: unknown) => this.#showRegistration('unregistered', `Registration failed after reconnecting: ${messageOf(error)}`));
  }

  #clearReconnect(): void {
    if (this.#reconnectTimer !== undefined) clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = undefined;
  }

  /** A registration phase goes on the status line unless a call is showing there. */
  #showRegistration(state: PhoneState, status: string): void {
    if (this.#call === undefined) this.#update(state, status);
    else this.#emit();
  }

  #startQuality(): void {
    this.#stopQuality();
    let sampling = false;
    this.#qualityTimer = setInterval(() => {
      if (sampling) return; // a slow getStats() must not pile up samples
      sampling = true;
      this.stats()
        .then((quality) => this.#listener.onQuality(quality))
        .catch(() => undefined) // the call may end between ticks
        .finally(() => (sampling = false));
    }, QUALITY_INTERVAL_MS);
  }

  #stopQuality(): void {
    if (this.#qualityTimer !== undefined) clearInterval(this.#qualityTimer);
    this.#qualityTimer = undefined;
  }

  #applyTrackState(call: ActiveCall): void {
    const handler = call.session.sessionDescriptionHandler;
    if (!(handler instanceof Web.SessionDescriptionHandler)) return;
    handler.enableReceiverTracks(!call.held);
    handler.enableSenderTracks(!call.held && !call.muted);
  }

  #peerConnection(): RTCPeerConnection | undefined {
    const handler = this.#call?.session.sessionDescriptionHandler;
    return handler instanceof Web.SessionDescriptionHandler ? handler.peerConnection : undefined;
  }

  #answeredCall(): ActiveCall {
    const call = this.#call;
    if (call === undefined || call.session.state !== SessionState.Established) throw new Error('No call in progress');
    return call;
  }

  #requireUserAgent(): UserAgent {
    if (this.#userAgent === undefined || !this.#registered) throw new Error('Register first');
    return this.#userAgent;
  }

  async #stopUserAgent(): Promise<void> {
    const userAgent = this.#userAgent;
    this.#userAgent = undefined;
    this.#registerer = undefined;
    this.#registered = false;
    this.#dropped = false;
    this.#reconnectAttempts = 0;
    this.#clearReconnect();
    if (userAgent === undefined) return;
    // UserAgent.stop() unregisters, ends sessions (BYE/CANCEL) and closes the WebSocket.
    await userAgent.stop().catch(() => undefined);
    if (this.#call !== undefined) this.#onEnded(this.#call);
  }

  #fail(state: PhoneState, status: string): Error {
    this.#update(state, status);
    return new Error(status);
  }

  #update(state: PhoneState, status: string): void {
    this.#state = state;
    this.#status = status;
    this.#emit();
  }

  #emit(): void {
    const call = this.#call;
    const view: PhoneView = {
      state: this.#state,
      status: this.#status,
      connected: this.#userAgent !== undefined,
      registered: this.#registered,
    };
    if (call !== undefined) {
      view.call = { direction: call.direction, peer: call.peer, answered: call.answeredAt !== undefined, held: call.held, muted: call.muted };
    }
    this.#listener.onChange(view);
  }
}

/** Sends a re-INVITE with the session's current re-INVITE options; resolves on 2xx. */
/** The first `a=ice-ufrag:` of an SDP ('' when none). */
function iceUfrag(sdp: string | undefined): string {
  return /\ba=ice-ufrag:(\S+)/.exec(sdp ?? '')?.[1] ?? '';
}

function reinvite(session: Session): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const ended = (state: SessionState): void => {
      if (state === SessionState.Terminated) settle(new Error('call ended'));
    };
    const settle = (error?: Error): void => {
      session.stateChange.removeListener(ended);
      if (error === undefined) resolve();
      else reject(error);
    };
    session.stateChange.addListener(ended);
    session
      .invite({
        requestDelegate: {
          onAccept: () => settle(),
          onReject: (response) => settle(new Error(statusOf(response))),
        },
      })
      .catch((error: unknown) => settle(error instanceof Error ? error : new Error(String(error))));
  });
}

function statusOf(response: IncomingResponse): string {
  return `${response.message.statusCode} ${response.message.reasonPhrase}`;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function nonEmpty(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed === undefined || trimmed === '' ? undefined : trimmed;
}
