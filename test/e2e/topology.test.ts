/**
 * Topology hiding in proxy mode, end to end with a real browser: the
 * softphone page (SIP.js in Chromium) talks WSS to the SBC, which reaches a
 * real Kamailio (registrar and proxy) from its own inside UDP listener on
 * 127.0.0.4, and anchors media in a real rtpengine whose inside interface is
 * 127.0.0.3. Behind Kamailio: the echo phone (plain RTP) and a busy phone.
 *
 *   page ──WSS 127.0.0.1──► SBC ──UDP 127.0.0.4──► Kamailio ──► echo phone / busy phone
 *                            └─ng─► rtpengine  pub/127.0.0.1 ⇄ priv/127.0.0.3
 *
 * Every WebSocket frame the page receives (register, call out, hold and
 * resume, call in, BYE, failure responses) is searched for what must stay
 * inside: the inside addresses, Kamailio's, the phones' and the inside
 * listener's ports, the phones' Call-IDs and Contacts, Kamailio's name, the
 * phone's RTP ports. test/helpers/kamailio.ts binds Kamailio to 127.0.0.1
 * only, and the phones (RtpUas, UdpUa) bind 127.0.0.1 too, so for them the
 * ports, Call-IDs and Contacts are the secrets. After each call no topology
 * record is left in the state store.
 *
 * Runs inside the loopback-only network namespace (scripts/run-tests.mjs).
 */
import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
import type { Browser } from 'playwright-core';
import { parseMessage } from '../../src/sip/parser.js';
import type { SipMessage } from '../../src/sip/message.js';
import { launchChromium, SoftphonePage, waitForAudio } from '../helpers/browser.js';
import { behindKamailio, ensureWebBuilt, need, scenarios } from '../helpers/e2e-bed.js';
import { freePortInRange } from '../helpers/free-port.js';
import { startKamailio, type RunningKamailio } from '../helpers/kamailio.js';
import { describeLeaks, findLeaks, LeakCapture } from '../helpers/leak-check.js';
import { RtpUas, type RtpCall } from '../helpers/rtp-uas.js';
import { startRtpengine, type RunningRtpengine } from '../helpers/rtpengine.js';
import { startSbc, topologyRecords, type TestSbc } from '../helpers/sbc.js';
import { UdpUa } from '../integration/kamailio/harness.js';

const DOMAIN = 'example.com';
const ALICE = `sip:alice@${DOMAIN}`;
const ECHO = `sip:echo@${DOMAIN}`;
/** The SBC's listener toward Kamailio. */
const SBC_INSIDE = '127.0.0.4';
/** rtpengine's interface toward the phones. */
const ENGINE_INSIDE = '127.0.0.3';
/** Not bound by anyone here; a backend address that must never show up either. */
const BACKEND_NET = '127.0.0.2';
/** The echo phone must have counted at least this many RTP packets from the page (20 ms each). */
const MIN_RTP = 50;

