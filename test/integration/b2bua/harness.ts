/**
 * Shared pieces of the B2BUA tests: an SBC in `mode: b2bua` whose backend is
 * a scripted UDP user agent (UAS, UAC and registrar in one), and checks on
 * what each far end saw.
 */
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { dialogRecordKey } from '../../../src/b2bua/dialog-records.js';
import type { SipMessage, SipRequest } from '../../../src/sip/message.js';
import { startRedis } from '../../helpers/redis.js';
import { rand, request, response, SipPeer, type Received } from '../../helpers/sip-peer.js';
import { portPattern, startSbc, workerParamPattern, type TestSbc } from '../../helpers/sbc.js';
import { testWorkers } from '../../helpers/sbc-workers.js';

/** What the backend does with an INVITE. */
export type UasMode = 'answer' | 'ring' | 'busy' | 'silent' | 'reliable';

/**
 * A scripted backend on UDP: answers INVITEs per `mode` (100, 180, 200 with
 * its Contact; 'reliable' sends 183 with 100rel and answers after the PRACK),
 * BYE/INFO/MESSAGE/UPDATE/NOTIFY 200, CANCEL 200 + 487, REGISTER 200 with the
 * Path echoed (and kept per AOR).
 */
export class Backend {
  readonly peer: SipPeer;
  mode: UasMode = 'answer';
  /** The SDP the 200 to an INVITE carries (undefined: none). */
  answerSdp: ((req: SipRequest) => string | undefined) | undefined;
  readonly paths = new Map<string, { path: string; contact: string }>();
  readonly #ringing = new Map<string, SipRequest>();
  readonly tag = 'be' + rand(3);

  private constructor(peer: SipPeer) {
    this.peer = peer;
    peer.onMessage = (r) => this.#answer(r);
  }

  static async start(): Promise<Backend> {
    return new Backend(await SipPeer.udp());
  }

  get port(): number {
    return this.peer.address.port;
  }

  get uri(): string {
    return `sip:127.0.0.1:${this.port};transport=udp`;
  }

  get contact(): string {
    return `<sip:backend@127.0.0.1:${this.port}>`;
  }

  /** Answer a ringing INVITE now. */
  answer(callId: string, body?: string): void {
    const req = this.#ringing.get(callId);
    if (req === undefined) throw new Error(`no ringing INVITE ${callId}`);
    this.#ringing.delete(callId);
    this.send(response(req, 200, 'OK', { toTag: this.tag, headers: [`Contact: ${this.contact}`], ...(body !== undefined ? { body } : {}) }));
  }

  send(text: string, to?: { address: string; port: number }): void {
    this.peer.send(text, to ?? this.#sbc);
  }

  #sbc = { address: '127.0.0.1', port: 0 };
  set sbc(port: number) {
    this.#sbc = { address: '127.0.0.1', port };
  }

  close(): void {
    this.peer.close();
  }

  #answer(r: Received): void {
    if (r.msg.kind !== 'request') return;
    const req = r.msg;
    const reply = (text: string): void => this.peer.send(text, r.from);
    switch (req.method) {
      case 'OPTIONS':
      case 'BYE':
      case 'INFO':
      case 'MESSAGE':
      case 'NOTIFY':
        reply(response(req, 200, 'OK', { toTag: this.tag }));
        return;
      case 'REGISTER': {
        const aor = req.to()?.uri.user ?? '';
        const path = req.headers.values('path')[0] ?? '';
        const contact = req.headers.values('contact')[0] ?? '';
        this.paths.set(aor, { path, contact });
        reply(response(req, 200, 'OK', { toTag: this.tag, headers: [`Path: ${path}`, `Contact: ${contact}`] }));
        return;
      }
      case 'INVITE': {
        if (req.to()?.params.has('tag') === true) {
          // A re-INVITE: accept, with our SDP mirrored as the answer.
          const body = this.answerSdp?.(req);
          reply(response(req, 200, 'OK', { headers: [`Contact: ${this.contact}`], ...(body !== undefined ? { body } : {}) }));
          return;
        }
        if (this.mode === 'silent') return;
        reply(response(req, 100, 'Trying'));
        if (this.mode === 'busy') {
          reply(response(req, 486, 'Busy Here', { toTag: this.tag }));
          return;
        }
        if (this.mode === 'reliable') {
          this.#ringing.set(req.callId ?? '', req);
          reply(response(req, 183, 'Session Progress', { toTag: this.tag, headers: [`Contact: ${this.contact}`, 'Require: 100rel', 'RSeq: 7'] }));
          return;
        }
        reply(response(req, 180, 'Ringing', { toTag: this.tag, headers: [`Contact: ${this.contact}`] }));
        if (this.mode === 'ring') {
          this.#ringing.set(req.callId ?? '', req);
          return;
        }
        const body = this.answerSdp?.(req);
        reply(response(req, 200, 'OK', { toTag: this.tag, headers: [`Contact: ${this.contact}`], ...(body !== undefined ? { body } : {}) }));
        return;
      }
      case 'PRACK':
      case 'UPDATE':
        reply(response(req, 200, 'OK'));
        return;
      case 'CANCEL': {
        reply(response(req, 200, 'OK', { toTag: this.tag }));
        const inv = this.#ringing.get(req.callId ?? '');
        if (inv !== undefined) {
          this.#ringing.delete(req.callId ?? '');
          reply(response(inv, 487, 'Request Terminated', { toTag: this.tag }));
        }
        return;
      }
      default:
        return;
    }
  }
}

