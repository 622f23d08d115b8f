/**
 * The record of a call from inside toward a client (proxy mode with
 * topology hiding and Call-ID masking, and B2BUA mode): a WS client
 * registers through the SBC (Path), the scripted backend on 127.0.0.2 calls
 * it along the Path, the client answers and hangs up. The record says
 * inbound, carries the backend's Call-ID and the one the client saw (masked,
 * or the B leg's), the client's flow transport, and that the callee ended it.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { SipRequest } from '../../../src/sip/message.js';
import { rand, request, response, SipPeer, uacRouteSet, uasRouteSet, type Received } from '../../helpers/sip-peer.js';
import { startSbc, type TestSbc } from '../../helpers/sbc.js';
import { BACKEND_HOST, startBackend, type Backend } from '../topology/backend.js';
import { recordFor } from './records-helpers.js';

const WS_CONTACT = '<sip:alice@c1.invalid;transport=ws>';
const isReq = (m: string, callId: string) => (r: Received): boolean => r.msg.kind === 'request' && r.msg.method === m && r.msg.callId === callId;
const isRes = (status: number, method: string, callId: string) => (r: Received): boolean =>
  r.msg.kind === 'response' && r.msg.status === status && r.msg.cseq()?.method === method && r.msg.callId === callId;
const SDP = ['v=0', 'o=- 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', 'm=audio 40004 RTP/AVP 0', 'a=rtpmap:0 PCMU/8000', ''].join('\r\n');

for (const mode of ['proxy', 'b2bua'] as const) describe(`call records, ${mode} mode: a call from inside toward a WS client (masked Call-ID)`, () => {
  let dir: string;
  let file: string;
  let backend: Backend;
  let sbc: TestSbc;
  let ws: SipPeer;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sbc-records-in-'));
    file = join(dir, 'calls.jsonl');
    backend = await startBackend();
    sbc = await startSbc({
      mode,
      backends: { default: { probe: { intervalSeconds: 0 }, targets: [{ uri: backend.uri }] } },
      topologyHiding: { enabled: true, maskCallId: true },
      timers: { t1Ms: 50 },
      callRecords: { file },
    });
    ws = await SipPeer.ws(`ws://127.0.0.1:${sbc.listener('ws').boundPort}`);
  });
  after(async () => {
    ws?.close();
    backend?.close();
    await sbc?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('inbound, outside and inside Call-IDs, ws transport, bye-callee', async () => {
    const regId = rand(8);
    ws.send(request({ method: 'REGISTER', uri: 'sip:example.com', sentBy: 'c1.invalid', viaTransport: 'WS', callId: regId, from: '<sip:alice@example.com>', to: '<sip:alice@example.com>', contact: WS_CONTACT, headers: ['Expires: 600'] }));
    const reg = await backend.peer.next(isReq('REGISTER', regId));
    const path = reg.msg.headers.values('path')[0] ?? '';
    await ws.next(isRes(200, 'REGISTER', regId));

    const sbcUdp = { address: '127.0.0.1', port: sbc.listener('udp').boundPort };
    const { callId, fromTag } = backend.callIn({ contact: 'sip:alice@c1.invalid;transport=ws', path }, sbcUdp);
    const inv = await ws.nextRequest('INVITE');
    const masked = inv.msg.callId!;
    const toTag = 'c' + rand(3);
    ws.send(response(inv.msg as SipRequest, 200, 'OK', { toTag, headers: [`Contact: ${WS_CONTACT}`], body: SDP }));
    const ok = await backend.peer.next(isRes(200, 'INVITE', callId));
    // The backend ACKs along its route set (its own Record-Route entry skipped), to the 200's Contact.
    const ackRoutes = uacRouteSet(ok.msg).filter((rt) => rt !== backend.rr);
    const okContact = /<([^>]+)>/.exec(ok.msg.headers.get('contact') ?? '')?.[1] ?? '';
    backend.peer.send(request({ method: 'ACK', uri: okContact, sentBy: `${BACKEND_HOST}:${backend.port}`, callId, from: '<sip:1000@example.com>', fromTag, to: '<sip:alice@example.com>', toTag: ok.msg.to()!.params.get('tag')!, cseq: 1, headers: ackRoutes.map((rt) => `Route: ${rt}`) }), sbcUdp);
    await ws.next(isReq('ACK', masked));

    // The client (the callee) hangs up: UAS route set = the INVITE's Record-Route; target = its Contact.
    const contact = /<([^>]+)>/.exec(inv.msg.headers.get('contact') ?? '')?.[1] ?? '';
    ws.send(request({ method: 'BYE', uri: contact, sentBy: 'c1.invalid', viaTransport: 'WS', callId: masked, fromTag: toTag, toTag: inv.msg.from()!.params.get('tag')!, cseq: 1, headers: uasRouteSet(inv.msg).map((r) => `Route: ${r}`) }));
    await backend.peer.next(isReq('BYE', callId));
    await ws.next(isRes(200, 'BYE', masked));

    const r = await recordFor(file, callId);
    assert.equal(r.direction, 'inbound');
    assert.equal(r.callId, callId);
    assert.equal(r.insideCallId, callId, 'the backend’s Call-ID');
    assert.equal(r.outsideCallId, masked, mode === 'proxy' ? 'the masked Call-ID the client saw' : 'the B leg’s Call-ID the client saw');
    assert.equal(r.mode, mode);
    assert.notEqual(masked, callId);
    assert.equal(r.reason, 'bye-callee');
    assert.equal(r.endedBy, 'callee');
    assert.equal(r.transport, 'ws', 'the client flow’s transport');
    assert.equal(r.source.address, BACKEND_HOST);
    assert.equal(r.target !== null && 'transport' in r.target ? r.target.transport : undefined, 'ws');
    assert.equal(r.from, 'sip:1000@example.com');
    assert.equal(r.toUser, 'alice');
    assert.equal(r.status, 200);
  });
});