describe('topology hiding (proxy mode) seen from the softphone page in Chromium', () => {
  let engine: RunningRtpengine | undefined;
  let kam: RunningKamailio | undefined;
  let sbc: TestSbc | undefined;
  let echo: RtpUas | undefined;
  let busy: UdpUa | undefined;
  let browser: Browser | undefined;
  let alice: SoftphonePage | undefined;
  const pages: SoftphonePage[] = [];
  const capture = new LeakCapture();

  before(async () => {
    await ensureWebBuilt();
    engine = await startRtpengine({ ports: 200, interfaces: ['pub/127.0.0.1', `priv/${ENGINE_INSIDE}`] });
    kam = await startKamailio();
    sbc = await startSbc({
      listen: [
        // Four digits: outside the engine's RTP range, so `:PORT` cannot hit an SDP line by chance.
        { transport: 'udp', address: SBC_INSIDE, port: await freePortInRange() },
        { transport: 'wss', address: '127.0.0.1', port: 0 },
      ],
      ...behindKamailio(kam.uri),
      topologyHiding: { enabled: true, maskCallId: true },
      media: { mode: 'rtpengine', rtpengine: { engines: [{ url: engine.udpUrl, weight: 1 }], interfaces: { webrtc: 'pub', rtp: 'priv' } } },
    });
    echo = await RtpUas.start({ user: 'echo', domain: DOMAIN });
    await echo.register({ address: kam.host, port: kam.port });
    busy = await UdpUa.create(kam, `busy${Math.floor(Math.random() * 1e6)}`);
    busy.mode = 'busy';
    await busy.register();
    browser = await launchChromium();
  });

  after(async () => {
    for (const page of pages) await page.close();
    await browser?.close().catch(() => undefined);
    busy?.close();
    echo?.close();
    await sbc?.stop().catch(() => undefined);
    await kam?.stop();
    await engine?.stop();
  });

  const wssPort = (): number => need(sbc, 'the SBC').listener('wss').boundPort;

  const scenario = scenarios(pages);

  /** The page, opened with every WebSocket frame captured from its first one, and registered. */
  const page = async (): Promise<SoftphonePage> => {
    if (alice !== undefined) return alice;
    const opened = await SoftphonePage.open(need(browser, 'Chromium'), `https://127.0.0.1:${wssPort()}/`, 'alice');
    pages.push(opened);
    // The page opens its WebSocket on register(), so nothing is missed by watching now.
    capture.watchPage('alice', opened.page);
    await opened.register({ server: `wss://127.0.0.1:${wssPort()}`, aor: ALICE, displayName: 'Alice' });
    await opened.waitForState('registered');
    alice = opened;
    return opened;
  };

  /** Everything that must stay inside, as it stands now (Call-IDs grow with the calls). */
  const secrets = (): string[] => {
    const k = need(kam, 'Kamailio');
    const e = need(echo, 'the echo phone');
    const b = need(busy, 'the busy phone');
    return [
      SBC_INSIDE, ENGINE_INSIDE, BACKEND_NET,
      `:${k.port}`, ...need(sbc, 'the SBC').ports('udp').map((port) => `:${port}`), `:${need(engine, 'rtpengine').ngPort}`,
      `:${e.peer.address.port}`, `:${b.peer.address.port}`,
      // The phones' Contacts (user@host); their AOR users are public, the host behind them is not.
      `echo@127.0.0.1`, `${b.user}@127.0.0.1`,
      // Kamailio's own Server/User-Agent ("kamailio-test").
      'kamailio',
      // Call-IDs as the echo phone made them (its calls to the page).
      ...e.calls().filter((c) => c.direction === 'out').map((c) => c.callId),
    ];
  };

  /** The page's captured frames since `from` (an index into the capture) have none of the secrets. */
  const assertNoLeaks = (what: string, from = 0, extra: string[] = []): void => {
    const frames = capture.messages().slice(from);
    assert.ok(frames.length > 0, `${what}: the page received frames (the capture works)`);
    const hits = findLeaks(frames, [...secrets(), ...extra]);
    assert.equal(describeLeaks(hits), '', `${what}: inside details reached the page`);
  };

  /** SIP messages among the page's captured frames since `from`. */
  const sipFrames = (from = 0): SipMessage[] => {
    const out: SipMessage[] = [];
    for (const m of capture.messages().slice(from)) {
      const parsed = parseMessage(Buffer.from(m.raw, 'utf8'));
      if (parsed.ok) out.push(parsed.value);
    }
    return out;
  };

  const assertNoTopologyRecords = async (what: string): Promise<void> => {
    const server = need(sbc, 'the SBC');
    // The record is deleted once the final response to the BYE has been relayed.
    await waitUntil(async () => (await topologyRecords(server)) === 0, 3000, async () => `${what}: ${await topologyRecords(server)} topology record(s) left`);
    assert.equal(await topologyRecords(server), 0, `${what}: no topology record left for the ended dialog`);
  };

  /** The page hears its beep echoed and the echo phone counts RTP from it. */
  const assertAudioBothWays = async (p: SoftphonePage, call: RtpCall, label: string): Promise<void> => {
    const receivedBefore = call.media.audioPacketsReceived;
    const heard = await waitForAudio(p);
    assert.ok(heard.after.inboundPackets > heard.before.inboundPackets, `${label}: the page receives audio packets`);
    assert.ok(heard.after.audioEnergy > heard.before.audioEnergy, `${label}: the page plays audio with energy (its beep, echoed)`);
    await waitUntil(() => call.media.audioPacketsReceived >= receivedBefore + MIN_RTP, 10_000,
      () => `${label}: the echo phone received ${call.media.audioPacketsReceived - receivedBefore} RTP packets, want ≥ ${MIN_RTP}`);
    assert.equal(call.media.lastSource?.address, ENGINE_INSIDE, `${label}: RTP reaches the phone from the engine's inside interface`);
  };

  scenario('the page registers through the SBC: Kamailio stores our inside Path, the page sees none of it', async () => {
    const p = await page();
    assert.deepEqual(await p.statusLine(), { text: `Registered as ${ALICE}`, state: 'registered' });
    const stored = await need(kam, 'Kamailio').contacts('alice');
    assert.equal(stored.length, 1, `one binding for alice: ${JSON.stringify(stored)}`);
    // With workers the Path names the worker's own port on the inside address (requests come straight back to it).
    const sbcInside = need(sbc, 'the SBC').ports('udp').map((port) => `${SBC_INSIDE}:${port}`);
    assert.ok(sbcInside.some((hop) => stored[0]!.path[0]?.includes(`@${hop};`)), `Kamailio reaches the page through our inside listener ${sbcInside.join(' or ')}: ${stored[0]!.path.join(',')}`);

    const ok = sipFrames().find((m) => m.kind === 'response' && m.status === 200 && m.cseq()?.method === 'REGISTER');
    assert.ok(ok !== undefined, 'the page received the 200 to its REGISTER');
    assert.equal(ok.headers.get('server'), 'webrtc-sbc', 'our Server header, not Kamailio\'s');
    for (const path of ok.paths() ?? []) assert.equal(path.uri.host, '127.0.0.1', 'a Path the page sees names our outside listener only');
    assertNoLeaks('register');
  });

  scenario('the page calls the echo phone: audio both ways through the engine, hold and resume, hang up; only our Contact and Record-Route reach the page', async () => {
    const p = await page();
    const phone = need(echo, 'the echo phone');
    const from = capture.messages().length;
    await p.call(ECHO);
    const call = await phone.nextIncomingCall();
    const rtpPort = call.media.port;
    await p.waitForState('in call');
    assert.equal((await p.statusLine()).text, `In call with echo@${DOMAIN}`);
    assert.equal(await topologyRecords(need(sbc, 'the SBC')), 1, 'the dialog\'s hidden route set and Contact are in the state store');
    await assertAudioBothWays(p, call, 'call from the page');

    const ok = sipFrames(from).find((m) => m.kind === 'response' && m.status === 200 && m.cseq()?.method === 'INVITE');
    assert.ok(ok !== undefined, 'the page received the 200 to its INVITE');
    assert.match(ok.headers.get('contact') ?? '', new RegExp(`^<sip:[^@>]+@127\\.0\\.0\\.1:${wssPort()};`), 'the Contact the page sees is ours, on its own listener');
    const rr = ok.recordRoutes() ?? [];
    assert.equal(rr.length, 1, `one Record-Route entry, ours: ${rr.map((r) => r.uri.host).join(', ')}`);
    assert.equal(rr[0]!.uri.port, wssPort());
    assert.equal(ok.vias()?.length, 1, 'the page sees only its own Via');

    await p.hold(true);
    assert.equal((await p.statusLine()).text, `On hold with echo@${DOMAIN}`);
    assert.match(call.remoteSdps.at(-1) ?? '', /\r\na=sendonly\r\n/, 'the hold re-INVITE reached the phone');
    await p.hold(false);
    assert.equal((await p.statusLine()).text, `In call with echo@${DOMAIN}`);
    assert.doesNotMatch(call.remoteSdps.at(-1) ?? '', /\r\na=(sendonly|inactive)\r\n/, 'the resume re-INVITE reached the phone');
    await assertAudioBothWays(p, call, 'after resume');
    const reinviteOks = sipFrames(from).filter((m) => m.kind === 'response' && m.status === 200 && m.cseq()?.method === 'INVITE');
    assert.equal(reinviteOks.length, 3, 'the page got 200s for the INVITE and both re-INVITEs');

    await p.hangup();
    await p.waitForState('ended');
    await call.ended;
    assert.equal(call.endedBy, 'remote', 'the echo phone received the page\'s BYE');
    await assertNoTopologyRecords('call out');
    assertNoLeaks('call out, hold, resume, BYE from the page', from, [`m=audio ${rtpPort} `]);
  });

  scenario('the echo phone calls the page through Kamailio and our Path: the page sees a masked Call-ID, answers; the phone hangs up', async () => {
    const p = await page();
    const phone = need(echo, 'the echo phone');
    const registrar = need(kam, 'Kamailio');
    const from = capture.messages().length;
    const call = await phone.invite(ALICE, { address: registrar.host, port: registrar.port });
    const rtpPort = call.media.port;
    await p.waitForState('ringing');
    assert.match(await p.page.locator('#incoming-caller').innerText(), /^Incoming call from echo@example\.com$/);
    await p.answer();
    await call.established;
    await p.waitForState('in call');
    await assertAudioBothWays(p, call, 'call to the page');

    const invite = sipFrames(from).find((m) => m.kind === 'request' && m.method === 'INVITE');
    assert.ok(invite !== undefined, 'the page received the INVITE');
    assert.notEqual(invite.callId, call.callId, 'the page sees a masked Call-ID');
    assert.equal(invite.vias()?.length, 1, 'only our Via');
    assert.equal(invite.recordRoutes()?.length, 1, 'only our Record-Route entry');
    assert.match(invite.headers.get('contact') ?? '', new RegExp(`^<sip:[^@>]+@127\\.0\\.0\\.1:${wssPort()};`), 'the Contact the page sees is ours');

    const ok = await phone.hangup(call);
    assert.equal(ok.status, 200, 'the page answered the phone\'s BYE');
    await p.waitForState('ended');
    assert.equal((await p.statusLine()).text, 'Call ended: remote hung up');
    const bye = sipFrames(from).find((m) => m.kind === 'request' && m.method === 'BYE');
    assert.equal(bye?.callId, invite.callId, 'the BYE reaches the page with the same masked Call-ID');
    await assertNoTopologyRecords('call in');
    assertNoLeaks('call in, BYE from the phone', from, [`m=audio ${rtpPort} `]);
  });

  scenario('calls that fail inside reach the page as failures without inside details: 404 from Kamailio, 486 from a busy phone', async () => {
    const p = await page();
    const from = capture.messages().length;
    const cases = [
      { target: `sip:nobody@${DOMAIN}`, status: 404, shown: 'Call ended: 404 Not Found' },
      { target: `sip:${need(busy, 'the busy phone').user}@${DOMAIN}`, status: 486, shown: 'Call ended: 486 Busy Here' },
    ];
    for (const c of cases) {
      await p.call(c.target);
      await p.waitForState('ended');
      assert.equal((await p.statusLine()).text, c.shown);
      const final = sipFrames(from).find((m) => m.kind === 'response' && m.status === c.status);
      assert.ok(final !== undefined, `the page received the ${c.status}`);
      assert.equal(final.headers.has('contact'), false, `the ${c.status} carries no inside Contact`);
    }
    assert.equal(need(busy, 'the busy phone').requests('INVITE').length, 1, 'the busy phone was rung once');
    await assertNoTopologyRecords('failed calls');
    assertNoLeaks('404 and 486', from);
  });

  scenario('over the whole run the page saw every kind of message, and none carries an inside detail', async () => {
    await page();
    const seen = new Set(sipFrames().map((m) => (m.kind === 'request' ? m.method : `${m.status} ${m.cseq()?.method ?? ''}`)));
    for (const kind of ['200 REGISTER', '200 INVITE', 'INVITE', 'ACK', 'BYE', '200 BYE', '404 INVITE', '486 INVITE']) {
      assert.ok(seen.has(kind), `the page received ${kind} (seen: ${[...seen].join(', ')})`);
    }
    assertNoLeaks('the whole run');
  });
});

async function waitUntil(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: () => string | Promise<string>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${await what()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