/** A gateway in B2BUA mode and a way to read the records it keeps of its legs. */
export interface B2buaSbc {
  sbc: TestSbc;
  /** The state store's record of a leg (empty when there is none). */
  storedDialog(legKey: string): Promise<Record<string, string>>;
  stop(): Promise<void>;
}

/**
 * Starts the gateway with `input`. In the test's own process the records are
 * read through its B2BUA; with workers the memory store lives in the
 * supervisor, out of the test's reach, so the gateway shares a Redis with
 * the test instead, which reads the records there as an operator would.
 */
export async function startB2buaSbc(input: Record<string, unknown>): Promise<B2buaSbc> {
  if (testWorkers() === 1) {
    const sbc = await startSbc(input);
    return { sbc, storedDialog: (k) => sbc.server.b2bua!.storedDialog(k), stop: () => sbc.stop() };
  }
  const redis = await startRedis();
  const prefix = `b2b-${rand(3)}:`;
  const client = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    const sbc = await startSbc({ ...input, state: { store: 'redis', redis: { url: redis.url, keyPrefix: prefix } } });
    return {
      sbc,
      storedDialog: (k) => client.hgetall(dialogRecordKey(prefix, k)),
      stop: async () => {
        await sbc.stop();
        client.disconnect();
        await redis.stop();
      },
    };
  } catch (err) {
    client.disconnect();
    await redis.stop();
    throw err;
  }
}

export interface B2buaBed extends B2buaSbc {
  backend: Backend;
  wsUrl: string;
  udp: { address: string; port: number };
}

/** An SBC in B2BUA mode in front of one scripted backend. */
export async function startB2buaBed(extra: Record<string, unknown> = {}): Promise<B2buaBed> {
  const backend = await Backend.start();
  let gw: B2buaSbc;
  try {
    gw = await startB2buaSbc({
      mode: 'b2bua',
      backends: {
        default: {
          algorithm: 'round-robin',
          probe: { method: 'OPTIONS', intervalSeconds: 5, failuresToDown: 3, successesToUp: 1 },
          targets: [{ uri: backend.uri, weight: 1, priority: 0 }],
        },
      },
      media: { mode: 'passthrough' },
      timers: { t1Ms: 100 },
      ...extra,
    });
  } catch (err) {
    backend.close();
    throw err;
  }
  const sbc = gw.sbc;
  const udp = { address: '127.0.0.1', port: sbc.listener('udp').boundPort };
  backend.sbc = udp.port;
  return {
    sbc,
    storedDialog: gw.storedDialog,
    backend,
    wsUrl: `ws://127.0.0.1:${sbc.listener('ws').boundPort}`,
    udp,
    stop: async () => {
      backend.close();
      await gw.stop();
    },
  };
}

/**
 * Our Contact on a leg over `transport`: a dialog key of ours at one of the
 * gateway's ports on it, and with workers the worker's `;w=N` (README
 * "Every core: `workers`"), without it otherwise.
 */
