/**
 * The inside of the baresip tests: a scripted UDP UAS and registrar that sits
 * in the SBC's backend group, answers INVITE with 100/180/200 and a PCMU SDP
 * whose m=audio port is a socket counting RTP, answers BYE/OPTIONS 200, and
 * answers REGISTER 200 with the Contact echoed (keeping the Path it saw). It
 * can also act as a UAC: call a registered user via the stored Path, and end
 * a dialog with BYE along the learnt route set.
 */
import { createSocket, type Socket } from 'node:dgram';
import type { SipRequest, SipResponse } from '../../../src/sip/message.js';
import { rand, request, response, SipPeer, uacRouteSet, uasRouteSet, type Received } from '../../helpers/sip-peer.js';

/** A registration the backend accepted: what a real registrar with use_path would store. */
export interface StoredRegistration {
  aor: string;
  /** The Contact URI (without angle brackets). */
  contactUri: string;
  /** Path header values in order, as received. */
  path: string[];
  request: Received;
}

/** A dialog the backend is part of, enough to send BYE in it. */
export interface BackendDialog {
  callId: string;
  /** Our tag and the far end's tag. */
  localTag: string;
  remoteTag: string;
  localUri: string;
  remoteUri: string;
  /** Remote target (the far end's Contact). */
  remoteTarget: string;
  /** Route set in the order to send (RFC 3261 §12.1). */
  routeSet: string[];
  cseq: number;
}

export class ScriptedBackend {
  readonly peer: SipPeer;
  readonly rtp: Socket;
  /** RTP packets (version 2, PCMU) received on the m=audio port. */
  rtpPackets = 0;
  readonly registrations = new Map<string, StoredRegistration>();
  /** Dialogs created by INVITEs we answered, by Call-ID. */
  readonly answered = new Map<string, BackendDialog>();
  #closed = false;

  private constructor(peer: SipPeer, rtp: Socket) {
    this.peer = peer;
    this.rtp = rtp;
  }

