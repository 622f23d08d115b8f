/**
 * Shared pieces of the Kamailio integration tests: an SBC whose only backend
 * is a real Kamailio, SIP.js-like WebSocket clients, and plain UDP user
 * agents that talk straight to Kamailio. Each UA answers like a UAS on its
 * own (ring, answer, CANCEL → 487, BYE → 200) so tests only assert on what
 * every end saw.
 */
import { rand, request, response, SipPeer, uacRouteSet, uasRouteSet, type Received } from '../../helpers/sip-peer.js';
import { startKamailio, type RunningKamailio } from '../../helpers/kamailio.js';
import { startSbc, type TestSbc } from '../../helpers/sbc.js';
import type { SipRequest, SipResponse } from '../../../src/sip/message.js';

export interface KamailioBed {
  kam: RunningKamailio;
  sbc: TestSbc;
  /** The SBC's UDP listener, where Kamailio sends terminating requests (our Path). */
  sbcUdp: { address: string; port: number };
  wsUrl: string;
  wssUrl: string;
  stop(): Promise<void>;
}

/** Kamailio plus an SBC in proxy mode with Kamailio as its only backend and registrar. */
export async function startBed(): Promise<KamailioBed> {
  const kam = await startKamailio();
  let sbc: TestSbc;
  try {
    sbc = await startSbc({
      listen: [
        { transport: 'udp', address: '127.0.0.1', port: 0 },
        { transport: 'ws', address: '127.0.0.1', port: 0 },
        { transport: 'wss', address: '127.0.0.1', port: 0 },
      ],
      backends: {
        default: {
          algorithm: 'round-robin',
          probe: { method: 'OPTIONS', intervalSeconds: 2, failuresToDown: 3, successesToUp: 1, timeoutMs: 1000 },
          targets: [{ uri: kam.uri, weight: 1, priority: 0 }],
        },
      },
      registrar: { backend: 'default', pathMode: true },
      // Signalling only: no SDP is exchanged, so no media engine is needed.
      media: { mode: 'passthrough' },
      // The REGISTER storm comes from one address; what it tests is the binding cap, not the rate limit.
      security: { rateLimit: { requestsPerSecondPerIp: 0 } },
    });
  } catch (err) {
    await kam.stop();
    throw err;
  }
  return {
    kam,
    sbc,
    sbcUdp: { address: '127.0.0.1', port: sbc.listener('udp').boundPort },
    wsUrl: `ws://127.0.0.1:${sbc.listener('ws').boundPort}`,
    wssUrl: `wss://127.0.0.1:${sbc.listener('wss').boundPort}`,
    stop: async () => {
      await sbc.stop().catch(() => undefined);
      await kam.stop();
    },
  };
}

/** What a UA does with an incoming INVITE. */
export type AnswerMode = 'answer' | 'ring' | 'silent' | 'busy';

const isRequest = (r: Received, method: string): boolean => r.msg.kind === 'request' && r.msg.method === method;

/** Behaviour shared by the WS clients and the UDP UAs when they are called. */
abstract class UserAgent {
  readonly peer: SipPeer;
  /** Contact user part (SIP.js: 8 random characters). */
  readonly user: string;
  mode: AnswerMode = 'answer';
  /** INVITEs still ringing, by Call-ID, so a CANCEL can end them with 487. */
  readonly #ringing = new Map<string, { req: SipRequest; from: Received['from']; tag: string }>();
  /** The To-tag this UA gave each INVITE it answered, by Call-ID. */
  readonly tags = new Map<string, string>();
  /** Final answers by INVITE branch, resent to retransmissions. */
  readonly #finals = new Map<string, string>();

  protected constructor(peer: SipPeer, user: string) {
    this.peer = peer;
    this.user = user;
    peer.onMessage = (r) => this.#answer(r);
  }

  abstract get contact(): string;
  /** Via sent-by and transport token. */
  abstract get sentBy(): string;
  abstract get viaTransport(): string;
  /** Send to the next hop: the SBC (WS) or Kamailio (UDP). */
  abstract sendOut(text: string): void;
  protected abstract replyTo(text: string, from: Received['from']): void;

  /** Answer a ringing INVITE now (200 with our Contact). */
  answerRinging(callId: string): void {
    const ringing = this.#ringing.get(callId);
    if (ringing === undefined) throw new Error(`no ringing INVITE with Call-ID ${callId}`);
    this.#ringing.delete(callId);
    this.replyTo(response(ringing.req, 200, 'OK', { toTag: ringing.tag, headers: [`Contact: ${this.contact}`] }), ringing.from);
  }

