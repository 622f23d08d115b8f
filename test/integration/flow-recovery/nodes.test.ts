/**
 * Flow recovery across two gateways sharing Redis (state.store redis, one
 * flowTokens.secret, each trusting the other), Kamailio inside, topology
 * hiding on, proxy mode. The WebSocket listeners of both nodes are known by
 * one name and port (`sbc.test`, as behind a load balancer), each node on
 * its own loopback address. A client in a call through node A loses its
 * WebSocket and comes back on node B: the inside party's BYE, which
 * Kamailio sends to node A (our Record-Route), reaches the client on node B;
 * the client's own BYE from node B reaches the inside party. A client that
 * then leaves node B for good has its call ended by node A, with Reason.
 * In proxy mode and in B2BUA mode (node B relays the client's requests for
 * a call it does not hold to the node its dialog record names).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { SipRequest, SipResponse } from '../../../src/sip/message.js';
import { startKamailio, type RunningKamailio } from '../../helpers/kamailio.js';
import { startRedis, type RunningRedis } from '../../helpers/redis.js';
import { rand, request, uasRouteSet } from '../../helpers/sip-peer.js';
import { startSbc, type TestSbc } from '../../helpers/sbc.js';
import { contactUri, UdpUa, WsClient } from '../kamailio/harness.js';

const GRACE_SECONDS = 2;
const NODE_A = '127.0.0.2';
const NODE_B = '127.0.0.3';

async function flowStates(sbc: TestSbc, callId: string): Promise<string[]> {
  const body = (await (await fetch(`${sbc.adminUrl}/api/dialogs`)).json()) as { dialogs: Array<{ callId: string; flow?: string; legs?: Array<{ flow?: string }> }> };
  return body.dialogs.filter((d) => d.callId === callId).map((d) => d.flow ?? d.legs?.find((l) => l.flow !== undefined)?.flow ?? '');
}

async function waitFlowState(sbc: TestSbc, callId: string, state: string): Promise<void> {
  const deadline = Date.now() + 5000;
  let seen: string[] = [];
  while (Date.now() < deadline) {
    seen = await flowStates(sbc, callId);
    if (seen.includes(state)) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`call ${callId} never showed flow state ${state} on the node: ${JSON.stringify(seen)}`);
}

for (const mode of ['proxy', 'b2bua'] as const) describe(`flow recovery on two nodes sharing Redis (${mode} mode, Kamailio inside)`, () => {
  let redis: RunningRedis;
  let kam: RunningKamailio;
  let a: TestSbc;
  let b: TestSbc;
  const open: Array<{ close(): void }> = [];

  const node = (address: string, wsPort: number): Promise<TestSbc> => startSbc({
    mode,
    listen: [
      { transport: 'udp', address, port: 0 },
      { transport: 'ws', address, port: wsPort, advertise: 'sbc.test' },
    ],
    backends: { default: { algorithm: 'round-robin', probe: { method: 'OPTIONS', intervalSeconds: 2, failuresToDown: 3, successesToUp: 1, timeoutMs: 1000 }, targets: [{ uri: kam.uri, weight: 1, priority: 0 }] } },
    registrar: { backend: 'default', pathMode: true },
    topologyHiding: { enabled: true },
    flowRecovery: { graceSeconds: GRACE_SECONDS },
    state: { store: 'redis', redis: { url: redis.url, keyPrefix: `fr-${mode}:` } },
    flowTokens: { secret: 'shared-secret-of-both-nodes-0123456789' },
    trustedSources: [`${NODE_A}/32`, `${NODE_B}/32`],
    media: { mode: 'passthrough' },
    timers: { t1Ms: 100 },
  });

  before(async () => {
    redis = await startRedis();
    kam = await startKamailio();
    a = await node(NODE_A, 0);
    b = await node(NODE_B, a.listener('ws').boundPort);
  });
  after(async () => {
    for (const o of open) o.close();
    await a?.stop();
    await b?.stop();
    await kam?.stop();
    await redis?.stop();
  });

  const wsUrl = (sbc: TestSbc, address: string): string => `ws://${address}:${sbc.listener('ws').boundPort}`;
  const udpUa = async (): Promise<UdpUa> => {
    const ua = await UdpUa.create(kam);
    open.push(ua);
    await ua.register();
    return ua;
  };

  /** A client on node A calls a UA behind Kamailio, loses its WebSocket and comes back (re-REGISTER) on node B. */
  const callThenMoveToB = async (): Promise<{ back: WsClient; ua: UdpUa; invite: SipRequest; ok: SipResponse; call: ReturnType<WsClient['invite']>; aor: string }> => {
    const client = await WsClient.connect(wsUrl(a, NODE_A));
    open.push(client);
    const aor = `nd${rand(3)}`;
    assert.equal((await client.registered(aor)).status, 200);
    const ua = await udpUa();
    const call = client.invite(ua.user);
    const ok = (await client.nextResponse(call.callId, 200, 'INVITE')).msg as SipResponse;
    client.ack(ok, call);
    const invite = (await ua.nextRequest('INVITE')).msg as SipRequest;
    await ua.nextRequest('ACK', invite.callId);

    client.close();
    await waitFlowState(a, call.callId, 'recovering');
    const back = await WsClient.resume(wsUrl(b, NODE_B), client);
    open.push(back);
    assert.equal((await back.registered(aor)).status, 200, 're-REGISTER on node B');
    // Node A learns that the client is on node B (the store, then a message between the nodes).
    await waitFlowState(a, call.callId, 'up');
    return { back, ua, invite, ok, call, aor };
  };

  const byeFromUa = (ua: UdpUa, invite: SipRequest, cseq: number): void => {
    const callId = invite.callId ?? '';
    ua.sendOut(request({
      method: 'BYE', uri: contactUri(invite), sentBy: ua.sentBy, callId,
      from: invite.headers.get('to')?.replace(/;tag=[^;]*/, '') ?? '', fromTag: ua.tags.get(callId) ?? '',
      to: invite.headers.get('from')?.replace(/;tag=[^;]*/, '') ?? '', toTag: invite.from()?.params.get('tag') ?? '', cseq,
      headers: uasRouteSet(invite).map((r) => `Route: ${r}`),
    }));
  };

  test('the client comes back on node B: the inside BYE, sent by Kamailio to node A, reaches its new WebSocket on node B', async () => {
    const { back, ua, invite, call } = await callThenMoveToB();
    byeFromUa(ua, invite, 2);
    const bye = await back.nextRequest('BYE', call.callId, 3000);
    assert.equal((bye.msg as SipRequest).callId, call.callId);
    assert.equal((bye.msg as SipRequest).vias()!.length, 1, 'topology hiding: only our Via reaches the client');
    const answered = (await ua.nextResponse(invite.callId!, (s) => s >= 200, 'BYE')).msg as SipResponse;
    assert.equal(answered.status, 200, 'the client\'s 200 went back through node B, node A and Kamailio');
  });

  test('the client on node B hangs up: its BYE reaches the inside party', async () => {
    const { back, ua, ok, call, invite } = await callThenMoveToB();
    back.byeAsCaller(ok, call);
    const bye = await ua.nextRequest('BYE', invite.callId, 3000);
    assert.equal((bye.msg as SipRequest).callId, invite.callId, 'in the inside party\'s dialog');
    assert.equal(((await back.nextResponse(call.callId, (s) => s >= 200, 'BYE')).msg as SipResponse).status, 200);
  });

  test('the client leaves node B for good: node A ends the call with a BYE carrying Reason, within grace + 1 s of the grace on node B', async () => {
    const { back, ua, call, invite } = await callThenMoveToB();
    back.close();
    const bye = await ua.nextRequest('BYE', invite.callId, (GRACE_SECONDS + 1) * 1000);
    assert.equal((bye.msg as SipRequest).headers.get('reason'), 'SIP;cause=480;text="client connection lost"');
    assert.deepEqual(await flowStates(a, call.callId), [], 'node A forgot the call');
  });
});
