/**
 * Browser media end to end through a real rtpengine: the softphone page
 * (SIP.js in Chromium, WebRTC: SAVPF, ICE, DTLS) ⇄ SBC (WSS) ⇄ rtpengine ⇄
 * plain-RTP phones behind Kamailio. The SBC turns the page's WebRTC SDP into
 * RTP/AVP toward the backend and back; the audio must flow both ways.
 *
 *   page ──WSS──► SBC ──UDP──► Kamailio ──► RtpUas (echo@example.com, registered at Kamailio)
 *   page ◄──────── SBC ◄─Path── Kamailio ◄── RtpUas / baresip
 *
 * The plain-RTP phone (test/helpers/rtp-uas.ts) echoes the page's fake-mic
 * beep back, so the page hears energy; it counts RTP and decodes RFC 4733
 * DTMF. baresip sends a 440 Hz sine. Runs inside the loopback-only network
 * namespace (scripts/run-tests.mjs). On failure: screenshots and console in
 * test-output/e2e/, the engine's log tail in the error.
 */
import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
import type { Browser } from 'playwright-core';
import { NgClient, replyCalls } from '../../src/media/rtpengine/index.js';
import { startBaresip, type Baresip, type BaresipEvent } from '../helpers/baresip.js';
import { launchChromium, SoftphonePage, waitForAudio } from '../helpers/browser.js';
import { behindKamailio, ensureWebBuilt, need, scenarios } from '../helpers/e2e-bed.js';
import { startKamailio, type RunningKamailio } from '../helpers/kamailio.js';
import { RtpUas, type RtpCall } from '../helpers/rtp-uas.js';
import { startRtpengine, type RunningRtpengine } from '../helpers/rtpengine.js';
import { startSbc, type TestSbc } from '../helpers/sbc.js';

const DOMAIN = 'example.com';
const ALICE = `sip:alice@${DOMAIN}`;
const ECHO = `sip:echo@${DOMAIN}`;
const BOB = `sip:bob@${DOMAIN}`;
/** The echo phone must have counted at least this many RTP packets from the page (20 ms each). */
const MIN_RTP = 50;
const ENGINE_LOG_TAIL = 6000;