  /** Ring now on an INVITE received while silent (it then ends like a 'ring' one). */
  ringNow(callId: string): void {
    const inv = this.requests('INVITE', callId)[0];
    if (inv === undefined) throw new Error(`no INVITE with Call-ID ${callId}`);
    const req = inv.msg as SipRequest;
    const tag = 'ua' + rand(3);
    this.tags.set(callId, tag);
    this.#ringing.set(callId, { req, from: inv.from, tag });
    this.replyTo(response(req, 180, 'Ringing', { toTag: tag, headers: [`Contact: ${this.contact}`] }), inv.from);
  }

  /** Requests of `method` seen, optionally for one Call-ID. */
  requests(method: string, callId?: string): Received[] {
    return this.peer.received.filter((r) => isRequest(r, method) && (callId === undefined || r.msg.callId === callId));
  }

  nextRequest(method: string, callId?: string, timeoutMs?: number): Promise<Received> {
    return this.peer.next((r) => isRequest(r, method) && (callId === undefined || r.msg.callId === callId), timeoutMs);
  }

  nextResponse(callId: string, status: number | ((s: number) => boolean), method?: string, timeoutMs?: number): Promise<Received> {
    const ok = typeof status === 'number' ? (s: number) => s === status : status;
    return this.peer.next((r) => r.msg.kind === 'response' && r.msg.callId === callId && ok(r.msg.status) && (method === undefined || r.msg.cseq()?.method === method), timeoutMs);
  }

  close(): void {
    this.peer.close();
  }

  #answer(r: Received): void {
    if (r.msg.kind !== 'request') return;
    const req = r.msg;
    const callId = req.callId ?? '';
    switch (req.method) {
      case 'INVITE': {
        const branch = req.topVia()?.params.get('branch') ?? '';
        const earlier = this.#finals.get(branch);
        if (earlier !== undefined) {
          this.replyTo(earlier, r.from);
          return;
        }
        if (this.#ringing.has(callId) || this.mode === 'silent') return;
        const tag = 'ua' + rand(3);
        this.tags.set(callId, tag);
        if (this.mode === 'busy') {
          const busy = response(req, 486, 'Busy Here', { toTag: tag });
          this.#finals.set(branch, busy);
          this.replyTo(busy, r.from);
          return;
        }
        this.replyTo(response(req, 180, 'Ringing', { toTag: tag, headers: [`Contact: ${this.contact}`] }), r.from);
        if (this.mode === 'ring') {
          this.#ringing.set(callId, { req, from: r.from, tag });
          return;
        }
        const ok = response(req, 200, 'OK', { toTag: tag, headers: [`Contact: ${this.contact}`] });
        this.#finals.set(branch, ok);
        this.replyTo(ok, r.from);
        return;
      }
      case 'CANCEL': {
        this.replyTo(response(req, 200, 'OK'), r.from);
        const ringing = this.#ringing.get(callId);
        if (ringing === undefined) return;
        this.#ringing.delete(callId);
        this.replyTo(response(ringing.req, 487, 'Request Terminated', { toTag: ringing.tag }), ringing.from);
        return;
      }
      case 'BYE':
      case 'OPTIONS':
        this.replyTo(response(req, 200, 'OK'), r.from);
        return;
      default:
        return;
    }
  }

  /** Send an INVITE (no SDP: signalling only) and return its Call-ID and branch. */
  invite(aor: string): Call {
    const requestUri = `sip:${aor}@example.com`;
    const to = `<${requestUri}>`;
    const callId = rand(8);
    const branch = `z9hG4bK${rand()}`;
    const fromTag = rand(4);
    const text = request({
      method: 'INVITE', uri: requestUri, sentBy: this.sentBy, viaTransport: this.viaTransport, branch, callId, fromTag,
      from: `<sip:${this.user}@example.com>`, to, contact: this.contact,
      headers: ['Supported: outbound', 'Allow: INVITE, ACK, CANCEL, BYE, OPTIONS'],
    });
    this.sendOut(text);
    return { callId, branch, fromTag, to, requestUri };
  }

