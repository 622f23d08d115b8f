/**
 * One side of a B2BUA call: a dialog of its own (RFC 3261 §12) in which we are
 * the user agent. It knows its Call-ID, both tags, both CSeq spaces, the
 * remote target and route set, and how its far end is reached, and it builds
 * the requests we send in it. It never sees the other leg's identifiers.
 */
import { uriMark } from '../sip/worker-mark.js';
import { HeaderList } from '../sip/headers.js';
import { formatNameAddr, type NameAddr } from '../sip/headers/name-addr.js';
import { SipRequest, type SipResponse } from '../sip/message.js';
import { ParamList } from '../sip/param-list.js';
import { formatHostPort, parseUri } from '../sip/uri.js';
import type { Flow, ListenerInfo } from '../transport/flow.js';

/**
 * How a leg's far end is reached: a client flow named by its token (the
 * outside: browsers and NATed phones are only reachable on their own
 * connection), or the dialog's route set and remote target (the inside).
 */
export type LegHop = { kind: 'flow'; token: string } | { kind: 'route' };

export type LegSide = 'a' | 'b';

export interface LegInit {
  side: LegSide;
  /** Dialog key: the user part of our Contact on this leg. */
  key: string;
  callId: string;
  localTag: string;
  remoteTag?: string;
  /** Our identity on this leg (From or To value without tag). */
  localUri: string;
  remoteUri: string;
  /** First CSeq number we use on this leg (independent of the other leg's). */
  localCseq: number;
  remoteCseq?: number;
  remoteTarget: string;
  routeSet?: string[];
  hop: LegHop;
  inside: boolean;
}

export class Leg {
  readonly side: LegSide;
  readonly key: string;
  readonly callId: string;
  readonly localTag: string;
  remoteTag: string | undefined;
  readonly localUri: string;
  readonly remoteUri: string;
  /** CSeq of the last request we sent on this leg. */
  localCseq: number;
  /** CSeq of the last request the far end sent (RFC 3261 §12.2.2 ordering check). */
  remoteCseq: number | undefined;
  remoteTarget: string;
  routeSet: string[];
  readonly hop: LegHop;
  readonly inside: boolean;
  /** Next RSeq for a reliable provisional we send on this leg (RFC 3262 §3: random start). */
  rseq: number;
  /** Date.now() of the 2xx that confirmed this leg (the call record's answer time). */
  confirmedAt: number | undefined;
  ended = false;
  /** Whether the remote target came from the far end's Contact (until then an inside leg uses `firstHop`). */
  targetLearned = false;
  /** The flow our first request went out on: the hop for early requests before a Contact is known. */
  firstHop: Flow | undefined;

  constructor(init: LegInit) {
    this.side = init.side;
    this.key = init.key;
    this.callId = init.callId;
    this.localTag = init.localTag;
    this.remoteTag = init.remoteTag;
    this.localUri = init.localUri;
    this.remoteUri = init.remoteUri;
    this.localCseq = init.localCseq;
    this.remoteCseq = init.remoteCseq;
    this.remoteTarget = init.remoteTarget;
    this.routeSet = init.routeSet ?? [];
    this.hop = init.hop;
    this.inside = init.inside;
    this.rseq = 1 + Math.floor(Math.random() * 0x7fff);
  }

  /** Early until a 2xx creates or confirms the dialog on this leg. */
  get confirmed(): boolean {
    return this.confirmedAt !== undefined;
  }

  set confirmed(value: boolean) {
    if (!value) this.confirmedAt = undefined;
    else this.confirmedAt ??= Date.now();
  }

  get from(): string {
    return `${this.localUri};tag=${this.localTag}`;
  }

  get to(): string {
    return this.remoteTag === undefined ? this.remoteUri : `${this.remoteUri};tag=${this.remoteTag}`;
  }

  /** Our Contact on this leg, reached through `listener`: in-dialog requests come back to us with the key. */
  contact(listener: ListenerInfo): string {
    const transport = listener.transport === 'wss' ? 'ws' : listener.transport;
    return `<sip:${this.key}@${formatHostPort(listener.advertise, listener.boundPort)};transport=${transport}${uriMark()}>`;
  }

  /**
   * A new request within this dialog (RFC 3261 §12.2.1.1): Request-URI the
   * remote target, Route the route set (strict next hop converted), our
   * tags, the next CSeq of this leg unless `cseq` is given (ACK, CANCEL).
   * Via and Contact are added when the outgoing flow is known.
   */
  request(method: string, cseq?: number): SipRequest {
    const seq = cseq ?? ++this.localCseq;
    const headers = new HeaderList();
    headers.append('max-forwards', '70');
    headers.append('from', this.from);
    headers.append('to', this.to);
    headers.append('call-id', this.callId);
    headers.append('cseq', `${seq} ${method}`);
    let uri = this.remoteTarget;
    const routes = this.routeSet.slice();
    const first = routes[0];
    if (first !== undefined && !isLooseRoute(first)) {
      // Strict next hop (RFC 3261 §12.2.1.1): it becomes the Request-URI, the remote target the last Route.
      routes.shift();
      routes.push(`<${uri}>`);
      uri = uriOf(first);
    }
    for (const r of routes) headers.append('route', r);
    return new SipRequest(method, uri, headers);
  }

  /** The URI the next request goes to first: the top Route or the remote target. */
  nextHopUri(): string {
    const first = this.routeSet[0];
    return first === undefined ? this.remoteTarget : uriOf(first);
  }
}

/** The URI inside a name-addr (`<uri>;params`) or the addr-spec itself. */
export function uriOf(value: string): string {
  const lt = value.indexOf('<');
  if (lt < 0) return value.split(';')[0]!.trim();
  const gt = value.indexOf('>', lt);
  return value.slice(lt + 1, gt < 0 ? undefined : gt);
}

function isLooseRoute(value: string): boolean {
  const r = parseUri(uriOf(value));
  return !r.ok || r.value.params.has('lr');
}

/** A From/To value without its tag: a party's identity, reused on the other leg with a tag of ours. */
export function identityOf(na: NameAddr): string {
  const params = new ParamList(na.params);
  params.delete('tag');
  return formatNameAddr({ ...na, params });
}

/** The URI of a message's first Contact (a remote target, RFC 3261 §12.1), if any. */
export function contactOf(msg: SipRequest | SipResponse): string | undefined {
  const raw = msg.headers.values('contact')[0];
  return raw === undefined || raw === '*' ? undefined : uriOf(raw);
}
