/**
 * The embedded media relay end to end, with no rtpengine anywhere: the
 * softphone page (SIP.js in Chromium: SAVPF, ICE, DTLS-SRTP) ⇄ SBC with
 * `media.mode: embedded` (werift in-process) ⇄ plain-RTP phones behind a real
 * Kamailio. The relay turns the page's WebRTC into RTP/AVP and back, in proxy
 * and in B2BUA mode.
 *
 *   page ──WSS──► SBC ──UDP──► Kamailio ──► RtpUas (echo@example.com)
 *    ▲  DTLS-SRTP  │ relay on 127.0.0.5 │  plain RTP  ▲
 *    └─────────────┴────────────────────┴─────────────┘
 *
 * The relay's media address (127.0.0.5) differs from everyone else's
 * (127.0.0.1): an SDP that reaches the page or the phone with 127.0.0.1 in it
 * leaked the far end's media address. The echo phone (test/helpers/rtp-uas.ts)
 * echoes the page's fake-microphone beep, so the page hears energy; it counts
 * RTP per payload type and decodes RFC 4733 DTMF. baresip (proxy mode) is a
 * real phone with a 440 Hz sine.
 *
 * Runs inside the loopback-only network namespace (scripts/run-tests.mjs). On
 * failure: screenshots and console in test-output/e2e/.
 */
import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
import type { Browser } from 'playwright-core';
import { parseMessage } from '../../src/sip/parser.js';
import { startBaresip, type Baresip } from '../helpers/baresip.js';
import { launchChromium, SoftphonePage, waitForAudio } from '../helpers/browser.js';
import { behindKamailio, ensureWebBuilt, need, scenarios } from '../helpers/e2e-bed.js';
import { startKamailio, type RunningKamailio } from '../helpers/kamailio.js';
import { relayHolding as readRelay, type RelayHolding } from '../helpers/embedded-relay.js';
import { LeakCapture } from '../helpers/leak-check.js';
import { RtpUas, type RtpCall } from '../helpers/rtp-uas.js';
import { startSbc, type TestSbc } from '../helpers/sbc.js';

const DOMAIN = 'example.com';
const ALICE = `sip:alice@${DOMAIN}`;
const ECHO = `sip:echo@${DOMAIN}`;
/** The relay's own address: nobody else uses it, so any other address in an SDP is a leak. */
const MEDIA_ADDRESS = '127.0.0.5';
/** The relay's port range (below the kernel's ephemeral range, so no client socket takes them). */
const PORT_MIN = 24000;
const PORT_MAX = 24399;
/** The echo phone must have counted at least this many RTP packets from the page (20 ms each). */
const MIN_RTP = 50;

const IPV4 = /(?<![\d.])\d{1,3}(?:\.\d{1,3}){3}(?![\d.])/g;

/** The SDP body of a SIP message text, if it has one. */
function sdpOf(raw: string): string | undefined {
  const parsed = parseMessage(Buffer.from(raw, 'utf8'));
  if (!parsed.ok) return undefined;
  const type = parsed.value.headers.get('content-type') ?? '';
  if (!/application\/sdp/i.test(type) || parsed.value.body.length === 0) return undefined;
  return parsed.value.body.toString('utf8');
}

/** Every IPv4 address in an SDP (c=, o=, a=candidate, a=rtcp, anything). */
function addressesIn(sdp: string): string[] {
  return [...new Set(sdp.match(IPV4) ?? [])];
}

/** Ports an SDP points at: the m= line's and every candidate's. */
function portsIn(sdp: string): number[] {
  const ports = [...sdp.matchAll(/\r\nm=audio (\d+) /g)].map((m) => Number(m[1]));
  for (const c of sdp.matchAll(/\r\na=candidate:\S+ \d+ udp \d+ [\d.]+ (\d+) typ/gi)) ports.push(Number(c[1]));
  return ports;
}

/** The telephone-event/8000 payload type an SDP declares. */
function telephoneEventPt(sdp: string | undefined): number | undefined {
  const m = /\r\na=rtpmap:(\d+) telephone-event\/8000\b/i.exec(sdp ?? '');
  return m === null ? undefined : Number(m[1]);
}

