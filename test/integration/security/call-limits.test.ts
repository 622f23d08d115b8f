/**
 * security.maxCallsPerUser through the whole SBC, in proxy and in B2BUA
 * mode: a caller at the limit gets 403 until a call of theirs ends (BYE) or
 * fails (486), and the refusal is counted.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { SipResponse } from '../../../src/sip/message.js';
import { rand, request, uacRouteSet } from '../../helpers/sip-peer.js';
import { contactUri, isRes, startB2buaBed, wsUser, type B2buaBed, type WsUser } from '../b2bua/harness.js';

async function rejectedFor(bed: B2buaBed, reason: string): Promise<number> {
  const text = await (await fetch(`${bed.sbc.adminUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`sbc_rejected_requests_total{reason="${reason}"}`));
  return line === undefined ? 0 : Number(line.split(' ')[1]);
}

for (const mode of ['proxy', 'b2bua'] as const) {
  describe(`maxCallsPerUser (${mode} mode)`, () => {
    let bed: B2buaBed;
    let client: WsUser;

    before(async () => {
      bed = await startB2buaBed({ mode, security: { maxCallsPerUser: 1, rateLimit: { requestsPerSecondPerIp: 0 }, blockedUserAgents: [] } });
      client = await wsUser(bed.wsUrl);
    });
    after(async () => {
      client?.peer.close();
      await bed?.stop();
    });

    const invite = (callId: string): void => {
      client.peer.send(request({ method: 'INVITE', uri: 'sip:bob@example.com', sentBy: client.host, viaTransport: 'WS', callId, fromTag: 'f' + callId, cseq: 1, contact: client.contact }));
    };
    const inDialog = (method: 'ACK' | 'BYE', callId: string, ok: SipResponse, cseq: number): void => {
      client.peer.send(request({
        method, uri: contactUri(ok), sentBy: client.host, viaTransport: 'WS', callId, fromTag: 'f' + callId, toTag: ok.to()!.params.get('tag')!, cseq,
        headers: uacRouteSet(ok).map((r) => `Route: ${r}`),
      }));
    };

    test('a second call while the first is up gets 403; after BYE the next call goes through; a failed call frees its slot', async () => {
      bed.backend.mode = 'answer';
      const first = rand(8);
      invite(first);
      const ok = (await client.peer.next(isRes(200, 'INVITE', first))).msg as SipResponse;
      inDialog('ACK', first, ok, 1);

      const second = rand(8);
      invite(second);
      const refused = (await client.peer.next((r) => r.msg.kind === 'response' && r.msg.callId === second && r.msg.status >= 300)).msg as SipResponse;
      assert.equal(refused.status, 403);
      assert.equal(refused.reason, 'Too Many Calls');
      assert.equal(await rejectedFor(bed, 'call-limit'), 1);

      inDialog('BYE', first, ok, 2);
      await client.peer.next(isRes(200, 'BYE', first));

      bed.backend.mode = 'busy';
      const busy = rand(8);
      invite(busy);
      await client.peer.next(isRes(486, 'INVITE', busy));

      bed.backend.mode = 'answer';
      const third = rand(8);
      invite(third);
      const ok3 = (await client.peer.next(isRes(200, 'INVITE', third))).msg as SipResponse;
      inDialog('ACK', third, ok3, 1);
      inDialog('BYE', third, ok3, 2);
      await client.peer.next(isRes(200, 'BYE', third));
      assert.equal(await rejectedFor(bed, 'call-limit'), 1, 'only the call over the limit was refused');
    });
  });
}