  /** ACK for a 2xx, end to end along the route set the 2xx carried (RFC 3261 §13.2.2.4). */
  ack(ok: SipResponse, call: Call): void {
    this.sendOut(request({
      method: 'ACK', uri: contactUri(ok), sentBy: this.sentBy, viaTransport: this.viaTransport, callId: call.callId, fromTag: call.fromTag,
      from: `<sip:${this.user}@example.com>`, to: call.to, toTag: ok.to()?.params.get('tag') ?? '', cseq: 1,
      headers: uacRouteSet(ok).map((r) => `Route: ${r}`),
    }));
  }

  /** CANCEL for an INVITE of ours: same branch, Request-URI, Call-ID, From, To (RFC 3261 §9.1). */
  cancel(call: Call): void {
    this.sendOut(request({
      method: 'CANCEL', uri: call.requestUri, sentBy: this.sentBy, viaTransport: this.viaTransport, branch: call.branch, callId: call.callId,
      fromTag: call.fromTag, from: `<sip:${this.user}@example.com>`, to: call.to, cseq: 1,
    }));
  }

  /** BYE within a dialog this UA started (route set from the 2xx, reversed; RFC 3261 §12.1.2). */
  byeAsCaller(ok: SipResponse, call: Call): void {
    this.sendOut(request({
      method: 'BYE', uri: contactUri(ok), sentBy: this.sentBy, viaTransport: this.viaTransport, callId: call.callId, fromTag: call.fromTag,
      from: `<sip:${this.user}@example.com>`, to: call.to, toTag: ok.to()?.params.get('tag') ?? '', cseq: 2,
      headers: uacRouteSet(ok).map((r) => `Route: ${r}`),
    }));
  }

  /** BYE within a dialog this UA answered (route set from the INVITE, RFC 3261 §12.1.1). */
  byeAsCallee(invite: SipRequest): void {
    const callId = invite.callId ?? '';
    this.sendOut(request({
      method: 'BYE', uri: contactUri(invite), sentBy: this.sentBy, viaTransport: this.viaTransport, callId,
      from: invite.headers.get('to')?.replace(/;tag=[^;]*/, '') ?? '', fromTag: this.tags.get(callId) ?? '',
      to: invite.headers.get('from')?.replace(/;tag=[^;]*/, '') ?? '', toTag: invite.from()?.params.get('tag') ?? '', cseq: 1,
      headers: uasRouteSet(invite).map((r) => `Route: ${r}`),
    }));
  }
}

/** An INVITE a UA sent, with what it needs for ACK, CANCEL and BYE. */
export interface Call {
  callId: string;
  branch: string;
  fromTag: string;
  /** To header value (no tag). */
  to: string;
  requestUri: string;
}

/** A SIP.js-like client on a WebSocket to the SBC. */
export class WsClient extends UserAgent {
  /** The random `.invalid` host SIP.js puts in Via and Contact. */
  readonly host: string;
  readonly #transport: 'WS' | 'WSS';
  readonly #registerCallId = rand(8);
  #cseq = 0;

  private constructor(peer: SipPeer, user: string, host: string) {
    super(peer, user);
    this.host = host;
    this.#transport = peer.transport === 'wss' ? 'WSS' : 'WS';
  }

  static async connect(url: string): Promise<WsClient> {
    const peer = await SipPeer.ws(url);
    return new WsClient(peer, rand(4), `${rand(6)}.invalid`);
  }

  /**
   * The same client on a new WebSocket, as SIP.js after a reconnect: the
   * same Contact user and `.invalid` host (one UserAgent), the dialogs it
   * answered still known (so it can hang them up).
   */
  static async resume(url: string, previous: WsClient, localAddress?: string): Promise<WsClient> {
    const peer = await SipPeer.ws(url, ['sip'], localAddress !== undefined ? { localAddress } : {});
    const next = new WsClient(peer, previous.user, previous.host);
    for (const [callId, tag] of previous.tags) next.tags.set(callId, tag);
    return next;
  }

  get contact(): string {
    return `<sip:${this.user}@${this.host};transport=ws>`;
  }

  get sentBy(): string {
    return this.host;
  }

  get viaTransport(): string {
    return this.#transport;
  }

  sendOut(text: string): void {
    this.peer.send(text);
  }

  protected replyTo(text: string): void {
    this.peer.send(text);
  }

