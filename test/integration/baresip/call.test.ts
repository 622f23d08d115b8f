/**
 * A real phone (baresip over UDP) calls through the SBC to a scripted UAS in
 * the backend group. Media mode is passthrough: the SDP is untouched and RTP
 * flows phone → UAS directly. Assertions are on what the phone reported
 * (ctrl_tcp events) and what the UAS received.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startBaresip, type Baresip } from '../../helpers/baresip.js';
import { portPattern, startSbc, type TestSbc } from '../../helpers/sbc.js';
import type { Received } from '../../helpers/sip-peer.js';
import { ScriptedBackend } from './backend.js';

const isInvite = (r: Received): boolean => r.msg.kind === 'request' && r.msg.method === 'INVITE';

describe('baresip over UDP calls through the SBC', () => {
  let backend: ScriptedBackend;
  let sbc: TestSbc;
  let phone: Baresip;
  let sbcUdp: { address: string; port: number };

  before(async () => {
    backend = await ScriptedBackend.start();
    sbc = await startSbc({
      backends: { default: { probe: { intervalSeconds: 0 }, targets: [{ uri: backend.uri }] } },
      media: { mode: 'passthrough' },
    });
    sbcUdp = { address: '127.0.0.1', port: sbc.listener('udp').boundPort };
    phone = await startBaresip({ account: `<sip:carol@${sbc.hostPort('udp')};transport=udp>;regint=0;answermode=auto;audio_codecs=PCMU` });
  });
  after(async () => {
    // The phone first: it may still send BYE or un-REGISTER through the SBC.
    await phone?.stop();
    await sbc?.stop();
    backend?.close();
  });

  test('call is established via our Via and Record-Route, RTP reaches the UAS, hangup from the phone sends BYE through us', async () => {
    await phone.dial(`sip:bob@${sbc.hostPort('udp')}`);
    const established = await phone.waitEvent('CALL_ESTABLISHED', 10_000);
    assert.equal(established.direction, 'outgoing');

    const inv = backend.peer.received.find(isInvite);
    assert.ok(inv !== undefined, 'the UAS got the INVITE');
    const vias = inv.msg.vias()!;
    assert.ok(isOurs(sbc, vias[0]!.host, vias[0]!.port), `top Via is the SBC (${vias[0]!.host}:${vias[0]!.port})`);
    assert.equal(vias.length, 2, 'our Via above the phone\'s');
    assert.equal(vias[1]!.port, phone.sipPort, 'the phone\'s Via below ours');
    const rr = inv.msg.headers.values('record-route');
    assert.ok(rr.length >= 1, 'Record-Route present');
    assert.ok(rr.every((v) => new RegExp(`[@:]127\\.0\\.0\\.1:${portPattern(sbc, 'udp')}[;>]`).test(v) && /;lr\b/.test(v)), `Record-Route is ours with lr: ${rr.join(' | ')}`);
    assert.match(inv.raw, /\r\nm=audio \d+ RTP\/AVP 0\b/, 'passthrough: the phone\'s PCMU offer arrives as sent');
    assert.match(inv.raw, /\r\nc=IN IP4 127\.0\.0\.1\r\n/);

    // The phone's ACK for our 200 follows the route set to the UAS.
    await backend.peer.next((r) => r.msg.kind === 'request' && r.msg.method === 'ACK' && r.msg.callId === inv.msg.callId, 5000);

    // Media: the phone streams PCMU (20 ms packets) straight to the UAS's port.
    await waitFor(() => backend.rtpPackets >= 25, 5000, () => `RTP packets at the UAS: ${backend.rtpPackets}`);

    await phone.hangup();
    const bye = await backend.peer.next((r) => r.msg.kind === 'request' && r.msg.method === 'BYE' && r.msg.callId === inv.msg.callId, 5000);
    const byeVia = bye.msg.topVia()!;
    assert.ok(isOurs(sbc, byeVia.host, byeVia.port), `BYE came through the SBC (${byeVia.host}:${byeVia.port})`);
    assert.equal(bye.msg.routes()!.length, 0, 'our Route popped from the BYE');
    const closed = await phone.waitEvent('CALL_CLOSED', 5000);
    assert.equal(closed.id, established.id);
    // The UAS's 200 for the BYE reached the phone (its own SIP trace; CALL_CLOSED does not wait for it).
    const byeOkIn = (): boolean => phone.sipTrace().some((e) => e.direction === 'in' && /^SIP\/2\.0 200 /.test(e.firstLine) && /\r\nCSeq: \d+ BYE\r\n/i.test(e.raw) && e.raw.includes(`Call-ID: ${inv.msg.callId}`));
    await waitFor(byeOkIn, 5000, () => 'the phone received 200 for its BYE');
  });

  test('a call torn down by the UAS: BYE follows our Record-Route to the phone', async () => {
    const before = backend.answered.size;
    await phone.dial(`sip:bob@${sbc.hostPort('udp')}`);
    const established = await phone.waitEvent('CALL_ESTABLISHED', 10_000);
    await waitFor(() => backend.answered.size > before, 2000, () => 'the UAS answered a second INVITE');
    const dialog = [...backend.answered.values()].at(-1)!;
    assert.ok(dialog.routeSet.length >= 1, 'the UAS learnt a route set from our Record-Route');
    await backend.peer.next((r) => r.msg.kind === 'request' && r.msg.method === 'ACK' && r.msg.callId === dialog.callId, 5000);

    const ok = await backend.bye(dialog, sbcUdp);
    assert.equal((ok.msg as { status: number }).status, 200, 'the phone answered the BYE 200');
    assert.equal(ok.msg.vias()!.length, 1, 'our Via stripped from the response');
    const closed = await phone.waitEvent('CALL_CLOSED', 5000);
    assert.equal(closed.id, established.id);

    const byeIn = phone.sipTrace().find((e) => e.direction === 'in' && e.firstLine.startsWith('BYE ') && e.raw.includes(`Call-ID: ${dialog.callId}`));
    assert.ok(byeIn !== undefined, 'the phone received the BYE');
    assert.equal(byeIn.src, sbc.hostPort('udp'), 'from the SBC\'s UDP listener');
    assert.doesNotMatch(byeIn.raw, /\r\nRoute:/i, 'no Route left for the phone');
  });
});

/** An address of the gateway's on UDP: its listener, or with workers a worker's own port (its Via names it). */
function isOurs(sbc: TestSbc, host: string, port: number | undefined): boolean {
  return host === sbc.listener('udp').address && sbc.ports('udp').includes(port ?? 0);
}

async function waitFor(cond: () => boolean, timeoutMs: number, what: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