export function ourContact(sbc: TestSbc, transport: 'udp' | 'ws'): RegExp {
  return new RegExp(`^sip:b2b[0-9a-f]+@127\\.0\\.0\\.1:${portPattern(sbc, transport)};transport=${transport}${workerParamPattern(sbc)}$`);
}

/** A request of `method` in `callId`, as a predicate for SipPeer.next(). */
export const isReq = (method: string, callId?: string) => (r: Received): boolean =>
  r.msg.kind === 'request' && r.msg.method === method && (callId === undefined || r.msg.callId === callId);

export const isRes = (status: number, method: string, callId?: string) => (r: Received): boolean =>
  r.msg.kind === 'response' && r.msg.status === status && r.msg.cseq()?.method === method && (callId === undefined || r.msg.callId === callId);

/** The URI of the first Contact. */
export function contactUri(msg: SipMessage): string {
  const raw = msg.headers.values('contact')[0] ?? '';
  const m = /<([^>]+)>/.exec(raw);
  return m?.[1] ?? raw;
}

/** The user part of the first Contact: our dialog key on that leg. */
export function contactUser(msg: SipMessage): string {
  return /sip:([^@]+)@/.exec(contactUri(msg))?.[1] ?? '';
}

/** Nothing any far end saw on its leg mentions what belongs to the other leg. */
export function assertNoLeak(seen: readonly Received[], forbidden: Record<string, string>, side: string): void {
  for (const r of seen) {
    for (const [what, text] of Object.entries(forbidden)) {
      if (text === '') continue;
      assert.ok(!r.raw.includes(text), `${side} saw the other leg's ${what} (${text}) in:\n${r.raw}`);
    }
  }
}

/** The SBC's store holds no record for these leg keys, and GET /api/dialogs is empty. */
export async function assertNoDialogs(gw: B2buaSbc, keys: string[]): Promise<void> {
  // The last messages of a call are still being handled when the far end has its answer.
  const deadline = Date.now() + 2000;
  for (;;) {
    const stored = await Promise.all(keys.map((k) => gw.storedDialog(k)));
    const res = await fetch(`${gw.sbc.adminUrl}/api/dialogs`);
    const dialogs = ((await res.json()) as { dialogs: unknown[] }).dialogs;
    const left = stored.filter((s) => Object.keys(s).length > 0);
    if ((left.length === 0 && dialogs.length === 0) || Date.now() > deadline) {
      assert.deepEqual(left, [], `the store still holds records of ended dialogs ${keys.join(', ')}`);
      assert.deepEqual(dialogs, [], 'GET /api/dialogs lists no dialog');
      return;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Both legs' records exist while the call is up (so the check above can fail). */
export async function assertDialogsStored(gw: B2buaSbc, keys: string[]): Promise<void> {
  for (const k of keys) {
    const rec = await gw.storedDialog(k);
    assert.ok(Object.keys(rec).length > 0, `a record for leg ${k} while the call is up`);
  }
}

/** A SIP.js-like WebSocket client: Via host and Contact in `.invalid`. */
export interface WsUser {
  peer: SipPeer;
  host: string;
  user: string;
  contact: string;
}

export async function wsUser(url: string): Promise<WsUser> {
  const peer = await SipPeer.ws(url);
  const host = `${rand(5)}.invalid`;
  const user = rand(4);
  return { peer, host, user, contact: `<sip:${user}@${host};transport=ws>` };
}

/** REGISTER through the SBC (Path added there), returning the Path the backend stored. */
export async function registerThrough(client: WsUser, backend: Backend, aor: string): Promise<string> {
  const callId = rand(8);
  client.peer.send(request({
    method: 'REGISTER', uri: 'sip:example.com', sentBy: client.host, viaTransport: 'WS', callId,
    from: `<sip:${aor}@example.com>`, to: `<sip:${aor}@example.com>`, contact: `${client.contact};expires=600`,
    headers: ['Supported: path, outbound'],
  }));
  await client.peer.next((r) => r.msg.kind === 'response' && r.msg.callId === callId && r.msg.status === 200);
  const stored = backend.paths.get(aor);
  assert.ok(stored !== undefined && stored.path !== '', 'the backend got a Path');
  return stored.path;
}
