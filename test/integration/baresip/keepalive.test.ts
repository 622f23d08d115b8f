/**
 * NAT keepalives toward a real phone (baresip over UDP) that registered
 * through the SBC (nat.keepaliveIntervalSeconds, nat.keepaliveMethod
 * OPTIONS): the phone receives them on its registered flow, answers them,
 * and stays reachable for the registrar's calls along our Path. A phone that
 * goes silent loses its flow, and the registrar's call gets 430 Flow Failed.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { startBaresip, type SipTraceEntry } from '../../helpers/baresip.js';
import { startSbc } from '../../helpers/sbc.js';
import { ScriptedBackend } from './backend.js';

const account = (sbcHostPort: string): string => `<sip:carol@${sbcHostPort};transport=udp>;regint=60;answermode=auto;audio_codecs=PCMU`;

const callIdOf = (e: SipTraceEntry): string | undefined => /\r\nCall-ID:\s*(\S+)/i.exec(e.raw)?.[1];

async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('NAT keepalives toward a registered baresip', () => {
  test('OPTIONS every second reach the phone on its registered flow, are answered, and the registrar\'s call still reaches it', async (t) => {
    const registrar = await ScriptedBackend.start();
    t.after(() => registrar.close());
    const sbc = await startSbc({
      backends: { default: { probe: { intervalSeconds: 0 }, targets: [{ uri: registrar.uri }] } },
      media: { mode: 'passthrough' },
      nat: { keepaliveIntervalSeconds: 1, keepaliveMethod: 'OPTIONS' },
    });
    t.after(() => sbc.stop());
    const sbcUdp = { address: '127.0.0.1', port: sbc.listener('udp').boundPort };
    const phone = await startBaresip({ account: account(sbc.hostPort('udp')) });
    t.after(() => phone.stop());
    await phone.waitEvent('REGISTER_OK', 10_000);

    const keepalivesIn = (): SipTraceEntry[] => phone.sipTrace().filter((e) => e.direction === 'in' && e.firstLine.startsWith('OPTIONS '));
    await waitFor(() => keepalivesIn().length >= 2, 6000, () => `OPTIONS seen by the phone: ${keepalivesIn().length}`);

    const trace = phone.sipTrace();
    const pings = trace.filter((e) => e.direction === 'in' && e.firstLine.startsWith('OPTIONS '));
    for (const ping of pings) {
      assert.equal(ping.src, sbc.hostPort('udp'), 'sent from the SBC listener the phone registered through');
      assert.equal(ping.dst, `127.0.0.1:${phone.sipPort}`, 'to the registered flow');
    }
    assert.notEqual(callIdOf(pings[0]!), callIdOf(pings[1]!), 'each keepalive is a new request');
    // Every keepalive got a final answer from the phone. baresip 1.0 answers
    // 404 when the Request-URI has no user part it knows, 200 otherwise; both
    // prove the flow alive.
    const answers = trace.filter((e) => e.direction === 'out' && /^SIP\/2\.0 [2-6]\d\d /.test(e.firstLine) && /\r\nCSeq: \d+ OPTIONS\r\n/i.test(e.raw));
    for (const ping of pings.slice(0, -1)) {
      assert.ok(answers.some((a) => callIdOf(a) === callIdOf(ping)), `the phone answered keepalive ${callIdOf(ping)}: ${answers.map((a) => a.firstLine).join(' | ')}`);
    }
    assert.equal(registrar.peer.count((r) => r.msg.kind === 'request' && r.msg.method === 'OPTIONS'), 0, 'keepalives stay on the outside');

    // Still reachable: the registrar calls along our Path; the phone auto-answers.
    const { dialog } = await registrar.callRegistered(`sip:carol@${sbc.hostPort('udp')}`, sbcUdp);
    const established = await phone.waitEvent('CALL_ESTABLISHED', 10_000);
    assert.equal(established.direction, 'incoming');
    const inv = phone.sipTrace().find((e) => e.direction === 'in' && e.firstLine.startsWith('INVITE ') && callIdOf(e) === dialog.callId);
    assert.ok(inv !== undefined, 'the INVITE reached the phone');
    assert.equal(inv.src, sbc.hostPort('udp'), 'through the SBC');
    assert.doesNotMatch(inv.raw, /\r\nRoute:/i, 'our Path route popped');
    await waitFor(() => registrar.rtpPackets >= 10, 5000, () => `RTP at the registrar side: ${registrar.rtpPackets}`);

    const byeOk = await registrar.bye(dialog, sbcUdp);
    assert.equal((byeOk.msg as { status: number }).status, 200);
    await phone.waitEvent('CALL_CLOSED', 5000);
  });

  test('a phone that stops answering loses its flow: the registrar\'s call gets 430 Flow Failed', async (t) => {
    const registrar = await ScriptedBackend.start();
    t.after(() => registrar.close());
    const sbc = await startSbc({
      backends: { default: { probe: { intervalSeconds: 0 }, targets: [{ uri: registrar.uri }] } },
      media: { mode: 'passthrough' },
      nat: { keepaliveIntervalSeconds: 1, keepaliveMethod: 'OPTIONS', keepaliveFailures: 1 },
      timers: { t1Ms: 100 },
    });
    t.after(() => sbc.stop());
    const sbcUdp = { address: '127.0.0.1', port: sbc.listener('udp').boundPort };
    const phone = await startBaresip({ account: account(sbc.hostPort('udp')) });
    t.after(() => phone.stop());
    await phone.waitEvent('REGISTER_OK', 10_000);

    const registeredFlows = async (): Promise<number> => {
      const res = await fetch(`${sbc.adminUrl}/api/flows`);
      const body = (await res.json()) as { flows: Array<{ remote: string; registered: unknown[] }> };
      return body.flows.filter((f) => f.remote === `127.0.0.1:${phone.sipPort}` && f.registered.length > 0).length;
    };
    assert.equal(await registeredFlows(), 1, 'the phone\'s flow is listed with its registration');

    phone.suspend();
    await waitFor(async () => (await registeredFlows()) === 0, 10_000, () => 'the silent phone\'s flow to be closed');

    const reg = registrar.registrations.get(`sip:carol@${sbc.hostPort('udp')}`);
    assert.ok(reg !== undefined);
    await assert.rejects(registrar.callRegistered(reg.aor, sbcUdp), /got 430 /);
  });
});
