/**
 * Flow recovery meets call records, with real peers: a SIP.js-like WS client
 * in a call through the SBC to a UA behind Kamailio, `callRecords.file` set
 * and a short grace, proxy and B2BUA mode. A client whose WebSocket closes
 * for good: the inside party gets the BYE with its Reason and the call
 * leaves exactly one record, `client-gone` by `sbc`. A client that comes
 * back within the grace: the call goes on, the inside party hangs up later,
 * and the one record says `bye-callee` (the client hanging up: `bye-caller`),
 * not `client-gone`.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { CallRecord } from '../../../src/records/index.js';
import type { SipRequest, SipResponse } from '../../../src/sip/message.js';
import { startKamailio, type RunningKamailio } from '../../helpers/kamailio.js';
import { rand, request, uasRouteSet } from '../../helpers/sip-peer.js';
import { startSbc, type TestSbc } from '../../helpers/sbc.js';
import { contactUri, UdpUa, WsClient, type Call } from '../kamailio/harness.js';
import { readRecords, recordFor, sleep } from '../records/records-helpers.js';

const GRACE_SECONDS = 1;

/** A request of the UA inside the dialog it answered: target the caller's Contact, route set from the INVITE. */
function fromCallee(ua: UdpUa, invite: SipRequest, method: string, cseq: number): void {
  const callId = invite.callId ?? '';
  ua.sendOut(request({
    method, uri: contactUri(invite), sentBy: ua.sentBy, branch: `z9hG4bK${rand()}`, callId,
    from: invite.headers.get('to')?.replace(/;tag=[^;]*/, '') ?? '', fromTag: ua.tags.get(callId) ?? '',
    to: invite.headers.get('from')?.replace(/;tag=[^;]*/, '') ?? '', toTag: invite.from()?.params.get('tag') ?? '', cseq,
    headers: uasRouteSet(invite).map((r) => `Route: ${r}`),
  }));
}

/** The records of one call (by the client's Call-ID), once the first is written and a moment for a second to show up. */
async function recordsOf(file: string, clientCallId: string): Promise<CallRecord[]> {
  await recordFor(file, clientCallId);
  await sleep(300);
  return readRecords(file).filter((r) => r.callId === clientCallId || r.outsideCallId === clientCallId);
}

