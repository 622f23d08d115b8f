/**
 * Topology hiding in proxy mode, end to end over real sockets: the backend
 * (scripted, FreeSWITCH-like) on 127.0.0.2, rtpengine's inside interface on
 * 127.0.0.3, clients (WebSocket and UDP) on 127.0.0.1. Every byte a client
 * received is searched for the backend's addresses, port, Call-IDs, Contact
 * and inside-only headers; calls must still work, with in-dialog requests
 * from outside reaching the backend with its route set and Contact restored;
 * no topology record may outlive its dialog.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { SipRequest, SipResponse } from '../../../src/sip/message.js';
import { describeLeaks, LeakCapture } from '../../helpers/leak-check.js';
import { startRtpengine, type RunningRtpengine } from '../../helpers/rtpengine.js';
import { startSbc, topologyRecords, type TestSbc } from '../../helpers/sbc.js';
import { rand, request, response, SipPeer, uacRouteSet, uasRouteSet, type Received } from '../../helpers/sip-peer.js';
import { chromeAnswer, chromeOffer } from '../media/sdp-samples.js';
import { BACKEND_HOST, INNER_HOP, startBackend, type Backend } from './backend.js';

const ENGINE_INSIDE = '127.0.0.3';
const isReq = (m: string, callId: string) => (r: Received) => r.msg.kind === 'request' && r.msg.method === m && r.msg.callId === callId;
const isRes = (status: number, method: string, callId?: string) => (r: Received) =>
  r.msg.kind === 'response' && r.msg.status === status && r.msg.cseq()?.method === method && (callId === undefined || r.msg.callId === callId);
const uriOf = (nameAddr: string): string => nameAddr.replace(/^[^<]*</, '').replace(/>.*$/, '');

function backendConfig(b: Backend): Record<string, unknown> {
  return {
    default: {
      algorithm: 'round-robin',
      probe: { method: 'OPTIONS', intervalSeconds: 5, failuresToDown: 3, successesToUp: 1 },
      targets: [{ uri: b.uri, weight: 1, priority: 0 }],
    },
  };
}

/** A client's view of one call it made: what it needs for in-dialog requests. */
interface Leg {
  callId: string;
  localTag: string;
  remoteTag: string;
  remoteTarget: string;
  routes: string[];
  cseq: number;
}

