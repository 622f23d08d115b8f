/**
 * One call between its initial INVITE and its end: created once per INVITE
 * dialog, filled in by the few events that matter (final response, CANCEL,
 * BYE), then turned into one record line. In proxy mode it is also the
 * ProxyTransaction's observer, so a call costs this one object.
 */
import type { CallDirection, CallEnding, CallRecordHandle, ProxyCallObserver } from '../core/call-events.js';
import { hasSdp } from '../media/sdp.js';
import type { SipRequest, SipResponse } from '../sip/message.js';
import type { SipUri } from '../sip/uri.js';
import type { Flow, TransportProtocol } from '../transport/flow.js';

/** How the call's media went: through an engine, the embedded relay, untouched, or no SDP at all. */
export type MediaPath = 'rtpengine' | 'embedded' | 'passthrough' | 'none';

export interface Endpoint {
  address: string;
  port: number;
  transport: TransportProtocol;
}

/** One line of the call records file (README "Call records"). */
export interface CallRecord {
  callId: string;
  /** The Call-ID the client side saw (masked, or the B2BUA's A or B leg). */
  outsideCallId: string;
  /** The Call-ID the inside saw. */
  insideCallId: string;
  mode: 'proxy' | 'b2bua' | 'service';
  direction: CallDirection;
  from: string;
  to: string;
  fromUser: string | null;
  toUser: string | null;
  source: Endpoint;
  target: Endpoint | { service: string } | null;
  media: MediaPath;
  /** The rtpengine (ng URL) that held the call's media; null for other relays or when unknown. */
  mediaEngine: string | null;
  /** The client flow's transport (outbound and local: the caller's; inbound: the callee's). */
  transport: TransportProtocol | null;
  start: string;
  answer: string | null;
  end: string;
  /** Seconds answered (end − answer), 0 when never answered. */
  duration: number;
  status: number | null;
  endedBy: CallEnding['by'];
  reason: CallEnding['reason'];
}

/** What the recorder does with the events of a call it tracks. */
export interface CallEvents {
  /** A proxied call's 2xx went upstream. */
  proxyAnswered(call: ActiveCall): void;
  finish(call: ActiveCall, status: number | null, ending: CallEnding): void;
}

export interface ActiveCallInit {
  callId: string;
  outsideCallId: string;
  insideCallId: string;
  mode: CallRecord['mode'];
  direction: CallDirection;
  invite: SipRequest;
  source: Flow;
  /** The active relay (media.mode as started). */
  media: MediaPath;
  startMs: number;
}

export class ActiveCall implements ProxyCallObserver, CallRecordHandle {
  readonly callId: string;
  readonly outsideCallId: string;
  insideCallId: string;
  readonly mode: CallRecord['mode'];
  readonly direction: CallDirection;
  readonly from: string;
  readonly to: string;
  readonly fromUser: string | null;
  readonly toUser: string | null;
  readonly fromTag: string;
  readonly source: Endpoint;
  target: CallRecord['target'] = null;
  media: MediaPath;
  mediaEngine: string | null = null;
  transport: TransportProtocol | null;
  readonly startMs: number;
  answerMs: number | undefined;
  status: number | null = null;
  cancelSeen = false;
  /** The relay the call's media takes once an SDP is seen (the INVITE had none). */
  readonly mediaIfSdp: MediaPath;
  /** Why it ends, when someone other than its user agent said so first (B2BUA and service calls). */
  noted: CallEnding | undefined;
  /** Told the state store at its answer (multi-node): its end must claim the write. */
  shared = false;
  /** The recorder, while the call is tracked; undefined once written. */
  events: CallEvents | undefined;

  constructor(init: ActiveCallInit, events: CallEvents | undefined) {
    const req = init.invite;
    this.callId = init.callId;
    this.outsideCallId = init.outsideCallId;
    this.insideCallId = init.insideCallId;
    this.mode = init.mode;
    this.direction = init.direction;
    const from = req.from();
    const to = req.to();
    this.from = from === undefined ? '' : addressOfRecord(from.uri);
    this.to = to === undefined ? '' : addressOfRecord(to.uri);
    this.fromUser = from?.uri.user ?? null;
    this.toUser = to?.uri.user ?? null;
    this.fromTag = from?.params.get('tag') ?? '';
    this.source = endpointOf(init.source);
    this.transport = init.direction === 'inbound' ? null : init.source.transport;
    this.mediaIfSdp = init.media;
    this.media = hasSdp(req) ? init.media : 'none';
    this.startMs = init.startMs;
    this.events = events;
  }

  // ── ProxyCallObserver ────────────────────────────────────────────────

  final(res: SipResponse, downstream: Flow | undefined): void {
    const events = this.events;
    if (events === undefined) return;
    if (downstream !== undefined) this.reached(downstream);
    const status = res.status;
    this.status = status;
    if (status < 300) {
      if (this.media === 'none' && hasSdp(res)) this.media = this.mediaIfSdp;
      events.proxyAnswered(this);
      return;
    }
    if (this.cancelSeen) events.finish(this, status, { by: 'caller', reason: 'cancel' });
    else events.finish(this, status, { by: downstream === undefined ? 'sbc' : 'callee', reason: 'failed' });
  }

  cancelled(): void {
    this.cancelSeen = true;
  }

  /** The far side is reached over `flow` (a backend target, or a client for an inbound call). */
  reached(flow: Flow): void {
    this.target = endpointOf(flow);
    if (this.direction === 'inbound') this.transport = flow.transport;
  }

  toRecord(ending: CallEnding, endMs: number): CallRecord {
    const answer = this.answerMs;
    return {
      callId: this.callId,
      outsideCallId: this.outsideCallId,
      insideCallId: this.insideCallId,
      mode: this.mode,
      direction: this.direction,
      from: this.from,
      to: this.to,
      fromUser: this.fromUser,
      toUser: this.toUser,
      source: this.source,
      target: this.target,
      media: this.media,
      mediaEngine: this.media === 'rtpengine' ? this.mediaEngine : null,
      transport: this.transport,
      start: new Date(this.startMs).toISOString(),
      answer: answer === undefined ? null : new Date(answer).toISOString(),
      end: new Date(endMs).toISOString(),
      duration: answer === undefined ? 0 : Math.max(0, Math.round(endMs - answer)) / 1000,
      status: this.status,
      endedBy: ending.by,
      reason: ending.reason,
    };
  }
}

/** `scheme:user@host[:port]`: the URI without parameters or headers. */
function addressOfRecord(uri: SipUri): string {
  const host = uri.host.includes(':') ? `[${uri.host}]` : uri.host;
  const user = uri.user === undefined ? '' : `${uri.user}@`;
  return `${uri.scheme}:${user}${host}${uri.port === undefined ? '' : `:${uri.port}`}`;
}

export function endpointOf(flow: Flow): Endpoint {
  return { address: flow.remote.address, port: flow.remote.port, transport: flow.transport };
}