/** Which payload types an RTP/AVP answer or offer lists on its m= line. */
function formatsOf(sdp: string): number[] {
  return (/\r\nm=audio \d+ [A-Z/]+ ([\d ]+)\r\n/.exec(sdp)?.[1] ?? '').split(' ').map(Number);
}

for (const mode of ['proxy', 'b2bua'] as const) {
  describe(`embedded media relay (${mode} mode): the page ⇄ SBC ⇄ plain-RTP phones, no rtpengine`, () => {
    let kam: RunningKamailio | undefined;
    let sbc: TestSbc | undefined;
    let uas: RtpUas | undefined;
    let browser: Browser | undefined;
    let alice: SoftphonePage | undefined;
    let phone: Baresip | undefined;
    let desk: Baresip | undefined;
    const pages: SoftphonePage[] = [];
    const capture = new LeakCapture();

    before(async () => {
      await ensureWebBuilt();
      kam = await startKamailio();
      sbc = await startSbc({
        mode,
        listen: [
          { transport: 'udp', address: '127.0.0.1', port: 0 },
          { transport: 'wss', address: '127.0.0.1', port: 0 },
        ],
        ...behindKamailio(kam.uri),
        media: { mode: 'embedded', embedded: { address: MEDIA_ADDRESS, ports: `${PORT_MIN}-${PORT_MAX}` } },
      });
      uas = await RtpUas.start({ user: 'echo', domain: DOMAIN });
      await uas.register({ address: kam.host, port: kam.port });
      browser = await launchChromium();
    });

    after(async () => {
      for (const page of pages) await page.close();
      await browser?.close().catch(() => undefined);
      await phone?.stop();
      await desk?.stop();
      uas?.close();
      await sbc?.stop().catch(() => undefined);
      await kam?.stop();
    });

    const wssPort = (): number => need(sbc, 'the SBC').listener('wss').boundPort;
    const scenario = scenarios(pages);

    /** The page, every WebSocket frame it receives captured, registered through the SBC. */
    const page = async (): Promise<SoftphonePage> => {
      if (alice !== undefined) return alice;
      const opened = await SoftphonePage.open(need(browser, 'Chromium'), `https://127.0.0.1:${wssPort()}/`, 'alice');
      pages.push(opened);
      capture.watchPage('alice', opened.page);
      await opened.register({ server: `wss://127.0.0.1:${wssPort()}`, aor: ALICE, displayName: 'Alice' });
      await opened.waitForState('registered');
      alice = opened;
      return opened;
    };

    /** How many media sessions the relay holds, as GET /api/engines tells an operator. */
    const relayHolding = (): Promise<RelayHolding> => readRelay(need(sbc, 'the SBC').adminUrl);

    const assertRelayHolds = async (what: string): Promise<void> => {
      const held = await relayHolding();
      assert.ok((held.sessions ?? 0) > 0, `${what}: GET /api/engines shows the embedded relay holding the call: ${JSON.stringify(held.raw)}`);
    };

    const assertRelayEmpty = async (what: string): Promise<void> => {
      // The BYE's media delete runs after the answer went out.
      await waitUntil(async () => (await relayHolding()).sessions === 0, 5000,
        async () => `${what}: the relay still holds sessions after the call ended: ${JSON.stringify((await relayHolding()).raw)}`);
    };

    /** Every SDP the page received since frame `from` names only the relay's address, on the relay's ports. */
    const assertPageSawOnlyRelay = (what: string, from = 0): void => {
      const sdps = capture.messages().slice(from).map((m) => sdpOf(m.raw)).filter((s): s is string => s !== undefined);
      assert.ok(sdps.length > 0, `${what}: the page received at least one SDP`);
      for (const sdp of sdps) {
        assert.deepEqual(addressesIn(sdp), [MEDIA_ADDRESS], `${what}: an SDP the page received names another address than the relay's:\n${sdp}`);
        for (const port of portsIn(sdp)) assert.ok(port >= PORT_MIN && port <= PORT_MAX, `${what}: port ${port} is not the relay's (${PORT_MIN}-${PORT_MAX}):\n${sdp}`);
        assert.match(sdp, /\r\na=candidate:/, `${what}: the relay offers ICE candidates:\n${sdp}`);
        assert.match(sdp, /\r\na=fingerprint:/, `${what}: the relay offers DTLS:\n${sdp}`);
      }
    };

    /** What the plain phone saw: RTP/AVP, no WebRTC attribute, only the relay's address and ports. */
    const assertPlainSdp = (sdp: string | undefined, what: string): void => {
      assert.ok(sdp !== undefined, `${what}: an SDP arrived`);
      assert.match(sdp, /\r\nm=audio \d+ RTP\/AVP [\d ]*\b0\b/, `${what} is RTP/AVP with PCMU:\n${sdp}`);
      assert.deepEqual(addressesIn(sdp), [MEDIA_ADDRESS], `${what} names another address than the relay's:\n${sdp}`);
      for (const port of portsIn(sdp)) assert.ok(port >= PORT_MIN && port <= PORT_MAX, `${what}: port ${port} is not the relay's (${PORT_MIN}-${PORT_MAX}):\n${sdp}`);
      for (const webrtc of ['a=fingerprint:', 'a=ice-ufrag:', 'a=candidate:', 'SAVPF', 'a=setup:']) {
        assert.ok(!sdp.includes(webrtc), `${what} still carries ${webrtc}:\n${sdp}`);
      }
    };

    /** The page hears audio (packets and energy growing) and the echo phone counts RTP from the relay. */
    const assertAudioBothWays = async (p: SoftphonePage, call: RtpCall, label: string): Promise<void> => {
      const receivedBefore = call.media.audioPacketsReceived;
      const heard = await waitForAudio(p);
      assert.ok(heard.after.inboundPackets > heard.before.inboundPackets, `${label}: the page receives audio packets`);
      assert.ok(heard.after.audioEnergy > heard.before.audioEnergy, `${label}: the page plays audio with energy (its own beep, echoed)`);
      await waitUntil(() => call.media.audioPacketsReceived >= receivedBefore + MIN_RTP, 10_000,
        () => `${label}: the echo phone received ${call.media.audioPacketsReceived - receivedBefore} audio packets, want ≥ ${MIN_RTP}; by payload type ${JSON.stringify([...call.media.payloadTypes])}`);
      const source = call.media.lastSource;
      assert.equal(source?.address, MEDIA_ADDRESS, `${label}: RTP reaches the phone from the relay's address`);
      assert.ok(source !== undefined && source.port >= PORT_MIN && source.port <= PORT_MAX, `${label}: RTP reaches the phone from a relay port, not ${source?.port}`);
    };

    /**
     * DTMF from the page's keypad reaches the phone as RFC 4733 telephone-event
     * with the payload type the phone's own SDP declared, and nothing arrives
     * with a payload type the phone never agreed to.
     */
    const assertDtmf = async (p: SoftphonePage, call: RtpCall, phoneSdp: string | undefined, label: string): Promise<void> => {
      const pt = telephoneEventPt(phoneSdp);
      assert.ok(pt !== undefined, `${label}: the phone's SDP declares telephone-event/8000:\n${phoneSdp}`);
      const start = call.media.digits;
      await p.dtmf('1');
      await waitUntil(() => call.media.digits === `${start}1`, 5000,
        () => `${label}: the echo phone decoded "${call.media.digits}", want "${start}1"; packets by payload type ${JSON.stringify([...call.media.payloadTypes])}, telephone-event is ${pt}`);
      await p.dtmf('#');
      await waitUntil(() => call.media.digits === `${start}1#`, 5000, () => `${label}: the echo phone decoded "${call.media.digits}", want "${start}1#"`);
      assert.deepEqual([...call.media.digitPayloadTypes], [pt], `${label}: the events came with the negotiated payload type ${pt}`);
      const agreed = new Set(formatsOf(phoneSdp!));
      const foreign = [...call.media.payloadTypes.keys()].filter((t) => !agreed.has(t));
      assert.deepEqual(foreign, [], `${label}: packets with payload types the phone's SDP (${[...agreed].join(' ')}) does not list: ${JSON.stringify([...call.media.payloadTypes])}`);
    };

    scenario('the page calls the echo phone: audio both ways, DTMF, hold and resume, only the relay\'s address in any SDP, the page hangs up', async () => {
      const p = await page();
      const echo = need(uas, 'the echo phone');
      const from = capture.messages().length;
      await p.call(ECHO);
      const call = await echo.nextIncomingCall();
      await p.waitForState('in call');
      assert.equal((await p.statusLine()).text, `In call with echo@${DOMAIN}`);
      const offer = call.remoteSdps[0];
      assertPlainSdp(offer, 'the offer the echo phone received');
      await assertRelayHolds('call from the page');

      await assertAudioBothWays(p, call, 'call from the page');
      // The phone mirrors the offer's telephone-event payload type in its answer.
      await assertDtmf(p, call, offer, 'call from the page');

      // Hold: the page's re-INVITE (sendonly) through the relay; the phone answers recvonly.
      await p.hold(true);
      assert.equal((await p.statusLine()).text, `On hold with echo@${DOMAIN}`);
      const held = call.remoteSdps.at(-1);
      assertPlainSdp(held, 'the hold re-INVITE');
      assert.notEqual(held, offer, 'a re-INVITE reached the phone');
      assert.match(held!, /\r\na=sendonly\r\n/, 'the page put the phone on hold');
      await p.hold(false);
      assert.equal((await p.statusLine()).text, `In call with echo@${DOMAIN}`);
      const resumed = call.remoteSdps.at(-1);
      assertPlainSdp(resumed, 'the resume re-INVITE');
      assert.notEqual(resumed, held, 'a second re-INVITE resumed the call');
      assert.doesNotMatch(resumed!, /\r\na=(sendonly|inactive|recvonly)\r\n/, 'the resume offer sends again');
      await assertAudioBothWays(p, call, 'after resume');
      await assertDtmf(p, call, offer, 'after resume');
      assertPageSawOnlyRelay('call from the page', from);

      await p.hangup();
      await p.waitForState('ended');
      assert.equal((await p.statusLine()).text, 'Call ended: hung up');
      await call.ended;
      assert.equal(call.endedBy, 'remote', 'the echo phone received the BYE');
      await assertRelayEmpty('after the page hung up');
    });

    scenario('the echo phone hangs up a call from the page: the page shows the call ended and the relay frees the session', async () => {
      const p = await page();
      const echo = need(uas, 'the echo phone');
      await p.call(ECHO);
      const call = await echo.nextIncomingCall();
      await p.waitForState('in call');
      await assertAudioBothWays(p, call, 'second call');

      const ok = await echo.hangup(call);
      assert.equal(ok.status, 200, 'the page answered the BYE');
      await p.waitForState('ended');
      assert.equal((await p.statusLine()).text, 'Call ended: remote hung up');
      await assertRelayEmpty('after the phone hung up');
    });

    scenario('the echo phone calls the page through Kamailio and our Path: the page answers, audio both ways, DTMF, the page hangs up', async () => {
      const p = await page();
      const echo = need(uas, 'the echo phone');
      const registrar = need(kam, 'Kamailio');
      const from = capture.messages().length;
      const call = await echo.invite(ALICE, { address: registrar.host, port: registrar.port });
      await p.waitForState('ringing');
      await p.answer();
      await call.established;
      await p.waitForState('in call');
      assert.equal(call.finalStatus, 200);
      const answer = call.remoteSdps[0];
      assertPlainSdp(answer, 'the page\'s answer as the echo phone received it');
      assertPageSawOnlyRelay('the offer toward the page', from);
      await assertRelayHolds('call to the page');

      await assertAudioBothWays(p, call, 'call to the page');
      // The phone offered telephone-event 101: the page's DTMF must arrive as 101.
      await assertDtmf(p, call, answer, 'call to the page');
      assert.deepEqual([...call.media.digitPayloadTypes], [101], 'DTMF arrives with the payload type the phone offered');

      await p.hangup();
      await p.waitForState('ended');
      await call.ended;
      assert.equal(call.endedBy, 'remote', 'the echo phone received the page\'s BYE');
      await assertRelayEmpty('after the page hung up a call it answered');
    });

    scenario('the echo phone calls the page and hangs up: the page shows the call ended and the relay frees the session', async () => {
      const p = await page();
      const echo = need(uas, 'the echo phone');
      const registrar = need(kam, 'Kamailio');
      const call = await echo.invite(ALICE, { address: registrar.host, port: registrar.port });
      await p.waitForState('ringing');
      await p.answer();
      await call.established;
      await p.waitForState('in call');
      await assertAudioBothWays(p, call, 'call to the page');
      const ok = await echo.hangup(call);
      assert.equal(ok.status, 200, 'the page answered the BYE');
      await p.waitForState('ended');
      assert.equal((await p.statusLine()).text, 'Call ended: remote hung up');
      await assertRelayEmpty('after the phone hung up a call to the page');
    });

    scenario('two pages call each other (the dialog crosses the SBC twice, WebRTC ⇄ RTP ⇄ WebRTC): audio both ways, both relay sessions freed', async () => {
      const p = await page();
      const bob = await SoftphonePage.open(need(browser, 'Chromium'), `https://127.0.0.1:${wssPort()}/`, 'bob');
      pages.push(bob);
      capture.watchPage('bob', bob.page);
      await bob.register({ server: `wss://127.0.0.1:${wssPort()}`, aor: `sip:bob@${DOMAIN}` });
      await bob.waitForState('registered');
      const from = capture.messages().length;
      try {
        await p.call(`sip:bob@${DOMAIN}`);
        await bob.waitForState('ringing');
        await bob.answer();
        await Promise.all([p.waitForState('in call'), bob.waitForState('in call')]);
        for (const [who, heard] of [['alice', await waitForAudio(p)], ['bob', await waitForAudio(bob)]] as const) {
          assert.ok(heard.after.inboundPackets > heard.before.inboundPackets, `${who} receives audio packets`);
          assert.ok(heard.after.audioEnergy > heard.before.audioEnergy, `${who} plays the other page's beep with energy`);
        }
        assertPageSawOnlyRelay('the SDPs both pages received', from);
        await bob.hangup();
        await Promise.all([p.waitForState('ended'), bob.waitForState('ended')]);
        assert.equal((await p.statusLine()).text, 'Call ended: remote hung up');
        await assertRelayEmpty('after the pages\' call');
      } finally {
        pages.splice(pages.indexOf(bob), 1);
        await bob.close();
      }
    });

    if (mode === 'proxy') {
      scenario('baresip (a real UDP phone) calls the page through the SBC, Kamailio and the SBC again: a phone and a browser talk, audio both ways', async () => {
        const p = await page();
        const sbcUdp = need(sbc, 'the SBC').hostPort('udp');
        // The SBC as outbound proxy: the INVITE for alice enters on UDP, goes to
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
        await assertRelayHolds('baresip\'s call');

        const heard = await waitForAudio(p);
        assert.ok(heard.after.inboundPackets > heard.before.inboundPackets, 'the page receives baresip\'s audio');
        assert.ok(heard.after.audioEnergy > heard.before.audioEnergy, 'the page plays baresip\'s sine with energy');
        // baresip: CALL_RTPESTAB on the first RTP packet from the far end, then its
        // status line shows the receive bit rate (`audio=TX/RX (bit/s)`): PCMU is 64 kbit/s.
        await phone.waitEvent('CALL_RTPESTAB', 10_000);
        const b = phone;
        await waitUntil(() => (rxBitrate(b.output()) ?? 0) >= 48_000, 10_000,
          () => `baresip's receive bit rate is ${rxBitrate(b.output()) ?? 'not shown'}, want ≥ 48000 (PCMU from the page)`);

        await p.hangup();
        await p.waitForState('ended');
        const closed = await phone.waitEvent('CALL_CLOSED', 5000);
        assert.equal(closed.id, established.id, 'baresip\'s call ended with the page\'s BYE');
        await assertRelayEmpty('after baresip\'s call');
      });

      scenario('the page calls baresip registered at Kamailio (a desk phone behind the SBC): baresip answers, audio both ways, baresip hangs up', async () => {
        const p = await page();
        const registrar = need(kam, 'Kamailio');
        // A phone inside: registered at Kamailio directly, answering by itself; PCMU only.
        desk = await startBaresip({ account: `<sip:dave@${DOMAIN}>;outbound1="sip:${registrar.host}:${registrar.port};transport=udp";regint=60;answermode=auto;audio_codecs=PCMU` });
        const d = desk;
        await d.waitEvent('REGISTER_OK', 10_000);
        const from = capture.messages().length;
        await p.call(`sip:dave@${DOMAIN}`);
        await d.waitEvent('CALL_ESTABLISHED', 15_000);
        await p.waitForState('in call');
        const invite = d.sipTrace().find((e) => e.direction === 'in' && e.firstLine.startsWith('INVITE '));
        assert.ok(invite !== undefined, 'baresip received the INVITE');
        assertPlainSdp(invite.raw.slice(invite.raw.indexOf('\r\n\r\n') + 4), 'the offer baresip received');
        assertPageSawOnlyRelay('the answer from baresip as the page received it', from);
        await assertRelayHolds('the page\'s call to baresip');

        const heard = await waitForAudio(p);
        assert.ok(heard.after.inboundPackets > heard.before.inboundPackets, 'the page receives baresip\'s audio');
        assert.ok(heard.after.audioEnergy > heard.before.audioEnergy, 'the page plays baresip\'s sine with energy');
        await d.waitEvent('CALL_RTPESTAB', 10_000);
        await waitUntil(() => (rxBitrate(d.output()) ?? 0) >= 48_000, 10_000,
          () => `baresip's receive bit rate is ${rxBitrate(d.output()) ?? 'not shown'}, want ≥ 48000 (PCMU from the page)`);

        await d.hangup();
        await p.waitForState('ended');
        assert.equal((await p.statusLine()).text, 'Call ended: remote hung up');
        await assertRelayEmpty('after baresip hung up the page\'s call');
      });

      // The issue asks the relay to forward or generate minimal SR/RR on the
      // plain side; a plain phone that never hears RTCP cannot report quality
      // and some gateways end such calls as dead.
      scenario('the relay sends RTCP reports to a plain phone: baresip reports received RTCP during a call with the page', async () => {
        const p = await page();
        const sbcUdp = need(sbc, 'the SBC').hostPort('udp');
        phone ??= await startBaresip({ account: `<sip:carol@${DOMAIN}>;outbound1="sip:${sbcUdp};transport=udp";regint=0;answermode=auto;audio_codecs=PCMU` });
        const b = phone;
        const seen = b.events.length;
        await b.dial(ALICE);
        await p.waitForState('ringing');
        await p.answer();
        await b.waitEvent('CALL_ESTABLISHED', 15_000, (e) => b.events.indexOf(e) >= seen);
        await p.waitForState('in call');
        try {
          // RTCP every 5 s (RFC 3550 §6.2 minimum); baresip raises CALL_RTCP per report received.
          await b.waitEvent('CALL_RTCP', 15_000, (e) => b.events.indexOf(e) >= seen);
        } finally {
          await p.hangup();
          await p.waitForState('ended');
        }
      });
    }
  });
}

/** The receive bit rate in baresip's last status line (`audio=TX/RX (bit/s)`), if it printed one. */
function rxBitrate(output: string): number | undefined {
  const tail = output.slice(-2000);
  const all = [...tail.matchAll(/audio=(\d+)\/(\d+) \(bit\/s\)/g)];
  const last = all.at(-1);
  return last === undefined ? undefined : Number(last[2]);
}

async function waitUntil(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: () => string | Promise<string>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${await what()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
