/**
 * Flow recovery against a real Kamailio (registrar and proxy inside),
 * topology hiding on, proxy and B2BUA mode: a SIP.js-like client in a call
 * loses its WebSocket and comes back on a new one (same Contact user and
 * host, as SIP.js after a reconnect) and re-registers: the call goes on —
 * the inside party's BYE (also after a re-INVITE) reaches the new
 * WebSocket; while it is away, requests for its call get 480, not 430. A
 * client that does not come back within the grace has its calls ended: the
 * inside party gets a BYE with `Reason: SIP;cause=480` through Kamailio.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { SipRequest, SipResponse } from '../../../src/sip/message.js';
import { startKamailio, type RunningKamailio } from '../../helpers/kamailio.js';
import { rand, request, response, SipPeer, uacRouteSet, uasRouteSet } from '../../helpers/sip-peer.js';
import { startSbc, type TestSbc } from '../../helpers/sbc.js';
import { contactUri, UdpUa, WsClient } from '../kamailio/harness.js';

const GRACE_SECONDS = 2;

interface DialogView {
  callId: string;
  flow?: string;
  legs?: Array<{ flow?: string }>;
}

async function dialogs(sbc: TestSbc): Promise<DialogView[]> {
  const res = await fetch(`${sbc.adminUrl}/api/dialogs`);
  return ((await res.json()) as { dialogs: DialogView[] }).dialogs;
}

function flowStateOf(d: DialogView): string | undefined {
  return d.flow ?? d.legs?.find((l) => l.flow !== undefined)?.flow;
}

/** Poll GET /api/dialogs until the call shows that flow state. */
async function waitFlowState(sbc: TestSbc, callId: string | undefined, state: string): Promise<void> {
  const deadline = Date.now() + 5000;
  let seen: DialogView[] = [];
  while (Date.now() < deadline) {
    seen = await dialogs(sbc);
    if (seen.some((d) => (callId === undefined || d.callId === callId) && flowStateOf(d) === state)) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`no dialog${callId === undefined ? '' : ` ${callId}`} with flow state ${state}: ${JSON.stringify(seen)}`);
}

/**
 * Poll GET /api/dialogs until no call (or not `callId`) shows its client
 * recovering: with workers the one holding the call hears of the client's
 * return from the worker that took it, a moment after the registrar's 200.
 */
async function waitRecovered(sbc: TestSbc, callId: string | undefined): Promise<void> {
  const deadline = Date.now() + 5000;
  let seen: DialogView[] = [];
  while (Date.now() < deadline) {
    seen = await dialogs(sbc);
    if (!seen.some((d) => (callId === undefined || d.callId === callId) && flowStateOf(d) === 'recovering')) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`a dialog${callId === undefined ? '' : ` ${callId}`} still recovering: ${JSON.stringify(seen)}`);
}

