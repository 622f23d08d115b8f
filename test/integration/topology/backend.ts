/**
 * A scripted FreeSWITCH-like backend on 127.0.0.2 for topology tests: it
 * registers (answering with every binding of the AOR, Path and
 * Service-Route), answers calls with its own Record-Route, an inside
 * Contact, inside-only headers and a plain-RTP SDP on 127.0.0.2, and calls
 * registered clients along their Path. Everything it writes that must not
 * reach a client is listed in `secrets`.
 */
import type { SipRequest } from '../../../src/sip/message.js';
import { plainRtpSdp } from '../media/sdp-samples.js';
import { rand, request, response, SipPeer, type Received } from '../../helpers/sip-peer.js';

export const BACKEND_HOST = '127.0.0.2';
/** An address of a hop behind the backend, seen only in its Via chain. */
export const INNER_HOP = '10.9.9.9';

export type InviteMode = 'answer' | 'busy' | 'not-found' | 'ring' | 'answer-on-cancel';

export interface Backend {
  peer: SipPeer;
  port: number;
  uri: string;
  mode: InviteMode;
  /** The backend's own Record-Route entry. */
  rr: string;
  /** The backend's Contact URI. */
  contact: string;
  /** Call-IDs the backend created (call in). */
  callIds: string[];
  /** Strings that must never reach a client. */
  secrets(): string[];
  /** Start a call to a registered client: INVITE along its Path, with an inner Via and an SDP on 127.0.0.2. */
  callIn(to: { contact: string; path: string }, sbc: { address: string; port: number }): { callId: string; fromTag: string; invite: string };
  close(): void;
}

/** Put the backend's own Record-Route on top of those it echoes. */
function withOwnRecordRoute(text: string, rr: string): string {
  const at = text.search(/\r\nRecord-Route:/i);
  if (at < 0) return text.replace(/\r\nCall-ID:/i, `\r\nRecord-Route: ${rr}\r\nCall-ID:`);
  return text.slice(0, at) + `\r\nRecord-Route: ${rr}` + text.slice(at);
}

const INSIDE_HEADERS = ['Server: FreeSWITCH-mod_sofia/1.10.12 127.0.0.2', `X-FS-Node: ${BACKEND_HOST}`, 'Organization: inside-cluster-a', 'Warning: 392 127.0.0.2 "Noisy feedback tells: pid=1234"'];

export async function startBackend(): Promise<Backend> {
  const peer = await SipPeer.udp(BACKEND_HOST);
  const port = peer.address.port;
  const rr = `<sip:${BACKEND_HOST}:${port};lr;fs=edge>`;
  const contact = `sip:fsinternal@${BACKEND_HOST}:${port};transport=udp`;
  const pending = new Map<string, Received>();
  const b: Backend = {
    peer,
    port,
    uri: `sip:${BACKEND_HOST}:${port};transport=udp`,
    mode: 'answer',
    rr,
    contact,
    callIds: [],
    // Not the product name itself: the SDP's o=/s= user and session name are the media engine's to rewrite.
    secrets: () => [BACKEND_HOST, INNER_HOP, `:${port}`, 'fsinternal', 'mod_sofia', 'X-FS', 'inside-cluster', 'deskphone', ...b.callIds],
    callIn(to, sbc) {
      const callId = `${rand(8)}@${BACKEND_HOST}`;
      b.callIds.push(callId);
      const fromTag = 'fs' + rand(3);
      const invite = request({
        method: 'INVITE',
        uri: to.contact,
        sentBy: `${BACKEND_HOST}:${port}`,
        callId,
        from: '<sip:1000@example.com>',
        fromTag,
        to: '<sip:alice@example.com>',
        contact: `<${contact}>`,
        headers: [`Via: SIP/2.0/UDP ${INNER_HOP}:5060;branch=z9hG4bKinner${rand(3)}`, `Route: ${to.path}`, `Record-Route: ${rr}`, ...INSIDE_HEADERS, 'User-Agent: FreeSWITCH-mod_sofia/1.10.12'],
        body: plainRtpSdp(52_000).replaceAll('127.0.0.1', BACKEND_HOST),
      });
      peer.send(invite, sbc);
      return { callId, fromTag, invite };
    },
    close: () => peer.close(),
  };

  peer.onMessage = (r, p) => {
    if (r.msg.kind !== 'request') return;
    const req = r.msg;
    const tag = 'fs' + rand(3);
    const send = (text: string): void => p.send(text, r.from);
    const hasToTag = req.to()?.params.has('tag') === true;
    switch (req.method) {
      case 'OPTIONS':
      case 'BYE':
      case 'UPDATE':
        send(response(req, 200, 'OK', { toTag: tag, headers: INSIDE_HEADERS }));
        return;
      case 'REGISTER': {
        const own = req.headers.values('contact').map((c) => `${c};expires=600`);
        send(response(req, 200, 'OK', {
          toTag: tag,
          headers: [
            `Contact: ${[...own, `<sip:deskphone@${BACKEND_HOST}:5070>;expires=300`].join(', ')}`,
            ...req.headers.values('path').map((v) => `Path: ${v}`),
            `Service-Route: <sip:orig@${BACKEND_HOST}:${port};lr>`,
            ...INSIDE_HEADERS,
          ],
        }));
        return;
      }
      case 'CANCEL': {
        const inv = pending.get(req.callId ?? '');
        pending.delete(req.callId ?? '');
        if (inv !== undefined && b.mode === 'answer-on-cancel') {
          // The race: our 200 to the INVITE crosses the CANCEL.
          send(answer(inv.msg as SipRequest, 200, 'OK', tagOf(inv)));
          send(response(req, 200, 'OK', { toTag: tagOf(inv) }));
          return;
        }
        send(response(req, 200, 'OK', { toTag: tag }));
        if (inv !== undefined) send(response(inv.msg as SipRequest, 487, 'Request Terminated', { toTag: tagOf(inv) }));
        return;
      }
      case 'INVITE': {
        if (hasToTag) {
          send(answer(req, 200, 'OK', tag));
          return;
        }
        send(response(req, 100, 'Trying'));
        if (b.mode === 'busy') { send(response(req, 486, 'Busy Here', { toTag: tag, headers: INSIDE_HEADERS })); return; }
        if (b.mode === 'not-found') { send(response(req, 404, 'Not Found', { toTag: tag, headers: [...INSIDE_HEADERS, `Contact: <${contact}>`] })); return; }
        (r as Received & { tag?: string }).tag = tag;
        send(withOwnRecordRoute(response(req, 180, 'Ringing', { toTag: tag, headers: [`Contact: <${contact}>`, ...INSIDE_HEADERS] }), rr));
        if (b.mode === 'ring' || b.mode === 'answer-on-cancel') { pending.set(req.callId ?? '', r); return; }
        send(answer(req, 200, 'OK', tag));
        return;
      }
      default:
    }
  };

  function answer(req: SipRequest, status: number, reason: string, toTag: string): string {
    // An answer only to an offer: a request without SDP (the UDP client's) gets a signalling-only 200,
    // since the media layer rewrites SDP only on calls with a WebRTC side.
    const text = response(req, status, reason, {
      toTag,
      headers: [`Contact: <${contact}>`, ...INSIDE_HEADERS],
      ...(req.body.length > 0 ? { body: plainRtpSdp(52_002).replaceAll('127.0.0.1', BACKEND_HOST) } : {}),
    });
    return req.to()?.params.has('tag') === true ? text : withOwnRecordRoute(text, rr);
  }
  return b;
}

function tagOf(r: Received): string {
  return (r as Received & { tag?: string }).tag ?? 'fsx';
}
