/**
 * Two real phones (baresip over UDP) on a gateway with no backend: the SBC is
 * their registrar (registrar.mode local by default). Both register, the
 * admin API lists them, one calls the other by its AOR, the callee's phone
 * answers, and the hang-up reaches the other phone through the SBC.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startBaresip, type Baresip } from '../../helpers/baresip.js';
import { startSbc, workerParamPattern, type TestSbc } from '../../helpers/sbc.js';

interface ApiRegistrations {
  mode: string;
  count: number;
  registrations: Array<{ aor: string; contacts: Array<{ contact: string; transport: string; flowUp: boolean }> }>;
}

describe('baresip phones register with the SBC itself and call each other', () => {
  let sbc: TestSbc;
  let carol: Baresip;
  let dave: Baresip;

  before(async () => {
    // Nothing but media passthrough: no backend, so the registrar is local.
    sbc = await startSbc({ media: { mode: 'passthrough' } });
    const account = (user: string): string => `<sip:${user}@${sbc.hostPort('udp')};transport=udp>;regint=60;answermode=auto;audio_codecs=PCMU`;
    carol = await startBaresip({ account: account('carol') });
    dave = await startBaresip({ account: account('dave') });
  });
  after(async () => {
    await carol?.stop();
    await dave?.stop();
    await sbc?.stop();
  });

  test('both register; /api/registrations lists each with its UDP flow', async () => {
    await Promise.all([carol.waitEvent('REGISTER_OK', 10_000), dave.waitEvent('REGISTER_OK', 10_000)]);
    const api = (await (await fetch(`${sbc.adminUrl}/api/registrations`)).json()) as ApiRegistrations;
    assert.equal(api.mode, 'local');
    assert.equal(api.count, 2);
    for (const [user, phone] of [['carol', carol], ['dave', dave]] as const) {
      const reg = api.registrations.find((r) => r.aor === `sip:${user}@127.0.0.1`);
      assert.ok(reg, `${user} is registered: ${JSON.stringify(api)}`);
      assert.equal(reg.contacts.length, 1);
      assert.match(reg.contacts[0]!.contact, new RegExp(`@127\\.0\\.0\\.1:${phone.sipPort}\\b`), 'the phone\'s own Contact');
      assert.equal(reg.contacts[0]!.transport, 'udp');
      assert.equal(reg.contacts[0]!.flowUp, true);
    }
    const status = (await (await fetch(`${sbc.adminUrl}/healthz`)).json()) as { registrar: { mode: string; registrations: number } };
    assert.deepEqual(status.registrar, { mode: 'local', registrations: 2 });
  });

  test('carol calls dave by his AOR: his phone rings and answers, the call is up on both, dave\'s hang-up reaches carol', async () => {
    await carol.dial(`sip:dave@${sbc.hostPort('udp')}`);
    const [out, inc] = await Promise.all([carol.waitEvent('CALL_ESTABLISHED', 10_000), dave.waitEvent('CALL_ESTABLISHED', 10_000)]);
    assert.equal(out.direction, 'outgoing');
    assert.equal(inc.direction, 'incoming');
    const invite = dave.sipTrace().find((e) => e.direction === 'in' && e.firstLine.startsWith('INVITE '));
    assert.ok(invite !== undefined);
    assert.match(invite.firstLine, new RegExp(`^INVITE sip:dave[^@]*@127\\.0\\.0\\.1:${dave.sipPort}\\b`), 'the Request-URI is dave\'s registered Contact');
    // With workers, dave's flow may be on the other worker: the call reaches him relayed between the two,
    // from inside, so the worker's entry carries its `;w=N` and the topology key it hides carol's side with.
    const rrTail = sbc.workers > 1 ? `${workerParamPattern(sbc)}(?:;tk=[A-Za-z0-9]+)?` : '';
    assert.match(invite.raw, new RegExp(`\\r\\nRecord-Route: <sip:[^@>]+@${sbc.hostPort('udp').replace(/\./g, '\\.')};transport=udp;lr${rrTail}>`, 'i'), 'the SBC record-routes with a flow token');

    await dave.hangup();
    await Promise.all([carol.waitEvent('CALL_CLOSED', 5000), dave.waitEvent('CALL_CLOSED', 5000)]);
    const bye = carol.sipTrace().find((e) => e.direction === 'in' && e.firstLine.startsWith('BYE '));
    assert.ok(bye !== undefined, 'carol got the BYE');
    assert.equal(bye.src, sbc.hostPort('udp'), 'through the SBC');
  });

  test('a call to a user nobody registered gets 404', async () => {
    await carol.dial(`sip:nobody@${sbc.hostPort('udp')}`);
    await carol.waitEvent('CALL_CLOSED', 5000);
    const answer = carol.sipTrace().find((e) => e.direction === 'in' && /^SIP\/2\.0 404 /.test(e.firstLine));
    assert.ok(answer !== undefined, 'carol got 404');
  });
});
