/**
 * Path registration (RFC 3327) and flow tokens (RFC 5626) against a real,
 * Path-honouring Kamailio: browsers register through the SBC, Kamailio
 * stores our Path, and a call for the AOR comes back along it to the right
 * WebSocket. Every scenario uses fresh AORs and its own clients.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { SipRequest, SipResponse } from '../../../src/sip/message.js';
import { rand, request } from '../../helpers/sip-peer.js';
import type { KamailioContact } from '../../helpers/kamailio.js';
import { closeAndWaitGone, startBed, toTag, UdpUa, WsClient, type KamailioBed } from './harness.js';
import { portPattern, workerParamPattern } from '../../helpers/sbc.js';

/** The per-flow binding cap (registrar.maxBindingsPerFlow, default 20). */
const MAX_BINDINGS_PER_FLOW = 20;

describe('Path registration through the SBC with Kamailio as the registrar', () => {
  let bed: KamailioBed;
  const open: Array<{ close(): void }> = [];

  before(async () => {
    bed = await startBed();
  });
  after(async () => {
    for (const ua of open) ua.close();
    await bed?.stop();
  });

  const connect = async (url: string): Promise<WsClient> => {
    const c = await WsClient.connect(url);
    open.push(c);
    return c;
  };
  const caller = async (): Promise<UdpUa> => {
    const ua = await UdpUa.create(bed.kam);
    open.push(ua);
    return ua;
  };
  const register = async (client: WsClient, aor: string, expires = 600): Promise<SipResponse> => {
    const ok = await client.registered(aor, expires);
    assert.equal(ok.status, 200, `REGISTER ${aor}: ${ok.status} ${ok.reason}`);
    return ok;
  };
  /** Our Path as Kamailio stored it: `<sip:TOKEN@127.0.0.1:UDPPORT;transport=udp;lr;ob>` (with workers `;lr;w=N;ob` and the port that worker's own). */
  const ourPath = (c: KamailioContact): string => {
    assert.equal(c.path.length, 1, `one Path entry for ${c.contact}: ${c.path.join(', ')}`);
    const m = new RegExp(`^<sip:([A-Za-z0-9_-]+)@127\\.0\\.0\\.1:${portPattern(bed.sbc, 'udp')};transport=udp;lr${workerParamPattern(bed.sbc)};ob>$`).exec(c.path[0]!);
    assert.ok(m !== null, `Path stored by Kamailio: ${c.path[0]}`);
    return m[1]!;
  };
  /** An in-dialog request that Kamailio loose-routes to `route` (a Path or Record-Route URI of ours). */
  const viaKamailio = (ua: UdpUa, method: string, route: string): string => {
    const callId = rand(8);
    ua.sendOut(request({
      method, uri: `sip:${rand(4)}@${rand(4)}.invalid;transport=ws`, sentBy: ua.sentBy, callId,
      from: `<sip:${ua.user}@example.com>`, to: '<sip:someone@example.com>', toTag: rand(4), cseq: 7,
      headers: [`Route: ${route}`],
    }));
    return callId;
  };

  test('a WS and a WSS client register; Kamailio stores our Path for each; a call is delivered on the right WebSocket; ACK and BYE both ways', async () => {
    const ws = await connect(bed.wsUrl);
    const wss = await connect(bed.wssUrl);
    const aorWs = `pws${rand(4)}`;
    const aorWss = `pwss${rand(4)}`;
    const okWs = await register(ws, aorWs);
    const okWss = await register(wss, aorWss);
    assert.equal(okWs.paths()?.length, 1, 'Kamailio echoes Path in the 200');
    const wssContacts = okWss.contacts();
    assert.equal(wssContacts !== '*' ? wssContacts?.[0]?.uri.user : undefined, wss.user, 'the WSS client\'s Contact in its 200');

    const [bindingWs] = await bed.kam.contacts(aorWs);
    const [bindingWss] = await bed.kam.contacts(aorWss);
    assert.ok(bindingWs !== undefined && bindingWss !== undefined, 'ul.dump has both bindings');
    assert.equal(bindingWs.contact, `sip:${ws.user}@${ws.host};transport=ws`);
    assert.equal(bindingWss.contact, `sip:${wss.user}@${wss.host};transport=ws`);
    assert.ok((bindingWs.expires ?? 0) > 500 && (bindingWs.expires ?? 0) <= 600, `expires ${bindingWs.expires}`);
    const tokenWs = ourPath(bindingWs);
    const tokenWss = ourPath(bindingWss);
    assert.notEqual(tokenWs, tokenWss, 'each flow has its own token');

    for (const [aor, callee, other] of [[aorWs, ws, wss], [aorWss, wss, ws]] as const) {
      const ua = await caller();
      const call = ua.invite(aor);
      const inv = await callee.nextRequest('INVITE', call.callId);
      const invite = inv.msg as SipRequest;
      assert.equal(invite.requestUri()?.user, callee.user, 'Request-URI = the registered Contact');
      assert.equal(invite.routes()?.length ?? 0, 0, 'our Path Route is popped');
      assert.equal(invite.topVia()!.transport, callee.viaTransport, 'the SBC\'s own WS/WSS Via on top');
      const rr = invite.recordRoutes()!;
      // Topology hiding (on by default): the client sees only our client-facing entry; ours inside and Kamailio's are kept by us.
      assert.equal(rr.length, 1, 'only the SBC\'s client-facing Record-Route');
      assert.equal(rr[0]!.uri.params.get('transport'), 'ws');
      assert.ok(rr[0]!.uri.params.has('tk'), 'it carries the key of the hidden route set');
      assert.ok(!invite.headers.values('record-route').some((v) => v.includes(`:${bed.kam.port}`)), 'Kamailio\'s address is not shown');

      const ok = (await ua.nextResponse(call.callId, 200, 'INVITE')).msg as SipResponse;
      assert.equal(toTag(ok), callee.tags.get(call.callId), 'the callee\'s own answer');
      assert.equal(ok.vias()!.length, 1);
      ua.ack(ok, call);
      const ack = await callee.nextRequest('ACK', call.callId);
      assert.equal((ack.msg as SipRequest).routes()?.length ?? 0, 0);

      // BYE from the browser first on the first call, from the caller on the second.
      if (callee === ws) {
        callee.byeAsCallee(invite);
        const bye = await ua.nextRequest('BYE', call.callId);
        assert.equal((bye.msg as SipRequest).requestUri()?.user, ua.user);
        await callee.nextResponse(call.callId, 200, 'BYE');
      } else {
        ua.byeAsCaller(ok, call);
        const bye = await callee.nextRequest('BYE', call.callId);
        assert.equal((bye.msg as SipRequest).routes()?.length ?? 0, 0);
        await ua.nextResponse(call.callId, 200, 'BYE');
      }
      assert.equal(other.requests('INVITE', call.callId).length, 0, 'the other client got nothing');
      assert.equal(other.peer.count((r) => r.msg.callId === call.callId), 0);
    }
  });

  test('two clients with one AOR: Kamailio forks to both; with one flow closed, that branch gets 430 and the other still rings', async () => {
    const a = await connect(bed.wsUrl);
    const b = await connect(bed.wssUrl);
    const aor = `fork${rand(4)}`;
    await register(a, aor);
    await register(b, aor);
    const bindings = await bed.kam.contacts(aor);
    assert.equal(bindings.length, 2, 'two bindings for the AOR');
    assert.notEqual(ourPath(bindings[0]!), ourPath(bindings[1]!));

    // Both flows open: both ring; one answers; Kamailio cancels the other.
    a.mode = 'ring';
    b.mode = 'ring';
    const ua = await caller();
    const call = ua.invite(aor);
    await a.nextRequest('INVITE', call.callId);
    await b.nextRequest('INVITE', call.callId);
    await ua.nextResponse(call.callId, 180, 'INVITE');
    a.answerRinging(call.callId);
    const ok = (await ua.nextResponse(call.callId, 200, 'INVITE')).msg as SipResponse;
    assert.equal(toTag(ok), a.tags.get(call.callId));
    await b.nextRequest('CANCEL', call.callId);
    ua.ack(ok, call);
    await a.nextRequest('ACK', call.callId);

    // One flow gone: that branch fails at once with 430, the other rings and answers.
    await closeAndWaitGone(bed, b);
    const call2 = ua.invite(aor);
    const inv2 = await a.nextRequest('INVITE', call2.callId);
    assert.equal((inv2.msg as SipRequest).requestUri()?.user, a.user);
    const ringing = await ua.nextResponse(call2.callId, 180, 'INVITE');
    assert.equal(toTag(ringing.msg as SipResponse), a.tags.get(call2.callId), 'the ringing comes from the live branch');
    a.answerRinging(call2.callId);
    const ok2 = (await ua.nextResponse(call2.callId, 200, 'INVITE')).msg as SipResponse;
    assert.equal(toTag(ok2), a.tags.get(call2.callId));
    // Kamailio logs every reply it receives: the closed flow's branch ended with our 430.
    await bed.kam.waitForEvent(new RegExp(`^reply 430 INVITE ci=${call2.callId} src=127\\.0\\.0\\.1:${portPattern(bed.sbc, 'udp')}$`));
    const provisionals = ua.peer.received.filter((r) => r.msg.kind === 'response' && r.msg.callId === call2.callId && r.msg.status > 100 && r.msg.status < 200);
    assert.ok(provisionals.every((r) => toTag(r.msg as SipResponse) === a.tags.get(call2.callId)), 'the closed flow never rang');
    ua.ack(ok2, call2);
    await a.nextRequest('ACK', call2.callId);
  });

  test('reconnect: a new WebSocket registers the AOR again; calls reach the new flow; the old token gets 430', async () => {
    const first = await connect(bed.wsUrl);
    const aor = `recon${rand(4)}`;
    await register(first, aor);
    const [old] = await bed.kam.contacts(aor);
    assert.ok(old !== undefined);
    const oldPath = old.path[0]!;
    ourPath(old);
    await closeAndWaitGone(bed, first);

    const second = await connect(bed.wsUrl);
    assert.notEqual(second.user, first.user);
    await register(second, aor);
    const now = await bed.kam.contacts(aor);
    const fresh = now.find((c) => c.contact.startsWith(`sip:${second.user}@`));
    assert.ok(fresh !== undefined, `the new binding in ul.dump: ${JSON.stringify(now)}`);
    assert.equal(now.length, 2, 'Kamailio keeps the old binding too (it cannot know the flow is gone)');
    assert.notEqual(ourPath(fresh), ourPath(old), 'the new flow has a new token');

    const ua = await caller();
    const call = ua.invite(aor);
    const inv = await second.nextRequest('INVITE', call.callId);
    assert.equal((inv.msg as SipRequest).requestUri()?.user, second.user, 'delivered to the new Contact on the new flow');
    const ok = (await ua.nextResponse(call.callId, 200, 'INVITE')).msg as SipResponse;
    assert.equal(toTag(ok), second.tags.get(call.callId));
    ua.ack(ok, call);
    await second.nextRequest('ACK', call.callId);
    // Kamailio forked to the old binding too: we answered 430 for the dead flow.
    await bed.kam.waitForEvent(new RegExp(`^reply 430 INVITE ci=${call.callId} src=127\\.0\\.0\\.1:${portPattern(bed.sbc, 'udp')}$`));

    // A request routed with the old token directly: 430 Flow Failed, relayed back by Kamailio.
    const byeCallId = viaKamailio(ua, 'BYE', oldPath);
    const failed = await ua.nextResponse(byeCallId, (s) => s >= 200, 'BYE');
    assert.equal((failed.msg as SipResponse).status, 430);
    assert.equal(second.peer.count((r) => r.msg.callId === byeCallId), 0, 'nothing reached the new flow');
  });

  test('a tampered token in the Route → 403, and nothing reaches any client', async () => {
    const client = await connect(bed.wsUrl);
    const aor = `tamp${rand(4)}`;
    await register(client, aor);
    const [binding] = await bed.kam.contacts(aor);
    assert.ok(binding !== undefined);
    const token = ourPath(binding);
    // Change a character inside the MAC, not the last one: the last base64url
    // character may carry padding bits that decode to the same bytes.
    const at = token.length - 8;
    const swapped = token[at] === 'A' ? 'B' : 'A';
    const tampered = binding.path[0]!.replace(`sip:${token}@`, `sip:${token.slice(0, at)}${swapped}${token.slice(at + 1)}@`);
    // The SBC judges flow tokens only on requests from inside (a backend target
    // or a trusted network); a scripted peer on its own port is outside, and
    // making 127.0.0.0/8 trusted would make the browsers inside too. So the
    // tampered Route goes through Kamailio: an in-dialog request that its
    // loose_route() forwards to the top Route, from Kamailio's own address.
    const ua = await caller();
    const callId = viaKamailio(ua, 'BYE', tampered);
    const res = await ua.nextResponse(callId, (s) => s >= 200, 'BYE');
    assert.equal((res.msg as SipResponse).status, 403);
    await bed.kam.waitForEvent(new RegExp(`^reply 403 BYE ci=${callId} src=127\\.0\\.0\\.1:${portPattern(bed.sbc, 'udp')}$`));
    assert.equal(client.peer.count((r) => r.msg.callId === callId), 0);

    // The genuine token still works for the same client.
    const ok = viaKamailio(ua, 'OPTIONS', binding.path[0]!);
    const delivered = await client.nextRequest('OPTIONS', ok);
    assert.equal((delivered.msg as SipRequest).routes()?.length ?? 0, 0);
    await ua.nextResponse(ok, 200, 'OPTIONS');
  });

  test('unregister (Expires 0) is relayed: the 200 comes back and ul.dump no longer has the binding', async () => {
    const client = await connect(bed.wsUrl);
    const aor = `unreg${rand(4)}`;
    await register(client, aor);
    assert.equal((await bed.kam.contacts(aor)).length, 1);
    const ok = await register(client, aor, 0);
    const left = ok.contacts();
    assert.ok(left === undefined || (left !== '*' && left.every((c) => c.uri.user !== client.user)), `no binding of ours in the 200: ${ok.headers.get('contact')}`);
    assert.deepEqual(await bed.kam.contacts(aor), [], 'Kamailio removed the binding');

    // And a call for the AOR now finds nobody.
    const ua = await caller();
    const call = ua.invite(aor);
    const res = await ua.nextResponse(call.callId, (s) => s >= 200, 'INVITE');
    assert.equal((res.msg as SipResponse).status, 404);
    assert.equal(client.requests('INVITE', call.callId).length, 0);
  });

  test('a REGISTER storm from one flow leaves GET /api/flows bounded', async () => {
    const client = await connect(bed.wsUrl);
    const prefix = `storm${rand(3)}x`;
    const total = 300;
    const finals: Array<Promise<unknown>> = [];
    for (let i = 0; i < total; i++) {
      const { callId, cseq } = client.register(`${prefix}${i}`);
      finals.push(client.peer.next((r) => r.msg.kind === 'response' && r.msg.callId === callId && r.msg.cseq()?.seq === cseq && r.msg.status >= 200, 20_000));
      if (i % 50 === 49) await Promise.all(finals.splice(0));
    }
    await Promise.all(finals);
    const statuses = client.peer.received.filter((r) => r.msg.kind === 'response' && r.msg.cseq()?.method === 'REGISTER').map((r) => (r.msg as SipResponse).status);
    assert.equal(statuses.length, total, 'every REGISTER got a final answer');

    const res = await fetch(`${bed.sbc.adminUrl}/api/flows`);
    assert.equal(res.status, 200);
    const flows = flowsWithAors(await res.json());
    const stormFlows = flows.filter((f) => f.aors.some((a) => a.includes(prefix)));
    assert.equal(stormFlows.length, 1, `exactly one flow lists the storm's AORs (GET /api/flows lists AORs per flow): ${JSON.stringify(flows).slice(0, 400)}`);
    const listed = stormFlows[0]!.aors.filter((a) => a.includes(prefix));
    assert.ok(listed.length >= 1 && listed.length <= MAX_BINDINGS_PER_FLOW, `${listed.length} AORs listed for the flow; the cap is ${MAX_BINDINGS_PER_FLOW}`);
    assert.equal(stormFlows[0]!.transport, 'ws');

    // The SBC still serves others after the storm.
    const other = await connect(bed.wsUrl);
    await register(other, `after${rand(4)}`);
  });
});

/** The AORs each flow of GET /api/flows lists (`registered: [{ aor, contact, expiresInSeconds }]`). */
function flowsWithAors(body: unknown): Array<{ id: string; transport: string; aors: string[] }> {
  const flows = (body as { flows?: unknown }).flows;
  if (!Array.isArray(flows)) throw new Error(`GET /api/flows: no flows array in ${JSON.stringify(body).slice(0, 200)}`);
  return flows.map((f: { id: string; transport: string; registered?: Array<{ aor: string }> }) => ({
    id: String(f.id),
    transport: String(f.transport),
    aors: (f.registered ?? []).map((b) => b.aor),
  }));
}