  /** REGISTER `aor`@example.com as SIP.js does (Supported: path, gruu, outbound; `;expires` on the Contact). */
  register(aor: string, expires = 600): { callId: string; cseq: number } {
    const cseq = ++this.#cseq;
    this.peer.send(request({
      method: 'REGISTER', uri: 'sip:example.com', sentBy: this.host, viaTransport: this.#transport,
      callId: this.#registerCallId, cseq, from: `<sip:${aor}@example.com>`, to: `<sip:${aor}@example.com>`,
      contact: `${this.contact};expires=${expires}`,
      headers: ['Allow: ACK, CANCEL, INVITE, MESSAGE, BYE, OPTIONS, INFO, NOTIFY, REFER', 'Supported: path, gruu, outbound', 'User-Agent: SIP.js/0.21.2'],
    }));
    return { callId: this.#registerCallId, cseq };
  }

  /** REGISTER and wait for its final response. */
  async registered(aor: string, expires = 600): Promise<SipResponse> {
    const { callId, cseq } = this.register(aor, expires);
    const final = await this.peer.next((r) => r.msg.kind === 'response' && r.msg.callId === callId && r.msg.cseq()?.seq === cseq && r.msg.status >= 200);
    return final.msg as SipResponse;
  }
}

/** A plain SIP phone over UDP that registers and calls straight at Kamailio. */
export class UdpUa extends UserAgent {
  readonly kam: { address: string; port: number };

  private constructor(peer: SipPeer, user: string, kam: { address: string; port: number }) {
    super(peer, user);
    this.kam = kam;
  }

  static async create(kam: RunningKamailio, user = `ua${rand(4)}`): Promise<UdpUa> {
    return new UdpUa(await SipPeer.udp(), user, { address: kam.host, port: kam.port });
  }

  get sentBy(): string {
    return `127.0.0.1:${this.peer.address.port}`;
  }

  get viaTransport(): string {
    return 'UDP';
  }

  get contact(): string {
    return `<sip:${this.user}@${this.sentBy}>`;
  }

  sendOut(text: string): void {
    this.peer.send(text, this.kam);
  }

  protected replyTo(text: string, from: Received['from']): void {
    this.peer.send(text, from);
  }

  /** Register our Contact for `user`@example.com at Kamailio, without Path. */
  async register(): Promise<void> {
    const callId = rand(8);
    this.sendOut(request({
      method: 'REGISTER', uri: `sip:${this.kam.address}:${this.kam.port}`, sentBy: this.sentBy, callId,
      from: `<sip:${this.user}@example.com>`, to: `<sip:${this.user}@example.com>`, contact: `${this.contact};expires=600`,
    }));
    const res = await this.nextResponse(callId, (s) => s >= 200, 'REGISTER');
    if ((res.msg as SipResponse).status !== 200) throw new Error(`Kamailio answered REGISTER with ${(res.msg as SipResponse).status}`);
  }
}

/** The URI of a message's first Contact, as the remote target (RFC 3261 §12.1). */
export function contactUri(msg: SipRequest | SipResponse): string {
  const raw = msg.headers.get('contact');
  if (raw === undefined) throw new Error(`no Contact in ${msg.kind === 'request' ? msg.method : msg.status}`);
  const m = /<([^>]+)>/.exec(raw);
  return m?.[1] ?? raw.split(';')[0]!.trim();
}

/** To-tag of a response or request. */
export function toTag(msg: SipRequest | SipResponse): string {
  return msg.to()?.params.get('tag') ?? '';
}

/** Ids of the SBC's open WS/WSS flows, from GET /api/flows. */
export async function clientFlowIds(bed: KamailioBed): Promise<Set<string>> {
  const res = await fetch(`${bed.sbc.adminUrl}/api/flows`);
  const body = (await res.json()) as { flows?: Array<{ id?: unknown; transport?: unknown }> };
  return new Set((body.flows ?? []).filter((f) => f.transport === 'ws' || f.transport === 'wss').map((f) => String(f.id)));
}

/**
 * Close a client and wait until the SBC has dropped its flow, so the next
 * request for it meets a flow that is gone rather than one still closing.
 */
export async function closeAndWaitGone(bed: KamailioBed, client: WsClient): Promise<void> {
  const before = await clientFlowIds(bed);
  client.close();
  const deadline = Date.now() + 5000;
  for (;;) {
    const now = await clientFlowIds(bed);
    if ([...before].filter((id) => !now.has(id)).length >= 1) return;
    if (Date.now() > deadline) throw new Error('the SBC never dropped the closed WebSocket flow (GET /api/flows)');
    await settle(20);
  }
}

/** Wait a short while so that a message that should not come has had its chance. */
export function settle(ms = 300): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