describe('topology hiding in proxy mode (WebSocket client, rtpengine, backend on 127.0.0.2)', () => {
  let engine: RunningRtpengine;
  let backend: Backend;
  let sbc: TestSbc;
  let ws: SipPeer;
  let udp: SipPeer;
  const capture = new LeakCapture();
  let sbcUdp: { address: string; port: number };
  const WS_CONTACT = '<sip:alice@c1.invalid;transport=ws>';
  let path = '';

  before(async () => {
    engine = await startRtpengine({ interfaces: ['pub/127.0.0.1', `priv/${ENGINE_INSIDE}`] });
    backend = await startBackend();
    sbc = await startSbc({
      backends: backendConfig(backend),
      topologyHiding: { enabled: true, maskCallId: true },
      media: { mode: 'rtpengine', rtpengine: { engines: [{ url: engine.udpUrl, weight: 1 }], timeoutMs: 500, tries: 2, interfaces: { webrtc: 'pub', rtp: 'priv' } } },
      timers: { t1Ms: 50 },
    });
    sbcUdp = { address: '127.0.0.1', port: sbc.listener('udp').boundPort };
    ws = await SipPeer.ws(`ws://127.0.0.1:${sbc.listener('ws').boundPort}`);
    udp = await SipPeer.udp('127.0.0.1');
    capture.watchPeer('ws client', ws);
    capture.watchPeer('udp client', udp);
  });
  after(async () => {
    ws?.close();
    udp?.close();
    backend?.close();
    await sbc?.stop();
    await engine?.stop();
  });

  const forbidden = (): string[] => [...backend.secrets(), ENGINE_INSIDE, `:${engine.ngPort}`, 'mod_sofia'];

  async function assertNoRecords(what: string): Promise<void> {
    // Deletes run after the final response is relayed: give the relay chain a turn.
    for (let i = 0; i < 20 && (await topologyRecords(sbc)) > 0; i++) await new Promise((r) => setTimeout(r, 25));
    assert.equal(await topologyRecords(sbc), 0, `${what}: no topology record left for ended dialogs`);
  }

  function wsRequest(method: string, leg: Leg, extra: { body?: string; headers?: string[] } = {}): string {
    return request({
      method,
      uri: leg.remoteTarget,
      sentBy: 'c1.invalid',
      viaTransport: 'WS',
      callId: leg.callId,
      fromTag: leg.localTag,
      toTag: leg.remoteTag,
      cseq: method === 'ACK' ? leg.cseq : ++leg.cseq,
      contact: method === 'ACK' || method === 'BYE' ? undefined : WS_CONTACT,
      headers: [...leg.routes.map((r) => `Route: ${r}`), ...(extra.headers ?? [])],
      ...(extra.body !== undefined ? { body: extra.body } : {}),
    });
  }

  /** The client calls out; returns its dialog once the 200 has been ACKed. */
  async function callOut(): Promise<{ leg: Leg; invite: Received; ok: Received }> {
    const callId = rand(8);
    const localTag = 'c' + rand(3);
    ws.send(request({ method: 'INVITE', uri: 'sip:1000@example.com', sentBy: 'c1.invalid', viaTransport: 'WS', callId, fromTag: localTag, contact: WS_CONTACT, body: chromeOffer() }));
    const invite = await backend.peer.next(isReq('INVITE', callId));
    const ok = await ws.next(isRes(200, 'INVITE', callId));
    const res = ok.msg as SipResponse;
    const leg: Leg = { callId, localTag, remoteTag: res.to()!.params.get('tag')!, remoteTarget: uriOf(res.headers.get('contact')!), routes: uacRouteSet(res), cseq: 1 };
    ws.send(wsRequest('ACK', leg));
    const ack = await backend.peer.next(isReq('ACK', callId));
    assert.equal(ack.msg.kind === 'request' && ack.msg.uri, backend.contact, 'the ACK reaches the backend with its own Contact as Request-URI');
    assert.deepEqual(ack.msg.headers.values('route'), [backend.rr], "the ACK carries the backend's own route set");
    return { leg, invite, ok };
  }

  test('REGISTER: the client sees only its own binding, no Path, Service-Route or inside headers', async () => {
    const callId = rand(8);
    ws.send(request({ method: 'REGISTER', uri: 'sip:example.com', sentBy: 'c1.invalid', viaTransport: 'WS', callId, from: '<sip:alice@example.com>', to: '<sip:alice@example.com>', contact: `${WS_CONTACT};+sip.instance="<urn:uuid:0f3a>";reg-id=1`, headers: ['Expires: 600'] }));
    const reg = await backend.peer.next(isReq('REGISTER', callId));
    path = reg.msg.headers.values('path')[0] ?? '';
    assert.match(path, /;ob/, 'the registrar gets our Path');
    const ok = await ws.next(isRes(200, 'REGISTER', callId));
    const contacts = ok.msg.headers.values('contact');
    assert.equal(contacts.length, 1, `only the client's own binding: ${contacts.join(' | ')}`);
    assert.match(contacts[0]!, /sip:alice@c1\.invalid;transport=ws/);
    assert.match(contacts[0]!, /expires=600/);
    const paths = ok.msg.paths() ?? [];
    assert.equal(paths.length, 1, 'only our own Path comes back');
    assert.equal(paths[0]!.uri.params.get('transport'), 'ws', "moved onto the client's listener");
    assert.equal(ok.msg.headers.has('service-route'), false);
    assert.equal(ok.msg.headers.get('server'), 'webrtc-sbc', 'our Server replaces the inside one');
    assert.deepEqual(describeLeaks(capture.leaks(forbidden())), '');
  });

  test('call out: only our Via/Record-Route/Contact reach the client; ACK, hold and unhold from the client reach the backend with its route set; BYE from the client ends the record', async () => {
    const { leg, invite, ok } = await callOut();
    assert.equal(ok.msg.headers.values('record-route').length, 1, 'one Record-Route entry: ours');
    assert.match(ok.msg.headers.get('contact')!, /^<sip:k[0-9a-f]{18}@127\.0\.0\.1:\d+;transport=ws>/, 'the Contact is ours, keyed');
    assert.equal(ok.msg.vias()!.length, 1, "the client's own Via only");
    assert.equal(invite.msg.callId, leg.callId, 'a client-made Call-ID is not masked');
    const ringing = ws.received.find((r) => isRes(180, 'INVITE', leg.callId)(r));
    assert.ok(ringing !== undefined, '180 relayed');

    // Hold, then unhold, from the client.
    for (const direction of ['sendonly', 'sendrecv']) {
      ws.send(wsRequest('INVITE', leg, { body: chromeOffer().replace('a=sendrecv', `a=${direction}`) }));
      const reinvite = await backend.peer.next((r) => isReq('INVITE', leg.callId)(r) && r.msg.cseq()?.seq === leg.cseq);
      assert.equal((reinvite.msg as SipRequest).uri, backend.contact, 're-INVITE: Contact restored as Request-URI');
      assert.deepEqual(reinvite.msg.headers.values('route'), [backend.rr], 're-INVITE: route set restored');
      const reOk = await ws.next((r) => isRes(200, 'INVITE', leg.callId)(r) && r.msg.cseq()?.seq === leg.cseq);
      assert.equal(reOk.msg.headers.values('record-route').length, 0);
      ws.send(wsRequest('ACK', leg));
      await backend.peer.next((r) => isReq('ACK', leg.callId)(r) && r.msg.cseq()?.seq === leg.cseq);
    }
    assert.equal(await topologyRecords(sbc), 1, 'the confirmed dialog has its record');

    ws.send(wsRequest('BYE', leg));
    const bye = await backend.peer.next(isReq('BYE', leg.callId));
    assert.equal((bye.msg as SipRequest).uri, backend.contact);
    await ws.next(isRes(200, 'BYE', leg.callId));
    await assertNoRecords('call out, BYE from the client');
  });

  test('call out: re-INVITE and BYE from the backend reach the client with our Via only', async () => {
    const { leg, invite } = await callOut();
    // The backend as UAS: its route set is the INVITE's Record-Route (RFC 3261 §12.1.1).
    const routes = uasRouteSet(invite.msg);
    const inDialog = (method: string, cseq: number, body?: string): string =>
      request({
        method,
        uri: 'sip:alice@c1.invalid;transport=ws',
        sentBy: `${BACKEND_HOST}:${backend.port}`,
        callId: leg.callId,
        from: '<sip:1000@example.com>',
        fromTag: leg.remoteTag,
        to: '<sip:alice@example.com>',
        toTag: leg.localTag,
        cseq,
        contact: method === 'INVITE' ? `<${backend.contact}>` : undefined,
        headers: [`Via: SIP/2.0/UDP ${INNER_HOP}:5060;branch=z9hG4bKin${rand(3)}`, ...routes.map((r) => `Route: ${r}`), 'User-Agent: FreeSWITCH-mod_sofia/1.10.12', `X-FS-Node: ${BACKEND_HOST}`],
        ...(body !== undefined ? { body } : {}),
      });
    backend.peer.send(inDialog('INVITE', 10, `v=0\r\no=FreeSWITCH 1 2 IN IP4 ${BACKEND_HOST}\r\ns=-\r\nc=IN IP4 ${BACKEND_HOST}\r\nt=0 0\r\nm=audio 52004 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendonly\r\n`), sbcUdp);
    const reinvite = await ws.next(isReq('INVITE', leg.callId));
    assert.equal(reinvite.msg.vias()!.length, 1, 'only our Via');
    assert.equal(reinvite.msg.headers.get('user-agent'), 'webrtc-sbc');
    ws.send(response(reinvite.msg as SipRequest, 200, 'OK', { headers: [`Contact: ${WS_CONTACT}`], body: chromeAnswer() }));
    const reOk = await backend.peer.next(isRes(200, 'INVITE', leg.callId));
    assert.equal(reOk.msg.vias()!.length, 2, "the backend's Via chain is back on the response");
    assert.equal(reOk.msg.vias()![1]!.host, INNER_HOP);

    backend.peer.send(inDialog('BYE', 11), sbcUdp);
    const bye = await ws.next(isReq('BYE', leg.callId));
    assert.equal(bye.msg.vias()!.length, 1);
    ws.send(response(bye.msg as SipRequest, 200, 'OK'));
    await backend.peer.next(isRes(200, 'BYE', leg.callId));
    await assertNoRecords('call out, BYE from the backend');
  });

  test('call in along the Path: masked Call-ID, our Via/Record-Route/Contact only; the client’s BYE reaches the backend unmasked with its Contact and route set', async () => {
    assert.notEqual(path, '', 'registered first');
    const { callId, fromTag } = backend.callIn({ contact: 'sip:alice@c1.invalid;transport=ws', path }, sbcUdp);
    const inv = await ws.nextRequest('INVITE');
    const masked = inv.msg.callId!;
    assert.match(masked, /^!!/, 'the Call-ID is masked');
    assert.equal(inv.msg.vias()!.length, 1, 'only our Via');
    assert.equal(inv.msg.headers.values('record-route').length, 1, 'only our Record-Route entry');
    assert.equal(inv.msg.headers.has('route'), false);
    assert.match(inv.msg.headers.get('contact')!, /^<sip:m[0-9a-f]{18}@127\.0\.0\.1:\d+;transport=ws>/);
    assert.equal(inv.msg.headers.get('user-agent'), 'webrtc-sbc');

    const toTag = 'c' + rand(3);
    ws.send(response(inv.msg as SipRequest, 180, 'Ringing', { toTag }));
    ws.send(response(inv.msg as SipRequest, 200, 'OK', { toTag, headers: [`Contact: ${WS_CONTACT}`], body: chromeAnswer() }));
    const ok = await backend.peer.next(isRes(200, 'INVITE', callId));
    assert.equal(ok.msg.callId, callId, 'the backend gets its own Call-ID back');
    assert.equal(ok.msg.vias()!.length, 2, 'its Via chain restored');
    const rr = ok.msg.headers.values('record-route');
    assert.equal(rr.at(-1), backend.rr, "its own Record-Route entry is back below ours");
    assert.equal(rr.length, 3, 'ours (two, WS ⇄ UDP) and the backend’s');

    // The backend ACKs along its route set (reverse Record-Route, its own entry skipped).
    const routes = uacRouteSet(ok.msg as SipResponse).filter((r) => r !== backend.rr);
    backend.peer.send(request({ method: 'ACK', uri: 'sip:alice@c1.invalid;transport=ws', sentBy: `${BACKEND_HOST}:${backend.port}`, callId, from: '<sip:1000@example.com>', fromTag, to: '<sip:alice@example.com>', toTag, cseq: 1, headers: routes.map((r) => `Route: ${r}`) }), sbcUdp);
    const ack = await ws.next(isReq('ACK', masked));
    assert.equal(ack.msg.vias()!.length, 1);

    // BYE from the client: UAS route set = the INVITE's Record-Route; target = its Contact.
    const leg: Leg = { callId: masked, localTag: toTag, remoteTag: fromTag, remoteTarget: uriOf(inv.msg.headers.get('contact')!), routes: uasRouteSet(inv.msg), cseq: 1 };
    ws.send(wsRequest('BYE', leg));
    const bye = await backend.peer.next(isReq('BYE', callId));
    assert.equal((bye.msg as SipRequest).uri, backend.contact, 'Contact restored as Request-URI');
    assert.deepEqual(bye.msg.headers.values('route'), [backend.rr], 'route set restored');
    const byeOk = await ws.next(isRes(200, 'BYE', masked));
    assert.equal(byeOk.msg.callId, masked, 'the 200 carries the masked Call-ID');
    await assertNoRecords('call in, BYE from the client');
  });

  test('failure responses (486, 404) reach the client without inside headers or Contact; no record left', async () => {
    for (const [mode, status] of [['busy', 486], ['not-found', 404]] as const) {
      backend.mode = mode;
      const callId = rand(8);
      ws.send(request({ method: 'INVITE', uri: 'sip:1000@example.com', sentBy: 'c1.invalid', viaTransport: 'WS', callId, contact: WS_CONTACT, body: chromeOffer() }));
      const final = await ws.next(isRes(status, 'INVITE', callId));
      assert.equal(final.msg.headers.has('warning'), false);
      assert.equal(final.msg.headers.has('x-fs-node'), false);
      assert.equal(final.msg.headers.has('organization'), false);
      assert.equal(final.msg.headers.get('server'), 'webrtc-sbc');
    }
    backend.mode = 'answer';
    await assertNoRecords('failed calls');
  });

  test('CANCEL after 180 ends with 487; a 200 crossing the CANCEL still gives a dialog the client can end', async () => {
    backend.mode = 'ring';
    const callId = rand(8);
    const branch = `z9hG4bK${rand()}`;
    ws.send(request({ method: 'INVITE', uri: 'sip:1000@example.com', sentBy: 'c1.invalid', viaTransport: 'WS', branch, callId, fromTag: 'cc1', contact: WS_CONTACT, body: chromeOffer() }));
    await ws.next(isRes(180, 'INVITE', callId));
    ws.send(request({ method: 'CANCEL', uri: 'sip:1000@example.com', sentBy: 'c1.invalid', viaTransport: 'WS', branch, callId, fromTag: 'cc1' }));
    await ws.next(isRes(487, 'INVITE', callId));
    await assertNoRecords('cancelled call');

    backend.mode = 'answer-on-cancel';
    const raceId = rand(8);
    const raceBranch = `z9hG4bK${rand()}`;
    ws.send(request({ method: 'INVITE', uri: 'sip:1000@example.com', sentBy: 'c1.invalid', viaTransport: 'WS', branch: raceBranch, callId: raceId, fromTag: 'cc2', contact: WS_CONTACT, body: chromeOffer() }));
    await ws.next(isRes(180, 'INVITE', raceId));
    ws.send(request({ method: 'CANCEL', uri: 'sip:1000@example.com', sentBy: 'c1.invalid', viaTransport: 'WS', branch: raceBranch, callId: raceId, fromTag: 'cc2' }));
    const ok = await ws.next(isRes(200, 'INVITE', raceId));
    const res = ok.msg as SipResponse;
    const leg: Leg = { callId: raceId, localTag: 'cc2', remoteTag: res.to()!.params.get('tag')!, remoteTarget: uriOf(res.headers.get('contact')!), routes: uacRouteSet(res), cseq: 1 };
    ws.send(wsRequest('ACK', leg));
    ws.send(wsRequest('BYE', leg));
    const bye = await backend.peer.next(isReq('BYE', raceId));
    assert.equal((bye.msg as SipRequest).uri, backend.contact);
    await ws.next(isRes(200, 'BYE', raceId));
    backend.mode = 'answer';
    await assertNoRecords('200 crossing CANCEL, then BYE');
  });

  test('a UDP client: register, failed call, call with BYE from the client', async () => {
    const me = `127.0.0.1:${udp.address.port}`;
    const regId = rand(8);
    udp.send(request({ method: 'REGISTER', uri: 'sip:example.com', sentBy: me, callId: regId, from: '<sip:bob@example.com>', to: '<sip:bob@example.com>', contact: `<sip:bob@${me}>` }), sbcUdp);
    const reg = await udp.next(isRes(200, 'REGISTER', regId));
    assert.equal(reg.msg.headers.values('contact').length, 1);

    backend.mode = 'busy';
    const busyId = rand(8);
    udp.send(request({ method: 'INVITE', uri: 'sip:1000@example.com', sentBy: me, callId: busyId, contact: `<sip:bob@${me}>` }), sbcUdp);
    await udp.next(isRes(486, 'INVITE', busyId));

    backend.mode = 'answer';
    const callId = rand(8);
    udp.send(request({ method: 'INVITE', uri: 'sip:1000@example.com', sentBy: me, callId, fromTag: 'u1', contact: `<sip:bob@${me}>` }), sbcUdp);
    const ok = await udp.next(isRes(200, 'INVITE', callId));
    const res = ok.msg as SipResponse;
    const base = { sentBy: me, callId, fromTag: 'u1', toTag: res.to()!.params.get('tag')!, uri: uriOf(res.headers.get('contact')!), headers: uacRouteSet(res).map((r) => `Route: ${r}`) };
    udp.send(request({ ...base, method: 'ACK', cseq: 1 }), sbcUdp);
    udp.send(request({ ...base, method: 'BYE', cseq: 2 }), sbcUdp);
    const bye = await backend.peer.next(isReq('BYE', callId));
    assert.equal((bye.msg as SipRequest).uri, backend.contact);
    await udp.next(isRes(200, 'BYE', callId));
    await assertNoRecords('UDP client call');
  });

  test('zero leak hits in everything the clients received', () => {
    const messages = capture.messages();
    // Every response of the calls above (no 100 Trying of ours where the backend rang at once) and the in-dialog requests.
    assert.ok(messages.length > 20, `captured ${messages.length} messages`);
    const hits = capture.leaks(forbidden());
    assert.equal(hits.length, 0, `inside details reached a client:\n${describeLeaks(hits)}`);
  });
});