  static async start(): Promise<ScriptedBackend> {
    const peer = await SipPeer.udp();
    const rtp = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      rtp.once('error', reject);
      rtp.bind(0, '127.0.0.1', () => resolve());
    });
    const b = new ScriptedBackend(peer, rtp);
    rtp.on('message', (buf) => {
      // RTP version 2, payload type 0 (PCMU), as negotiated in our answer.
      if (buf.length >= 12 && buf[0]! >> 6 === 2 && (buf[1]! & 0x7f) === 0) b.rtpPackets++;
    });
    peer.onMessage = (r, p) => b.#answer(r, p);
    return b;
  }

  /** The target URI for the SBC's backend group. */
  get uri(): string {
    return `sip:127.0.0.1:${this.peer.address.port};transport=udp`;
  }

  get sentBy(): string {
    return `127.0.0.1:${this.peer.address.port}`;
  }

  sdp(): string {
    const port = this.rtp.address().port;
    return ['v=0', 'o=uas 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', `m=audio ${port} RTP/AVP 0`, 'a=rtpmap:0 PCMU/8000', 'a=ptime:20', 'a=sendrecv', ''].join('\r\n');
  }

  /**
   * Call a registered user the way a Path-honouring registrar does (RFC 3327
   * §5.3): Request-URI = the registered Contact, Route = the stored Path, sent
   * to the first Path hop. Returns the 200 OK after ACKing it.
   */
  async callRegistered(aor: string, sbc: { address: string; port: number }): Promise<{ ok: Received; dialog: BackendDialog }> {
    const reg = this.registrations.get(aor);
    if (reg === undefined) throw new Error(`no registration for ${aor}; have ${[...this.registrations.keys()].join(', ')}`);
    const callId = rand(8);
    const fromTag = rand(4);
    this.peer.send(request({
      method: 'INVITE', uri: reg.contactUri, sentBy: this.sentBy, callId, fromTag, cseq: 1,
      from: '<sip:dave@backend.example>', to: `<${aor}>`,
      contact: `<sip:dave@${this.sentBy}>`,
      headers: reg.path.map((p) => `Route: ${p}`),
      body: this.sdp(),
    }), sbc);
    const ok = await this.peer.next((r) => r.msg.kind === 'response' && r.msg.callId === callId && r.msg.status >= 200, 10_000);
    const res = ok.msg as SipResponse;
    if (res.status !== 200) throw new Error(`INVITE to ${aor} got ${res.status} ${res.reason}`);
    const dialog: BackendDialog = {
      callId, localTag: fromTag, remoteTag: res.to()?.params.get('tag') ?? '',
      localUri: '<sip:dave@backend.example>', remoteUri: `<${aor}>`,
      remoteTarget: contactUriOf(res.headers.get('contact') ?? '') ?? reg.contactUri,
      routeSet: uacRouteSet(res), cseq: 1,
    };
    this.#sendInDialog('ACK', dialog, sbc, 1);
    return { ok, dialog };
  }

  /** BYE in `dialog` along its route set; resolves with the final response. */
  async bye(dialog: BackendDialog, sbc: { address: string; port: number }): Promise<Received> {
    dialog.cseq += 1;
    const callId = dialog.callId;
    this.#sendInDialog('BYE', dialog, sbc, dialog.cseq);
    return this.peer.next((r) => r.msg.kind === 'response' && r.msg.callId === callId && r.msg.cseq()?.method === 'BYE' && r.msg.status >= 200, 10_000);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.peer.close();
    this.rtp.close();
  }

  #sendInDialog(method: 'ACK' | 'BYE', d: BackendDialog, sbc: { address: string; port: number }, cseq: number): void {
    this.peer.send(request({
      method, uri: d.remoteTarget, sentBy: this.sentBy, callId: d.callId, cseq,
      from: d.localUri, fromTag: d.localTag, to: d.remoteUri, toTag: d.remoteTag,
      headers: d.routeSet.map((r) => `Route: ${r}`),
    }), sbc);
  }

  #answer(r: Received, p: SipPeer): void {
    if (r.msg.kind !== 'request') return;
    const req = r.msg;
    if (req.method === 'OPTIONS' || req.method === 'BYE') {
      p.send(response(req, 200, 'OK', { toTag: rand(3) }), r.from);
    } else if (req.method === 'REGISTER') {
      this.#register(r, req, p);
    } else if (req.method === 'INVITE' && req.to()?.params.get('tag') == null) {
      const tag = 'uas' + rand(3);
      const contact = `<sip:bob@${this.sentBy}>`;
      p.send(response(req, 100, 'Trying'), r.from);
      p.send(response(req, 180, 'Ringing', { toTag: tag }), r.from);
      p.send(response(req, 200, 'OK', { toTag: tag, headers: [`Contact: ${contact}`], body: this.sdp() }), r.from);
      this.answered.set(req.callId ?? '', {
        callId: req.callId ?? '', localTag: tag, remoteTag: req.from()?.params.get('tag') ?? '',
        localUri: req.headers.get('to') ?? '', remoteUri: stripTag(req.headers.get('from') ?? ''),
        remoteTarget: contactUriOf(req.headers.get('contact') ?? '') ?? req.uri,
        routeSet: uasRouteSet(req), cseq: 0,
      });
    }
  }

  /** 200 with the Contact echoed and its expiry; the Path is echoed too (RFC 3327 §5.3). */
  #register(r: Received, req: SipRequest, p: SipPeer): void {
    const aor = uriOf(req.headers.get('to') ?? '') ?? '';
    const contact = req.headers.get('contact') ?? '';
    const contactUri = contactUriOf(contact);
    const expires = /;\s*expires=(\d+)/i.exec(contact)?.[1] ?? req.headers.get('expires') ?? '3600';
    const path = req.headers.values('path');
    if (contactUri !== undefined && expires !== '0') this.registrations.set(aor, { aor, contactUri, path, request: r });
    else this.registrations.delete(aor);
    const headers = [
      ...(contactUri !== undefined ? [`Contact: <${contactUri}>;expires=${expires}`] : []),
      ...path.map((v) => `Path: ${v}`),
    ];
    p.send(response(req, 200, 'OK', { toTag: rand(3), headers }), r.from);
  }
}

/** The URI inside the first name-addr of a header value. */
function uriOf(value: string): string | undefined {
  const m = /<([^>]+)>/.exec(value);
  if (m !== null) return m[1];
  const bare = value.split(';')[0]?.trim();
  return bare === undefined || bare === '' ? undefined : bare;
}

function contactUriOf(value: string): string | undefined {
  return uriOf(value.split(',')[0] ?? '');
}

function stripTag(value: string): string {
  return value.replace(/;\s*tag=[^;]*/i, '');
}