describe('browser media through the SBC and a real rtpengine', () => {
  let engine: RunningRtpengine | undefined;
  let kam: RunningKamailio | undefined;
  let sbc: TestSbc | undefined;
  let ng: NgClient | undefined;
  let uas: RtpUas | undefined;
  let browser: Browser | undefined;
  let alice: SoftphonePage | undefined;
  let phone: Baresip | undefined;
  const pages: SoftphonePage[] = [];

  before(async () => {
    await ensureWebBuilt();
    engine = await startRtpengine({ ports: 200 });
    kam = await startKamailio();
    sbc = await startSbc({
      listen: [
        { transport: 'udp', address: '127.0.0.1', port: 0 },
        { transport: 'wss', address: '127.0.0.1', port: 0 },
      ],
      ...behindKamailio(kam.uri),
      media: { mode: 'rtpengine', rtpengine: { engines: [{ url: engine.udpUrl, weight: 1 }] } },
    });
    ng = new NgClient(engine.udpUrl, { timeoutMs: 1000, tries: 2 });
    // The plain-RTP phone registers at Kamailio directly, as a phone inside the network would.
    uas = await RtpUas.start({ user: 'echo', domain: DOMAIN });
    await uas.register({ address: kam.host, port: kam.port });
    browser = await launchChromium();
  });

  after(async () => {
    for (const page of pages) await page.close();
    await browser?.close().catch(() => undefined);
    await phone?.stop();
    uas?.close();
    ng?.close();
    await sbc?.stop().catch(() => undefined);
    await kam?.stop();
    await engine?.stop();
  });

  const wssUrl = (): string => `wss://127.0.0.1:${need(sbc, 'the SBC').listener('wss').boundPort}`;

  const scenario = scenarios(pages, {
    explain: (err) => new Error(`${err.message}\n--- rtpengine log (tail) ---\n${engine?.logs().slice(-ENGINE_LOG_TAIL) ?? '(no engine)'}`, { cause: err }),
  });

  /** The page, opened and registered through the SBC (its Path lets Kamailio reach it). */
  const page = async (): Promise<SoftphonePage> => {
    if (alice !== undefined) return alice;
    const opened = await SoftphonePage.open(need(browser, 'Chromium'), `https://127.0.0.1:${need(sbc, 'the SBC').listener('wss').boundPort}/`, 'alice');
    pages.push(opened);
    await opened.register({ server: wssUrl(), aor: ALICE, displayName: 'Alice' });
    await opened.waitForState('registered');
    alice = opened;
    return opened;
  };

  const engineCalls = async (): Promise<string[]> => replyCalls(await need(ng, 'the ng client').request('list'));
  /**
   * The engine sessions of a SIP call: the SBC names a second pass of one
   * dialog through it (a spiral via Kamailio) `Call-ID~N`.
   */
  const engineSessionsOf = async (callId: string): Promise<string[]> =>
    (await engineCalls()).filter((c) => c === callId || c.startsWith(`${callId}~`));

  /**
   * The engine's `list` is empty once the call ended: its sessions were deleted
   * (asynchronously after the BYE) and no earlier call leaked one.
   */
  const assertEngineSessionGone = async (callId: string): Promise<void> => {
    await waitUntil(async () => (await engineSessionsOf(callId)).length === 0, 5000,
      async () => `rtpengine still lists ${(await engineSessionsOf(callId)).join(', ')} after the call ended`);
    assert.deepEqual(await engineCalls(), [], 'rtpengine holds no session at all');
  };

  /** The page hears audio (packets and energy growing) and the echo phone counts RTP from it. */
  const assertAudioBothWays = async (p: SoftphonePage, call: RtpCall, label: string): Promise<void> => {
    const receivedBefore = call.media.audioPacketsReceived;
    const heard = await waitForAudio(p);
    assert.ok(heard.after.inboundPackets > heard.before.inboundPackets, `${label}: the page receives audio packets`);
    assert.ok(heard.after.audioEnergy > heard.before.audioEnergy, `${label}: the page plays audio with energy (its own beep, echoed)`);
    await waitUntil(() => call.media.audioPacketsReceived >= receivedBefore + MIN_RTP, 10_000,
      () => `${label}: the echo phone received ${call.media.audioPacketsReceived - receivedBefore} RTP packets, want ≥ ${MIN_RTP}`);
    assert.equal(call.media.lastSource?.address, '127.0.0.1', `${label}: RTP reaches the phone from the engine on loopback`);
    assert.notEqual(call.media.lastSource?.port, undefined);
  };

  /** Kamailio's lookup() sent the call's INVITE to the page's WebSocket Contact by way of our Path. */
  const assertSentAlongPath = async (callId: string): Promise<void> => {
    // With workers the Path names the port of the worker holding the page's flow.
    const sbcUdpPorts = need(sbc, 'the SBC').ports('udp').join('|');
    const branch = await need(kam, 'Kamailio').waitForEvent(new RegExp(`^branch \\d+ ci=${escapeRegExp(callId)} ruri=\\S+;transport=ws du=sip:[^@ ]+@127\\.0\\.0\\.1:(${sbcUdpPorts});`));
    assert.match(branch, /;lr\b/, `the branch went along the Path: ${branch}`);
  };

  /** What the plain phone saw: an RTP/AVP SDP without any WebRTC attribute. */
  const assertPlainSdp = (sdp: string | undefined, what: string): void => {
    assert.ok(sdp !== undefined, `${what}: an SDP arrived`);
    assert.match(sdp, /\r\nm=audio \d+ RTP\/AVP [\d ]*\b0\b/, `${what} is RTP/AVP with PCMU:\n${sdp}`);
    assert.match(sdp, /\r\nc=IN IP4 127\.0\.0\.1\r\n/, `${what} points at loopback`);
    const port = Number(/\r\nm=audio (\d+) /.exec(sdp)?.[1]);
    const { portMin, portMax } = need(engine, 'rtpengine');
    assert.ok(port >= portMin && port <= portMax, `${what}: the media port ${port} is the engine's (${portMin}-${portMax}), not the far end's`);
    for (const webrtc of ['a=fingerprint:', 'a=ice-ufrag:', 'a=candidate:', 'SAVPF']) {
      assert.ok(!sdp.includes(webrtc), `${what} still carries ${webrtc}:\n${sdp}`);
    }
  };

  scenario('the page calls the echo phone: audio both ways through rtpengine, DTMF, hold and resume, hang up from the page', async () => {
    const p = await page();
    const echo = need(uas, 'the echo phone');
    await p.call(ECHO);
    const call = await echo.nextIncomingCall();
    await p.waitForState('in call');
    assert.equal((await p.statusLine()).text, `In call with echo@${DOMAIN}`);
    assertPlainSdp(call.remoteSdps[0], 'the offer the echo phone received');
    assert.ok((await engineSessionsOf(call.callId)).length > 0, 'rtpengine holds the call');

    await assertAudioBothWays(p, call, 'call from the page');

    // DTMF from the page's keypad travels as RFC 4733 telephone-events through the engine.
    await p.dtmf('1');
    await waitUntil(() => call.media.digits === '1', 5000, () => `the echo phone decoded "${call.media.digits}", want "1"`);
    await p.dtmf('#');
    await waitUntil(() => call.media.digits === '1#', 5000, () => `the echo phone decoded "${call.media.digits}", want "1#"`);

    // Hold: a re-INVITE through SBC, Kamailio and the engine; the phone sees sendonly and answers recvonly.
    await p.hold(true);
    assert.equal((await p.statusLine()).text, `On hold with echo@${DOMAIN}`);
    const held = call.remoteSdps.at(-1);
    assertPlainSdp(held, 'the hold re-INVITE');
    assert.match(held!, /\r\na=sendonly\r\n/, 'the page put the phone on hold');
    await p.hold(false);
    assert.equal((await p.statusLine()).text, `In call with echo@${DOMAIN}`);
    const resumed = call.remoteSdps.at(-1);
    assertPlainSdp(resumed, 'the resume re-INVITE');
    assert.ok(resumed !== held, 'a second re-INVITE resumed the call');
    assert.doesNotMatch(resumed!, /\r\na=(sendonly|inactive)\r\n/, 'the resume offer sends again');
    await assertAudioBothWays(p, call, 'after resume');

    await p.hangup();
    await p.waitForState('ended');
    assert.equal((await p.statusLine()).text, 'Call ended: hung up');
    await call.ended;
    assert.equal(call.endedBy, 'remote', 'the echo phone received the BYE');
    await assertEngineSessionGone(call.callId);
  });

  scenario('the echo phone hangs up: the page shows the call ended and the engine session is deleted', async () => {
    const p = await page();
    const echo = need(uas, 'the echo phone');
    await p.call(ECHO);
    const call = await echo.nextIncomingCall();
    await p.waitForState('in call');
    assert.ok((await engineSessionsOf(call.callId)).length > 0, 'rtpengine holds the call');
    await assertAudioBothWays(p, call, 'second call');

    const ok = await echo.hangup(call);
    assert.equal(ok.status, 200, 'the page answered the BYE');
    await p.waitForState('ended');
    assert.equal((await p.statusLine()).text, 'Call ended: remote hung up');
    assert.match(await p.page.locator('#call-log li').first().innerText(), /echo@example\.com.*remote hung up/);
    await assertEngineSessionGone(call.callId);
  });

  scenario('the echo phone calls the page through Kamailio and our Path: the page rings, answers, audio both ways, hangs up', async () => {
    const p = await page();
    const echo = need(uas, 'the echo phone');
    const registrar = need(kam, 'Kamailio');
    const call = await echo.invite(ALICE, { address: registrar.host, port: registrar.port });
    await p.waitForState('ringing');
    assert.ok(await p.page.locator('#incoming').isVisible(), 'the page shows the incoming call panel');
    assert.match(await p.page.locator('#incoming-caller').innerText(), /^Incoming call from echo@example\.com$/);
    await p.answer();
    await call.established;
    await p.waitForState('in call');
    assert.equal(call.finalStatus, 200);
    await assertSentAlongPath(call.callId);
    assertPlainSdp(call.remoteSdps[0], 'the page\'s answer as the echo phone received it');
    assert.ok((await engineSessionsOf(call.callId)).length > 0, 'rtpengine holds the call');

    await assertAudioBothWays(p, call, 'call to the page');

    await p.hangup();
    await p.waitForState('ended');
    await call.ended;
    assert.equal(call.endedBy, 'remote', 'the echo phone received the page\'s BYE');
    await assertEngineSessionGone(call.callId);
  });

  scenario('baresip (a UDP phone) calls the page\'s AOR through the SBC, Kamailio and the SBC again: audio both ways', async () => {
    const p = await page();
    const sbcUdp = need(sbc, 'the SBC').hostPort('udp');
    // The SBC as outbound proxy: the INVITE for alice@example.com enters on UDP, goes to
    // Kamailio, whose lookup sends it back to us along the page's Path (a spiral).
    phone = await startBaresip({ account: `<sip:carol@${DOMAIN}>;outbound1="sip:${sbcUdp};transport=udp";regint=0;answermode=auto;audio_codecs=PCMU` });
    await phone.dial(ALICE);
    await p.waitForState('ringing');
    assert.match(await p.page.locator('#incoming-caller').innerText(), /^Incoming call from carol@example\.com$/);
    await p.answer();
    const established = await phone.waitEvent('CALL_ESTABLISHED', 15_000);
    await p.waitForState('in call');

    const answer = phone.sipTrace().find((e) => e.direction === 'in' && /^SIP\/2\.0 200 /.test(e.firstLine) && /\r\nCSeq: \d+ INVITE\r\n/i.test(e.raw));
    assert.ok(answer !== undefined, 'baresip received the 200 to its INVITE');
    assertPlainSdp(answer.raw.slice(answer.raw.indexOf('\r\n\r\n') + 4), 'the page\'s answer as baresip received it');
    const callId = /\r\nCall-ID: *([^\r]+)\r\n/i.exec(answer.raw)?.[1] ?? '';
    assert.ok((await engineSessionsOf(callId)).length > 0, `rtpengine holds baresip's call ${callId}`);
    const invite = phone.sipTrace().find((e) => e.direction === 'out' && e.firstLine.startsWith('INVITE '));
    assert.equal(invite?.dst, sbcUdp, 'baresip sent its INVITE to the SBC');
    await assertSentAlongPath(callId);

    const heard = await waitForAudio(p);
    assert.ok(heard.after.inboundPackets > heard.before.inboundPackets, 'the page receives baresip\'s audio');
    assert.ok(heard.after.audioEnergy > heard.before.audioEnergy, 'the page plays baresip\'s sine with energy');
    // baresip reports, with each RTCP packet it receives (every few seconds), how many RTP packets arrived.
    const rtcp = await phone.waitEvent('CALL_RTCP', 15_000, (e) => rtpReceived(e) >= MIN_RTP);
    assert.ok(rtpReceived(rtcp) >= MIN_RTP, 'baresip receives the page\'s audio');

    await p.hangup();
    await p.waitForState('ended');
    const closed = await phone.waitEvent('CALL_CLOSED', 5000);
    assert.equal(closed.id, established.id, 'baresip\'s call ended with the page\'s BYE');
    await assertEngineSessionGone(callId);
  });
  scenario('two pages call each other through the engine (the dialog crosses the SBC twice): audio both ways, sessions deleted', async () => {
    const p = await page();
    const bob = await SoftphonePage.open(need(browser, 'Chromium'), `https://127.0.0.1:${need(sbc, 'the SBC').listener('wss').boundPort}/`, 'bob');
    pages.push(bob);
    await bob.register({ server: wssUrl(), aor: BOB });
    await bob.waitForState('registered');
    const before = new Set(await engineCalls());

    await p.call(BOB);
    await bob.waitForState('ringing');
    await bob.answer();
    await Promise.all([p.waitForState('in call'), bob.waitForState('in call')]);
    const sessions = (await engineCalls()).filter((c) => !before.has(c));
    assert.ok(sessions.length >= 1, 'rtpengine holds the call');
    const callId = sessions[0]!.replace(/~\d+$/, '');
    for (const [who, heard] of [['alice', await waitForAudio(p)], ['bob', await waitForAudio(bob)]] as const) {
      assert.ok(heard.after.inboundPackets > heard.before.inboundPackets, `${who} receives audio packets`);
      assert.ok(heard.after.audioEnergy > heard.before.audioEnergy, `${who} plays the other page's beep with energy`);
    }

    await bob.hangup();
    await Promise.all([p.waitForState('ended'), bob.waitForState('ended')]);
    assert.equal((await p.statusLine()).text, 'Call ended: remote hung up');
    await assertEngineSessionGone(callId);
  });
});

/** RTP packets baresip counted from the far end, from a CALL_RTCP event's `rtcp_stats.rx.sent`. */
function rtpReceived(event: BaresipEvent): number {
  const stats = event['rtcp_stats'] as { rx?: { sent?: unknown } } | undefined;
  return typeof stats?.rx?.sent === 'number' ? stats.rx.sent : 0;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

async function waitUntil(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: () => string | Promise<string>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${await what()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