for (const mode of ['proxy', 'b2bua'] as const) {
  describe(`flow recovery and call records with Kamailio inside (${mode} mode)`, () => {
    let kam: RunningKamailio;
    let sbc: TestSbc;
    let wsUrl: string;
    let dir: string;
    let file: string;
    const open: Array<{ close(): void }> = [];

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'sbc-fr-records-'));
      file = join(dir, 'calls.jsonl');
      kam = await startKamailio();
      sbc = await startSbc({
        mode,
        listen: [
          { transport: 'udp', address: '127.0.0.1', port: 0 },
          { transport: 'ws', address: '127.0.0.1', port: 0 },
        ],
        backends: { default: { algorithm: 'round-robin', probe: { method: 'OPTIONS', intervalSeconds: 2, failuresToDown: 3, successesToUp: 1, timeoutMs: 1000 }, targets: [{ uri: kam.uri, weight: 1, priority: 0 }] } },
        registrar: { backend: 'default', pathMode: true },
        topologyHiding: { enabled: true },
        flowRecovery: { graceSeconds: GRACE_SECONDS },
        callRecords: { file },
        media: { mode: 'passthrough' },
        timers: { t1Ms: 100 },
      });
      wsUrl = `ws://127.0.0.1:${sbc.listener('ws').boundPort}`;
    });
    after(async () => {
      for (const o of open) o.close();
      await sbc?.stop();
      await kam?.stop();
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    });

    const wsClient = async (previous?: WsClient): Promise<WsClient> => {
      const c = previous === undefined ? await WsClient.connect(wsUrl) : await WsClient.resume(wsUrl, previous);
      open.push(c);
      return c;
    };
    const udpUa = async (): Promise<UdpUa> => {
      const ua = await UdpUa.create(kam);
      open.push(ua);
      await ua.register();
      return ua;
    };
    /** The registered WS client calls the UA; returns the INVITE the UA answered and both Call-IDs. */
    const clientCalls = async (client: WsClient, ua: UdpUa): Promise<{ invite: SipRequest; clientCallId: string; uaCallId: string; ok: SipResponse; call: Call }> => {
      const call = client.invite(ua.user);
      const ok = (await client.nextResponse(call.callId, 200, 'INVITE')).msg as SipResponse;
      client.ack(ok, call);
      const invite = (await ua.nextRequest('INVITE')).msg as SipRequest;
      await ua.nextRequest('ACK', invite.callId);
      return { invite, clientCallId: call.callId, uaCallId: invite.callId!, ok, call };
    };

    test('the WebSocket closes for good: the inside party gets the BYE with Reason; one record, client-gone by sbc', async () => {
      const client = await wsClient();
      const aor = `rg${rand(3)}`;
      assert.equal((await client.registered(aor)).status, 200);
      const ua = await udpUa();
      const { clientCallId, uaCallId } = await clientCalls(client, ua);
      client.close();
      const bye = (await ua.nextRequest('BYE', uaCallId, (GRACE_SECONDS + 1) * 1000)).msg as SipRequest;
      assert.equal(bye.headers.get('reason'), 'SIP;cause=480;text="client connection lost"');
      const records = await recordsOf(file, clientCallId);
      assert.equal(records.length, 1, `one record for the call: ${JSON.stringify(records)}`);
      const r = records[0]!;
      assert.equal(r.reason, 'client-gone');
      assert.equal(r.endedBy, 'sbc');
      assert.equal(r.status, 200, 'it was answered');
      assert.notEqual(r.answer, null);
      assert.equal(r.mode, mode);
      assert.equal(r.outsideCallId, clientCallId);
      assert.equal(r.transport, 'ws');
    });

    test('a client called from inside whose WebSocket closes for good: the caller gets the BYE; one record, client-gone by sbc', async () => {
      const client = await wsClient();
      const aor = `rg${rand(3)}`;
      assert.equal((await client.registered(aor)).status, 200);
      const ua = await udpUa();
      client.mode = 'answer';
      const call = ua.invite(aor);
      const ok = (await ua.nextResponse(call.callId, 200, 'INVITE')).msg as SipResponse;
      ua.ack(ok, call);
      const ack = (await client.nextRequest('ACK')).msg as SipRequest;
      client.close();
      const bye = (await ua.nextRequest('BYE', call.callId, (GRACE_SECONDS + 1) * 1000)).msg as SipRequest;
      assert.equal(bye.headers.get('reason'), 'SIP;cause=480;text="client connection lost"');
      const records = await recordsOf(file, ack.callId!);
      assert.equal(records.length, 1, `one record for the call: ${JSON.stringify(records)}`);
      assert.equal(records[0]!.reason, 'client-gone');
      assert.equal(records[0]!.endedBy, 'sbc');
      assert.equal(records[0]!.direction, 'inbound');
    });

    test('the client comes back within the grace: the call goes on, the inside BYE ends it; one record, bye-callee', async () => {
      const client = await wsClient();
      const aor = `rg${rand(3)}`;
      assert.equal((await client.registered(aor)).status, 200);
      const ua = await udpUa();
      const { invite, clientCallId, uaCallId } = await clientCalls(client, ua);
      client.close();
      const back = await wsClient(client);
      assert.equal((await back.registered(aor)).status, 200, 'the re-REGISTER on the new WebSocket');
      // Past the grace of the old flow: a client that came back is not gone.
      await sleep((GRACE_SECONDS + 0.5) * 1000);
      fromCallee(ua, invite, 'BYE', 2);
      const bye = (await back.nextRequest('BYE', undefined, 3000)).msg as SipRequest;
      assert.equal(bye.headers.get('reason'), undefined, 'the inside party\'s own BYE, not one of the SBC');
      assert.equal(((await ua.nextResponse(uaCallId, (s) => s >= 200, 'BYE')).msg as SipResponse).status, 200);
      const records = await recordsOf(file, clientCallId);
      assert.equal(records.length, 1, `one record for the call: ${JSON.stringify(records)}`);
      assert.equal(records[0]!.reason, 'bye-callee');
      assert.equal(records[0]!.endedBy, 'callee');
      assert.equal(records[0]!.status, 200);
    });

    test('the client comes back within the grace and hangs up itself on the new WebSocket: one record, bye-caller', async () => {
      const client = await wsClient();
      const aor = `rg${rand(3)}`;
      assert.equal((await client.registered(aor)).status, 200);
      const ua = await udpUa();
      const { clientCallId, uaCallId, ok, call } = await clientCalls(client, ua);
      client.close();
      const back = await wsClient(client);
      assert.equal((await back.registered(aor)).status, 200, 'the re-REGISTER on the new WebSocket');
      await sleep((GRACE_SECONDS + 0.5) * 1000);
      back.byeAsCaller(ok, call);
      await ua.nextRequest('BYE', uaCallId, 3000);
      assert.equal(((await back.nextResponse(clientCallId, (s) => s >= 200, 'BYE')).msg as SipResponse).status, 200, 'the UA answered the BYE');
      const records = await recordsOf(file, clientCallId);
      assert.equal(records.length, 1, `one record for the call: ${JSON.stringify(records)}`);
      assert.equal(records[0]!.reason, 'bye-caller');
      assert.equal(records[0]!.endedBy, 'caller');
    });

    test('the WebSocket closes while the call rings, then the inside party answers: the call is ended toward it; one record', async () => {
      const client = await wsClient();
      const aor = `rg${rand(3)}`;
      assert.equal((await client.registered(aor)).status, 200);
      const ua = await udpUa();
      ua.mode = 'ring';
      const call = client.invite(ua.user);
      await client.nextResponse(call.callId, 180, 'INVITE');
      const invite = (await ua.nextRequest('INVITE')).msg as SipRequest;
      client.close();
      await sleep(200);
      ua.answerRinging(invite.callId!);
      const bye = (await ua.nextRequest('BYE', invite.callId!, (GRACE_SECONDS + 2) * 1000)).msg as SipRequest;
      assert.equal(bye.headers.get('reason'), 'SIP;cause=480;text="client connection lost"');
      const records = await recordsOf(file, call.callId);
      assert.equal(records.length, 1, `one record for the call: ${JSON.stringify(records)}`);
      assert.equal(records[0]!.reason, 'client-gone');
      assert.equal(records[0]!.endedBy, 'sbc');
      assert.equal(records[0]!.status, 200, 'the inside party answered');
      const left = ((await (await fetch(`${sbc.adminUrl}/api/dialogs`)).json()) as { dialogs: Array<{ callId: string }> }).dialogs;
      assert.deepEqual(left.filter((d) => d.callId === call.callId || d.callId === invite.callId), [], 'the call is no more in /api/dialogs');
    });
  });
}
