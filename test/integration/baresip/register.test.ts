/**
 * A real phone (baresip over UDP) registers through the SBC. baresip sends
 * neither Path nor `Supported: path`; the registrar must see both (RFC 3327
 * §5.2), with our flow token in the Path. Checked twice: against Kamailio in
 * strict Path mode (it stores the Path and would answer 420 without
 * `Supported: path`), and against a scripted registrar that shows the raw
 * REGISTER.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { startBaresip } from '../../helpers/baresip.js';
import { startKamailio } from '../../helpers/kamailio.js';
import { portPattern, startSbc, workerParamPattern, type TestSbc } from '../../helpers/sbc.js';
import { ScriptedBackend } from './backend.js';

/** Our Path: a flow token at a UDP port of ours (with workers the worker's own, and its `;w=N`). */
const ourPath = (sbc: TestSbc): RegExp => new RegExp(`^<sip:[^@>]+@127\\.0\\.0\\.1:${portPattern(sbc, 'udp')};transport=udp;lr${workerParamPattern(sbc)};ob>$`);

const account = (sbcHostPort: string): string => `<sip:carol@${sbcHostPort};transport=udp>;regint=60;answermode=auto;audio_codecs=PCMU`;

describe('baresip registers through the SBC', () => {
  test('Kamailio (use_path, strict path_mode) accepts the REGISTER and stores our Path', async (t) => {
    const kam = await startKamailio();
    t.after(() => kam.stop());
    const sbc = await startSbc({ backends: { default: { probe: { intervalSeconds: 0 }, targets: [{ uri: kam.uri }] } }, media: { mode: 'passthrough' } });
    t.after(() => sbc.stop());
    const phone = await startBaresip({ account: account(sbc.hostPort('udp')) });
    t.after(() => phone.stop()); // runs first: un-REGISTER while the SBC is still up

    const ok = await phone.waitEvent('REGISTER_OK', 10_000);
    assert.equal(ok.accountaor, `sip:carol@${sbc.hostPort('udp')}`);

    const sent = phone.sipTrace().find((e) => e.direction === 'out' && e.firstLine.startsWith('REGISTER '));
    assert.ok(sent !== undefined, 'the phone sent a REGISTER');
    assert.doesNotMatch(sent.raw, /\r\nPath:/i, 'baresip sends no Path of its own');
    assert.doesNotMatch(sent.raw, /\r\nSupported:[^\r]*\bpath\b/i, 'baresip does not claim Path support');

    const bindings = await kam.contacts('carol');
    assert.equal(bindings.length, 1, `one binding for carol: ${JSON.stringify(bindings)}`);
    const b = bindings[0]!;
    assert.match(b.contact, new RegExp(`@127\\.0\\.0\\.1:${phone.sipPort}\\b`), 'the phone\'s own Contact');
    assert.equal(b.path.length, 1, `one Path entry: ${b.path.join(', ')}`);
    const path = b.path[0]!;
    assert.match(path, ourPath(sbc), `our Path with a flow token: ${path}`);
  });

  test('the scripted registrar sees Path and Supported: path that baresip did not send', async (t) => {
    const registrar = await ScriptedBackend.start();
    t.after(() => registrar.close());
    const sbc = await startSbc({ backends: { default: { probe: { intervalSeconds: 0 }, targets: [{ uri: registrar.uri }] } }, media: { mode: 'passthrough' } });
    t.after(() => sbc.stop());
    const phone = await startBaresip({ account: account(sbc.hostPort('udp')) });
    t.after(() => phone.stop());

    await phone.waitEvent('REGISTER_OK', 10_000);
    const reg = registrar.peer.received.find((r) => r.msg.kind === 'request' && r.msg.method === 'REGISTER');
    assert.ok(reg !== undefined, 'the registrar got the REGISTER');
    const paths = reg.msg.headers.values('path');
    assert.equal(paths.length, 1);
    assert.match(paths[0]!, ourPath(sbc));
    assert.ok(reg.msg.optionTags('supported').includes('path'), `Supported carries path: ${reg.msg.headers.values('supported').join(', ')}`);
    const top = reg.msg.topVia()!;
    assert.ok(top.host === '127.0.0.1' && sbc.ports('udp').includes(top.port ?? 0), `relayed by the SBC (${top.host}:${top.port})`);
    assert.match(reg.msg.headers.get('contact') ?? '', new RegExp(`@127\\.0\\.0\\.1:${phone.sipPort}>`), 'the phone\'s Contact is relayed untouched');

    // The 200 the phone got lists its binding (echoed by the registrar through us).
    const okIn = phone.sipTrace().find((e) => e.direction === 'in' && /^SIP\/2\.0 200 /.test(e.firstLine) && /\r\nCSeq: \d+ REGISTER\r\n/.test(e.raw));
    assert.ok(okIn !== undefined, 'the phone received 200 for its REGISTER');
    assert.equal(okIn.src, sbc.hostPort('udp'));
    assert.match(okIn.raw, /\r\nContact: <[^>]+>;expires=60\r\n/);
  });
});