async function metric(sbc: TestSbc, name: string): Promise<number> {
  const text = await (await fetch(`${sbc.adminUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? 0 : Number(line.split(' ')[1]);
}

/** A request of the UA inside the dialog it answered (RFC 3261 §12.2.1.1): target the caller's Contact, route set from the INVITE. */
function fromCallee(ua: UdpUa, invite: SipRequest, method: string, cseq: number, headers: string[] = []): { callId: string; branch: string } {
  const callId = invite.callId ?? '';
  const branch = `z9hG4bK${rand()}`;
  ua.sendOut(request({
    method, uri: contactUri(invite), sentBy: ua.sentBy, branch, callId,
    from: invite.headers.get('to')?.replace(/;tag=[^;]*/, '') ?? '', fromTag: ua.tags.get(callId) ?? '',
    to: invite.headers.get('from')?.replace(/;tag=[^;]*/, '') ?? '', toTag: invite.from()?.params.get('tag') ?? '', cseq,
    headers: [...uasRouteSet(invite).map((r) => `Route: ${r}`), ...(method === 'INVITE' ? [`Contact: ${ua.contact}`] : []), ...headers],
  }));
  return { callId, branch };
}

function kamailioSbc(kam: RunningKamailio, mode: 'proxy' | 'b2bua'): Promise<TestSbc> {
  return startSbc({
    mode,
    listen: [
      { transport: 'udp', address: '127.0.0.1', port: 0 },
      { transport: 'ws', address: '127.0.0.1', port: 0 },
      { transport: 'tcp', address: '127.0.0.1', port: 0 },
    ],
    backends: { default: { algorithm: 'round-robin', probe: { method: 'OPTIONS', intervalSeconds: 2, failuresToDown: 3, successesToUp: 1, timeoutMs: 1000 }, targets: [{ uri: kam.uri, weight: 1, priority: 0 }] } },
    registrar: { backend: 'default', pathMode: true },
    topologyHiding: { enabled: true },
    flowRecovery: { graceSeconds: GRACE_SECONDS },
    media: { mode: 'passthrough' },
    timers: { t1Ms: 100 },
  });
}

for (const mode of ['proxy', 'b2bua'] as const) {
  describe(`flow recovery with Kamailio inside (${mode} mode, topology hiding on)`, () => {
    let kam: RunningKamailio;
    let sbc: TestSbc;
    let wsUrl: string;
    const open: Array<{ close(): void }> = [];

    before(async () => {
      kam = await startKamailio();
      sbc = await kamailioSbc(kam, mode);
      wsUrl = `ws://127.0.0.1:${sbc.listener('ws').boundPort}`;
    });
    after(async () => {
      for (const o of open) o.close();
      await sbc?.stop();
      await kam?.stop();
    });

    const wsClient = async (previous?: WsClient, localAddress?: string): Promise<WsClient> => {
      const c = previous === undefined ? await WsClient.connect(wsUrl) : await WsClient.resume(wsUrl, previous, localAddress);
      open.push(c);
      return c;
    };
    const udpUa = async (): Promise<UdpUa> => {
      const ua = await UdpUa.create(kam);
      open.push(ua);
      await ua.register();
      return ua;
    };

    /** The WS client calls the UA; returns the INVITE the UA answered (its dialog) and the client's Call-ID. */
    const clientCalls = async (client: WsClient, ua: UdpUa): Promise<{ invite: SipRequest; clientCallId: string; uaCallId: string }> => {
      const call = client.invite(ua.user);
      const ok = (await client.nextResponse(call.callId, 200, 'INVITE')).msg as SipResponse;
      client.ack(ok, call);
      const invite = (await ua.nextRequest('INVITE')).msg as SipRequest;
      await ua.nextRequest('ACK', invite.callId);
      return { invite, clientCallId: call.callId, uaCallId: invite.callId! };
    };

    test('the client comes back on a new WebSocket and re-registers: while away its call gets 480; then the inside BYE reaches the new WebSocket', async () => {
      const client = await wsClient();
      const aor = `fr${rand(3)}`;
      assert.equal((await client.registered(aor)).status, 200);
      const ua = await udpUa();
      const { invite, clientCallId, uaCallId } = await clientCalls(client, ua);
      await waitFlowState(sbc, mode === 'proxy' ? clientCallId : undefined, 'up');

      client.close();
      await waitFlowState(sbc, mode === 'proxy' ? clientCallId : undefined, 'recovering');
      fromCallee(ua, invite, 'INFO', 2);
      const held = (await ua.nextResponse(uaCallId, (s) => s >= 200, 'INFO')).msg as SipResponse;
      assert.equal(held.status, 480, `a request for the call while its client is away: ${held.status} ${held.reason} (never 430 while it may come back)`);

      const back = await wsClient(client);
      const reg = await back.registered(aor);
      assert.equal(reg.status, 200, 'the re-REGISTER on the new WebSocket');
      await waitFlowState(sbc, mode === 'proxy' ? clientCallId : undefined, 'up');

      fromCallee(ua, invite, 'BYE', 3);
      const bye = (await back.nextRequest('BYE', undefined, 3000)).msg as SipRequest;
      if (mode === 'proxy') assert.equal(bye.callId, clientCallId, 'the BYE of the call the client made, on its new WebSocket');
      const answered = (await ua.nextResponse(uaCallId, (s) => s >= 200, 'BYE')).msg as SipResponse;
      assert.equal(answered.status, 200, 'the client\'s 200 to the BYE reached the inside party');
      assert.ok(await metric(sbc, 'sbc_flow_recoveries_total') >= 1);
    });

    test('the client comes back from another address (a network change): once the registrar accepted its REGISTER, a re-INVITE from inside reaches it, and the BYE after it too', async () => {
      const client = await wsClient();
      const aor = `fr${rand(3)}`;
      assert.equal((await client.registered(aor)).status, 200);
      const ua = await udpUa();
      const { invite, uaCallId } = await clientCalls(client, ua);
      client.close();
      await waitFlowState(sbc, undefined, 'recovering');
      const back = await wsClient(client, '127.0.0.7');
      // Before the REGISTER, a Contact from another address proves nothing: the call still waits.
      back.peer.send(request({ method: 'OPTIONS', uri: 'sip:example.com', sentBy: back.host, viaTransport: 'WS', contact: back.contact }));
      await back.peer.nextResponse((st) => st >= 200, 'OPTIONS');
      assert.equal((await dialogs(sbc)).some((d) => flowStateOf(d) === 'recovering'), true, 'still recovering before the registrar answered');
      assert.equal((await back.registered(aor)).status, 200);
      await waitRecovered(sbc, undefined);

      fromCallee(ua, invite, 'INVITE', 2);
      const reinvite = (await back.nextRequest('INVITE', undefined, 3000)).msg as SipRequest;
      assert.ok(reinvite.to()?.params.get('tag') != null, 'an in-dialog INVITE');
      const ok = (await ua.nextResponse(uaCallId, 200, 'INVITE')).msg as SipResponse;
      ua.sendOut(request({
        method: 'ACK', uri: contactUri(ok), sentBy: ua.sentBy, callId: uaCallId,
        from: invite.headers.get('to')?.replace(/;tag=[^;]*/, '') ?? '', fromTag: ua.tags.get(uaCallId) ?? '',
        to: invite.headers.get('from')?.replace(/;tag=[^;]*/, '') ?? '', toTag: invite.from()?.params.get('tag') ?? '', cseq: 2,
        headers: uasRouteSet(invite).map((r) => `Route: ${r}`),
      }));
      await back.nextRequest('ACK', reinvite.callId ?? undefined);

      fromCallee(ua, invite, 'BYE', 3);
      const bye = (await back.nextRequest('BYE', reinvite.callId ?? undefined, 3000)).msg as SipRequest;
      assert.equal(bye.callId, reinvite.callId);
      assert.equal(((await ua.nextResponse(uaCallId, (s) => s >= 200, 'BYE')).msg as SipResponse).status, 200);
    });

    test('a client that does not come back: the inside party gets a BYE with Reason within grace + 1 s; the call is gone from /api/dialogs', async () => {
      const client = await wsClient();
      const aor = `fr${rand(3)}`;
      assert.equal((await client.registered(aor)).status, 200);
      const ua = await udpUa();
      const { invite, uaCallId, clientCallId } = await clientCalls(client, ua);
      const goneBefore = await metric(sbc, 'sbc_client_gone_total');
      client.close();
      const bye = await ua.nextRequest('BYE', uaCallId, (GRACE_SECONDS + 1) * 1000);
      const reason = (bye.msg as SipRequest).headers.get('reason');
      assert.equal(reason, 'SIP;cause=480;text="client connection lost"');
      assert.ok((bye.msg as SipRequest).vias()!.length >= 2, 'the BYE came through Kamailio (the route set toward the inside party)');
      assert.equal(await metric(sbc, 'sbc_client_gone_total'), goneBefore + 1);
      assert.deepEqual((await dialogs(sbc)).filter((d) => d.callId === clientCallId), [], 'the call of the gone client is no more in /api/dialogs');
      // Once the grace is over the flow is gone for good: 430 Flow Failed (RFC 5626 §5.3.1) from the
      // proxy; the B2BUA's dialog toward the UA is over (481).
      fromCallee(ua, invite, 'INFO', 9);
      const failed = (await ua.nextResponse(uaCallId, (s) => s >= 200, 'INFO')).msg as SipResponse;
      assert.equal(failed.status, mode === 'proxy' ? 430 : 481, `a request in the call of the gone client: ${failed.status} ${failed.reason}`);
    });

    test('a phone on TCP reconnects from a new port and re-registers (same Contact): the inside BYE reaches the new connection', async () => {
      const port = sbc.listener('tcp').boundPort;
      const user = `tc${rand(3)}`;
      const contact = `<sip:${user}@127.0.0.1:5999;transport=tcp>`;
      const phone = async (): Promise<SipPeer> => {
        const p = await SipPeer.tcp(port);
        open.push(p);
        p.onMessage = (r) => {
          if (r.msg.kind === 'request' && r.msg.method === 'BYE') p.send(response(r.msg, 200, 'OK'));
        };
        return p;
      };
      const sentBy = (p: SipPeer): string => `127.0.0.1:${p.address.port}`;
      const registerOn = async (p: SipPeer, cseq: number): Promise<number> => {
        p.send(request({ method: 'REGISTER', uri: 'sip:example.com', sentBy: sentBy(p), viaTransport: 'TCP', callId: `reg-${user}`, cseq, from: `<sip:${user}@example.com>`, to: `<sip:${user}@example.com>`, contact: `${contact};expires=600`, headers: ['Supported: path, outbound'] }));
        return ((await p.nextResponse((st) => st >= 200, 'REGISTER')).msg as SipResponse).status;
      };
      const first = await phone();
      assert.equal(await registerOn(first, 1), 200);
      const ua = await udpUa();
      const callId = rand(8);
      first.send(request({ method: 'INVITE', uri: `sip:${ua.user}@example.com`, sentBy: sentBy(first), viaTransport: 'TCP', callId, fromTag: 'tcp1', from: `<sip:${user}@example.com>`, to: `<sip:${ua.user}@example.com>`, contact }));
      const ok = (await first.nextResponse(200, 'INVITE')).msg as SipResponse;
      first.send(request({ method: 'ACK', uri: contactUri(ok), sentBy: sentBy(first), viaTransport: 'TCP', callId, fromTag: 'tcp1', from: `<sip:${user}@example.com>`, to: `<sip:${ua.user}@example.com>`, toTag: ok.to()?.params.get('tag') ?? '', headers: uacRouteSet(ok).map((r) => `Route: ${r}`) }));
      const invite = (await ua.nextRequest('INVITE')).msg as SipRequest;
      await ua.nextRequest('ACK', invite.callId);

      first.close();
      await waitFlowState(sbc, mode === 'proxy' ? callId : undefined, 'recovering');
      const second = await phone();
      assert.notEqual(second.address.port, first.address.port, 'a new connection from a new port');
      assert.equal(await registerOn(second, 2), 200);
      await waitRecovered(sbc, mode === 'proxy' ? callId : undefined);
      fromCallee(ua, invite, 'BYE', 2);
      const bye = (await second.nextRequest('BYE', 3000)).msg as SipRequest;
      if (mode === 'proxy') assert.equal(bye.callId, callId);
      assert.equal(((await ua.nextResponse(invite.callId!, (st) => st >= 200, 'BYE')).msg as SipResponse).status, 200);
    });

    test('a client called from inside that does not come back: the caller gets the BYE with Reason', async () => {
      const client = await wsClient();
      const aor = `fr${rand(3)}`;
      assert.equal((await client.registered(aor)).status, 200);
      const ua = await udpUa();
      client.mode = 'answer';
      const call = ua.invite(aor);
      const ok = (await ua.nextResponse(call.callId, 200, 'INVITE')).msg as SipResponse;
      ua.ack(ok, call);
      await client.nextRequest('ACK');
      client.close();
      const bye = await ua.nextRequest('BYE', call.callId, (GRACE_SECONDS + 1) * 1000);
      assert.equal((bye.msg as SipRequest).headers.get('reason'), 'SIP;cause=480;text="client connection lost"');
      assert.equal((bye.msg as SipRequest).to()?.params.get('tag'), call.fromTag, 'in the caller\'s dialog');
    });
  });
}
