/**
 * What the call-record tests share: a scripted UAS backend, a caller that
 * places a call through the SBC and hangs up from either side, and a reader
 * of the records file that waits for lines to appear.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { SipRequest } from '../../../src/sip/message.js';
import type { CallRecord } from '../../../src/records/index.js';
import { parseUri } from '../../../src/sip/uri.js';
import { rand, request, response, SipPeer, uacRouteSet, uasRouteSet, type Received } from '../../helpers/sip-peer.js';

export interface Uas {
  peer: SipPeer;
  uri: string;
  /** What to do with INVITEs. */
  mode: 'answer' | 'busy' | 'ring';
  /** Our tag in each dialog we answered, by Call-ID. */
  tags: Map<string, string>;
}

/** A scripted UAS: OPTIONS/BYE 200, INVITE per mode (answer 200 with Contact, busy 486, ring 180 only), CANCEL 200 + 487. */
export async function uas(mode: Uas['mode'] = 'answer'): Promise<Uas> {
  const peer = await SipPeer.udp();
  const u: Uas = { peer, uri: `sip:127.0.0.1:${peer.address.port};transport=udp`, mode, tags: new Map() };
  const pending = new Map<string, SipRequest>();
  peer.onMessage = (r, p) => {
    if (r.msg.kind !== 'request') return;
    const req = r.msg;
    const tag = 'uas' + rand(3);
    if (req.method === 'OPTIONS' || req.method === 'BYE') {
      p.send(response(req, 200, 'OK', { toTag: tag }), r.from);
    } else if (req.method === 'INVITE' && req.to()?.params.get('tag') == null) {
      p.send(response(req, 100, 'Trying'), r.from);
      if (u.mode === 'busy') { p.send(response(req, 486, 'Busy Here', { toTag: tag }), r.from); return; }
      p.send(response(req, 180, 'Ringing', { toTag: tag }), r.from);
      if (u.mode === 'ring') { pending.set(req.callId ?? '', req); return; }
      u.tags.set(req.callId ?? '', tag);
      // An SDP offer gets a plain answer (a media engine in the path needs one).
      const body = req.body.length > 0 ? answerSdp(peer.address.port + 1) : '';
      p.send(response(req, 200, 'OK', { toTag: tag, headers: [`Contact: <sip:uas@127.0.0.1:${peer.address.port}>`], body }), r.from);
    } else if (req.method === 'CANCEL') {
      p.send(response(req, 200, 'OK', { toTag: tag }), r.from);
      const inv = pending.get(req.callId ?? '');
      if (inv !== undefined) p.send(response(inv, 487, 'Request Terminated', { toTag: tag }), r.from);
    }
  };
  return u;
}

export function backends(...targets: Uas[]): Record<string, unknown> {
  return {
    default: {
      algorithm: 'round-robin',
      probe: { method: 'OPTIONS', intervalSeconds: 0, failuresToDown: 1, successesToUp: 1 },
      targets: targets.map((t) => ({ uri: t.uri, weight: 1, priority: 0 })),
    },
  };
}

export const isReq = (m: string, callId: string) => (r: Received): boolean => r.msg.kind === 'request' && r.msg.method === m && r.msg.callId === callId;

/** An established call as the caller and the backend hold it. */
export interface Answered {
  callId: string;
  /** The caller's route set and the backend's tag. */
  callerRoutes: string[];
  toTag: string;
  /** The backend's view: the INVITE it got (route set, Call-ID as it saw it). */
  inviteAtBackend: Received;
}

/** The caller (a UDP or WS peer) calls bob through the SBC; resolves at the 2xx (ACK sent). */
export async function placeCall(client: SipPeer, sbc: { address: string; port: number } | undefined, backend: Uas, callId = rand(8)): Promise<Answered> {
  const sentBy = client.transport === 'udp' ? `127.0.0.1:${client.address.port}` : `${rand(4)}.invalid`;
  const via = client.transport === 'udp' ? 'UDP' : 'WS';
  const contact = client.transport === 'udp' ? `<sip:alice@127.0.0.1:${client.address.port}>` : `<sip:alice@${sentBy};transport=ws>`;
  // A callee of its own per call: the backend's INVITE is found by it in every mode (a B2BUA changes Call-ID and tags).
  const user = `bob-${rand(3)}`;
  client.send(request({ method: 'INVITE', uri: `sip:${user}@example.com`, to: `<sip:${user}@example.com>`, sentBy, viaTransport: via, callId, fromTag: 'a1', contact, body: OFFER }), sbc);
  const inviteAtBackend = await backend.peer.next((r) => r.msg.kind === 'request' && r.msg.method === 'INVITE' && r.msg.requestUri()?.user === user);
  const ok = await client.next((r) => r.msg.kind === 'response' && r.msg.callId === callId && r.msg.status === 200);
  const callerRoutes = uacRouteSet(ok.msg);
  const toTag = ok.msg.to()!.params.get('tag')!;
  const contactUri = ok.msg.headers.get('contact')?.replace(/^<|>$/g, '') ?? 'sip:bob@example.com';
  client.send(request({ method: 'ACK', uri: contactUri, sentBy, viaTransport: via, callId, fromTag: 'a1', toTag, headers: callerRoutes.map((r) => `Route: ${r}`) }), sbc);
  await backend.peer.next((r) => r.msg.kind === 'request' && r.msg.method === 'ACK' && r.msg.callId === inviteAtBackend.msg.callId);
  return { callId, callerRoutes, toTag, inviteAtBackend };
}

