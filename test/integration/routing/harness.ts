/**
 * The routing tests' bed: backend groups of scripted UDP user agents, a
 * phone outside, and a call helper that reports which UAS the INVITE
 * reached and with which Request-URI.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SipRequest } from '../../../src/sip/message.js';
import { rand, request, response, SipPeer } from '../../helpers/sip-peer.js';

export type UasMode = 'busy' | 'unavailable' | 'answer';

/** Arrival order across every UAS (failover order). */
let arrivals = 0;
const arrivalOf = new WeakMap<SipRequest, number>();

/** A scripted UAS: OPTIONS 200; INVITE 100 then 486 (busy), 503 (unavailable) or 200 (answer); ACK absorbed; BYE 200. */
export class Uas {
  readonly name: string;
  readonly peer: SipPeer;
  mode: UasMode = 'busy';
  readonly invites: SipRequest[] = [];

  private constructor(name: string, peer: SipPeer) {
    this.name = name;
    this.peer = peer;
    peer.onMessage = (r, p) => {
      if (r.msg.kind !== 'request') return;
      const req = r.msg;
      const tag = `${name}-${rand(3)}`;
      if (req.method === 'OPTIONS' || req.method === 'BYE' || req.method === 'MESSAGE' || req.method === 'REGISTER') {
        p.send(response(req, 200, 'OK', { toTag: tag }), r.from);
      } else if (req.method === 'INVITE') {
        this.invites.push(req);
        arrivalOf.set(req, ++arrivals);
        p.send(response(req, 100, 'Trying'), r.from);
        if (this.mode === 'busy') p.send(response(req, 486, 'Busy Here', { toTag: tag }), r.from);
        else if (this.mode === 'unavailable') p.send(response(req, 503, 'Service Unavailable', { toTag: tag }), r.from);
        else p.send(response(req, 200, 'OK', { toTag: tag, headers: [`Contact: <sip:${name}@127.0.0.1:${peer.address.port}>`] }), r.from);
      }
    };
  }

  static async start(name: string): Promise<Uas> {
    return new Uas(name, await SipPeer.udp());
  }

  get uri(): string {
    return `sip:127.0.0.1:${this.peer.address.port};transport=udp`;
  }

  /** The INVITE of this call, if it reached us. */
  invite(callId: string): SipRequest | undefined {
    return this.invites.find((r) => isCall(r, callId));
  }
}

/** A group of UASes (probes off: every target is up, failover is by the answers). */
export function group(...targets: Uas[]): Record<string, unknown> {
  return {
    algorithm: 'priority',
    probe: { method: 'OPTIONS', intervalSeconds: 0, failuresToDown: 1000, successesToUp: 1 },
    targets: targets.map((t, i) => ({ uri: t.uri, weight: 1, priority: i })),
  };
}

export interface CallResult {
  status: number;
  reason: string;
  /** Name of the UAS whose INVITE was the last to arrive (after failover), or undefined. */
  reached: string | undefined;
  /** Every UAS the INVITE reached, in arrival order. */
  tried: string[];
  /** Request-URI the reaching UAS saw. */
  ruri: string | undefined;
  invite: SipRequest | undefined;
  response: import('../../../src/sip/message.js').SipMessage;
}

export interface CallSpec {
  uri: string;
  from?: string;
  headers?: string[];
  callId?: string;
}

/** A phone outside on UDP. */
export class Phone {
  readonly peer: SipPeer;
  readonly #sbc: { address: string; port: number };
  readonly #uases: readonly Uas[];

  constructor(peer: SipPeer, sbcUdpPort: number, uases: readonly Uas[]) {
    this.peer = peer;
    this.#sbc = { address: '127.0.0.1', port: sbcUdpPort };
    this.#uases = uases;
  }

  send(text: string): void {
    this.peer.send(text, this.#sbc);
  }

  invite(spec: CallSpec): { callId: string; text: string } {
    const callId = spec.callId ?? rand(8);
    const text = request({
      method: 'INVITE',
      uri: spec.uri,
      sentBy: `127.0.0.1:${this.peer.address.port}`,
      callId,
      ...(spec.from !== undefined ? { from: spec.from } : {}),
      contact: `<sip:phone@127.0.0.1:${this.peer.address.port}>`,
      // The mark finds the INVITE at a backend in B2BUA mode too, where the B leg has a Call-ID of its own.
      headers: [`X-Mark: ${callId}`, ...(spec.headers ?? [])],
    });
    return { callId, text };
  }

  /** Send an INVITE and wait for its final response; a 2xx is ACKed and hung up. */
  async call(spec: CallSpec, timeoutMs = 5000): Promise<CallResult> {
    const { callId, text } = this.invite(spec);
    this.send(text);
    const final = await this.peer.next((r) => r.msg.kind === 'response' && r.msg.status >= 200 && r.msg.callId === callId && r.msg.cseq()?.method === 'INVITE', timeoutMs);
    const res = final.msg as import('../../../src/sip/message.js').SipResponse;
    if (res.status < 300) await this.#ackAndBye(res, callId);
    const arrived: Array<{ name: string; req: SipRequest }> = [];
    for (const u of this.#uases) for (const r of u.invites) if (isCall(r, callId)) arrived.push({ name: u.name, req: r });
    arrived.sort((a, b) => (arrivalOf.get(a.req) ?? 0) - (arrivalOf.get(b.req) ?? 0));
    const tried = arrived.map((a) => a.name);
    const last = arrived.at(-1);
    return { status: res.status, reason: res.reason, reached: last?.name, tried, ruri: last?.req.uri, invite: last?.req, response: res };
  }

  async #ackAndBye(res: import('../../../src/sip/message.js').SipResponse, callId: string): Promise<void> {
    const toTag = res.to()?.params.get('tag') ?? undefined;
    const fromTag = res.from()?.params.get('tag') ?? undefined;
    const routes = res.headers.values('record-route').reverse().map((r) => `Route: ${r}`);
    const contact = res.contacts();
    const target = Array.isArray(contact) && contact[0] !== undefined ? `sip:${contact[0].uri.user ?? ''}@${contact[0].uri.host}:${contact[0].uri.port ?? 5060}` : 'sip:x@127.0.0.1';
    const base = { sentBy: `127.0.0.1:${this.peer.address.port}`, callId, ...(fromTag !== undefined ? { fromTag } : {}), ...(toTag !== undefined ? { toTag } : {}), headers: routes };
    this.send(request({ method: 'ACK', uri: target, ...base }));
    this.send(request({ method: 'BYE', uri: target, cseq: 2, ...base }));
    await this.peer.next((r) => r.msg.kind === 'response' && r.msg.callId === callId && r.msg.cseq()?.method === 'BYE', 3000).catch(() => undefined);
  }
}

function isCall(req: SipRequest, callId: string): boolean {
  return req.callId === callId || req.headers.get('x-mark') === callId;
}

/** A temporary directory for script files; `write` returns the path. */
export function scriptDir(): { write(name: string, text: string): string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'sbc-routing-'));
  return {
    write: (name, text) => {
      const p = join(dir, name);
      writeFileSync(p, text);
      return p;
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