describe('client Via chains stay outside with topologyHiding.hideClientVias', () => {
  test('the backend sees only our Via; the client gets its own chain back', async () => {
    const backend = await startBackend();
    const sbc = await startSbc({ backends: backendConfig(backend), topologyHiding: { enabled: true, hideClientVias: true }, timers: { t1Ms: 50 } });
    const client = await SipPeer.udp('127.0.0.1');
    try {
      const sbcUdp = { address: '127.0.0.1', port: sbc.listener('udp').boundPort };
      const me = `127.0.0.1:${client.address.port}`;
      const callId = rand(8);
      const natted = '192.168.77.5';
      client.send(request({ method: 'INVITE', uri: 'sip:1000@example.com', sentBy: me, callId, fromTag: 'v1', contact: `<sip:bob@${me}>`, headers: [`Via: SIP/2.0/UDP ${natted}:5062;branch=z9hG4bKnat1`] }), sbcUdp);
      const inv = await backend.peer.next(isReq('INVITE', callId));
      assert.equal(inv.msg.vias()!.length, 1, 'only our Via reaches the backend');
      const ok = await client.next(isRes(200, 'INVITE', callId));
      assert.equal(ok.msg.vias()!.length, 2, "the client's response has its Via chain back");
      assert.equal(ok.msg.vias()![1]!.host, natted);
      const res = ok.msg as SipResponse;
      client.send(request({ method: 'ACK', sentBy: me, callId, fromTag: 'v1', toTag: res.to()!.params.get('tag')!, uri: uriOf(res.headers.get('contact')!), cseq: 1, headers: uacRouteSet(res).map((r) => `Route: ${r}`) }), sbcUdp);
      const ack = await backend.peer.next(isReq('ACK', callId));
      assert.equal(ack.msg.vias()!.length, 1);
      const inward = findInward(backend.peer.received.map((r) => r.raw), [natted, `:${client.address.port}`]);
      assert.deepEqual(inward, [], 'no client Via detail reached the backend');
    } finally {
      client.close();
      backend.close();
      await sbc.stop();
    }
  });
});

/** Lines of messages the backend received that carry a client Via detail (Via lines only: Contact is the client's to give). */
function findInward(raws: string[], needles: string[]): string[] {
  const out: string[] = [];
  for (const raw of raws) {
    for (const line of raw.split('\r\n')) {
      if (!/^(via|v):/i.test(line)) continue;
      for (const n of needles) if (line.includes(n)) out.push(line);
    }
  }
  return out;
}