/** The caller hangs up. */
export async function callerHangsUp(client: SipPeer, sbc: { address: string; port: number } | undefined, call: Answered, backend: Uas): Promise<void> {
  const sentBy = client.transport === 'udp' ? `127.0.0.1:${client.address.port}` : `${rand(4)}.invalid`;
  const via = client.transport === 'udp' ? 'UDP' : 'WS';
  client.send(request({ method: 'BYE', uri: `sip:uas@127.0.0.1:${backend.peer.address.port}`, sentBy, viaTransport: via, callId: call.callId, fromTag: 'a1', toTag: call.toTag, cseq: 2, headers: call.callerRoutes.map((r) => `Route: ${r}`) }), sbc);
  await client.next((r) => r.msg.kind === 'response' && r.msg.callId === call.callId && r.msg.cseq()?.method === 'BYE');
}

/** The backend hangs up; the caller answers the BYE. */
export async function calleeHangsUp(client: SipPeer, sbcUdp: { address: string; port: number }, call: Answered, backend: Uas): Promise<void> {
  const inv = call.inviteAtBackend.msg as SipRequest;
  const routes = uasRouteSet(inv);
  const backendTag = backend.tags.get(inv.callId ?? '') ?? call.toTag;
  // No route set (B2BUA: the gateway is the dialog peer): to its Contact, as a UA does (RFC 3261 §12.2.1.1);
  // with workers that names the worker holding the call. Through a proxy the Route decides; the Request-URI is the caller's.
  const contact = /<([^>]+)>/.exec(inv.headers.get('contact') ?? '')?.[1];
  const peer = routes.length === 0 && contact !== undefined ? parseUri(contact) : undefined;
  const uri = peer?.ok === true ? contact! : 'sip:alice@10.255.255.1:5060';
  const to = peer?.ok === true ? { address: peer.value.host, port: peer.value.port ?? 5060 } : sbcUdp;
  backend.peer.send(request({ method: 'BYE', uri, sentBy: `127.0.0.1:${backend.peer.address.port}`, callId: inv.callId, from: '<sip:bob@example.com>', fromTag: backendTag, to: '<sip:alice@example.com>', toTag: inv.from()!.params.get('tag')!, cseq: 1, headers: routes.map((r) => `Route: ${r}`) }), to);
  const bye = await client.next((r) => r.msg.kind === 'request' && r.msg.method === 'BYE' && r.msg.callId === call.callId);
  client.send(response(bye.msg as SipRequest, 200, 'OK'), client.transport === 'udp' ? sbcUdp : undefined);
  await backend.peer.next((r) => r.msg.kind === 'response' && r.msg.cseq()?.method === 'BYE' && r.msg.callId === inv.callId);
}

/** The records file's lines so far. */
export function readRecords(file: string): CallRecord[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l) as CallRecord);
}

/** Waits until the file holds a record for `callId` (the file is written asynchronously). */
export async function recordFor(file: string, callId: string, timeoutMs = 5000): Promise<CallRecord> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const found = readRecords(file).find((r) => r.callId === callId || r.outsideCallId === callId);
    if (found !== undefined) return found;
    if (Date.now() > until) throw new Error(`no record for ${callId} in ${file}; have: ${readRecords(file).map((r) => r.callId).join(', ')}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const answerSdp = (port: number): string => ['v=0', 'o=- 2 2 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', `m=audio ${port} RTP/AVP 0`, 'a=rtpmap:0 PCMU/8000', ''].join('\r\n');

/** A plain audio offer (passes unchanged with media.mode passthrough). */
const OFFER = ['v=0', 'o=- 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', 'm=audio 40000 RTP/AVP 0', 'a=rtpmap:0 PCMU/8000', ''].join('\r\n');

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
