/**
 * B2BUA mode end to end with a real browser: the softphone page (SIP.js in
 * Chromium) talks WSS to the SBC, which runs two dialogs per call and reaches
 * a real Kamailio (registrar and proxy) from its inside UDP listener on
 * 127.0.0.4; media is anchored in a real rtpengine whose inside interface is
 * 127.0.0.3. Behind Kamailio: the echo phone (plain RTP), a phone that rings
 * without answering (for CANCEL) and a busy one.
 *
 *   page ──WSS 127.0.0.1──► SBC (A leg │ B leg) ──UDP 127.0.0.4──► Kamailio ──► phones
 *                            └─ng─► rtpengine  pub/127.0.0.1 ⇄ priv/127.0.0.3
 *
 * Calls both ways with audio, hold and resume, BYE from each side, CANCEL
 * while ringing and a 200 that crosses the CANCEL, failures from inside.
 * Every WebSocket frame the page receives is searched for the inside leg:
 * inside addresses and ports, the phones' and the B legs' Call-IDs, the
 * inside legs' Contact keys, the phones' Contacts and tags. After each call
 * GET /api/dialogs is empty and the state store holds no record of its legs.
 *
 * Runs inside the loopback-only network namespace (scripts/run-tests.mjs).
 */
import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
import type { Browser } from 'playwright-core';
import type { DialogSnapshot } from '../../src/b2bua/index.js';
import type { SipMessage, SipRequest } from '../../src/sip/message.js';
import { parseMessage } from '../../src/sip/parser.js';
import { launchChromium, SoftphonePage, waitForAudio } from '../helpers/browser.js';
import { behindKamailio, ensureWebBuilt, need, scenarios } from '../helpers/e2e-bed.js';
import { freePortInRange } from '../helpers/free-port.js';
import { startKamailio, type RunningKamailio } from '../helpers/kamailio.js';
import { describeLeaks, findLeaks, LeakCapture } from '../helpers/leak-check.js';
import { RtpUas, type RtpCall } from '../helpers/rtp-uas.js';
import { startRtpengine, type RunningRtpengine } from '../helpers/rtpengine.js';
import { startSbcInProcess, type TestSbc } from '../helpers/sbc.js';
import { response } from '../helpers/sip-peer.js';
import { UdpUa } from '../integration/kamailio/harness.js';
import { plainRtpSdp } from '../integration/media/sdp-samples.js';

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
/** The RTP port the ringing phone's late 200 offers (nothing listens: the call is torn down at once). */
const LATE_ANSWER_RTP_PORT = 4002;

describe('B2BUA mode seen from the softphone page in Chromium', () => {
  let engine: RunningRtpengine | undefined;
  let kam: RunningKamailio | undefined;
  let sbc: TestSbc | undefined;
  let echo: RtpUas | undefined;
  let ringer: UdpUa | undefined;
  let busy: UdpUa | undefined;
  let browser: Browser | undefined;
  let alice: SoftphonePage | undefined;
  const pages: SoftphonePage[] = [];
  const capture = new LeakCapture();
  /** Keys of inside legs (our Contact toward Kamailio) seen during the run. */
  const insideKeys = new Set<string>();
  /** Whether the ringing phone answers 200 when the CANCEL arrives (a 200 crossing the CANCEL). */
  let answerOnCancel = false;

  before(async () => {
    await ensureWebBuilt();
    engine = await startRtpengine({ ports: 200, interfaces: ['pub/127.0.0.1', `priv/${ENGINE_INSIDE}`] });
    kam = await startKamailio();
    // In-process: the test reads each leg's record from the B2BUA's state store (b2bua.storedDialog).
    sbc = await startSbcInProcess({
      mode: 'b2bua',
      listen: [
        // Four digits: outside the engine's RTP range, so `:PORT` cannot hit an SDP line by chance.
        { transport: 'udp', address: SBC_INSIDE, port: await freePortInRange() },
        { transport: 'wss', address: '127.0.0.1', port: 0 },
      ],
      ...behindKamailio(kam.uri),
      media: { mode: 'rtpengine', rtpengine: { engines: [{ url: engine.udpUrl, weight: 1 }], interfaces: { webrtc: 'pub', rtp: 'priv' } } },
    });
    echo = await RtpUas.start({ user: 'echo', domain: DOMAIN });
    await echo.register({ address: kam.host, port: kam.port });
    ringer = await UdpUa.create(kam, `ringer${Math.floor(Math.random() * 1e6)}`);
    ringer.mode = 'ring';
    answerLateOnCancel(ringer, () => answerOnCancel);
    await ringer.register();
    busy = await UdpUa.create(kam, `busy${Math.floor(Math.random() * 1e6)}`);
    busy.mode = 'busy';
    await busy.register();
    browser = await launchChromium();
  });

  after(async () => {
    for (const page of pages) await page.close();
    await browser?.close().catch(() => undefined);
    busy?.close();
    ringer?.close();
    echo?.close();
    await sbc?.stop().catch(() => undefined);
    await kam?.stop();
    await engine?.stop();
  });

  const wssPort = (): number => need(sbc, 'the SBC').listener('wss').boundPort;

  const scenario = scenarios(pages, { reset: () => { answerOnCancel = false; } });

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

  /** Everything of the inside leg that must not reach the page, as it stands now. */
  const secrets = (): string[] => {
    const k = need(kam, 'Kamailio');
    const e = need(echo, 'the echo phone');
    const uas = [need(ringer, 'the ringing phone'), need(busy, 'the busy phone')];
    return [
      SBC_INSIDE, ENGINE_INSIDE, BACKEND_NET,
      `:${k.port}`, ...need(sbc, 'the SBC').ports('udp').map((port) => `:${port}`), `:${need(engine, 'rtpengine').ngPort}`,
      `:${e.peer.address.port}`, ...uas.map((u) => `:${u.peer.address.port}`),
      // The phones' Contacts (user@host); their AOR users are public, the host behind them is not.
      'echo@127.0.0.1', ...uas.map((u) => `${u.user}@127.0.0.1`),
      'kamailio',
      // Inside Call-IDs: the echo phone's own (calls to the page) and the B legs' toward it.
      ...e.calls().map((c) => c.callId),
      ...uas.flatMap((u) => u.requests('INVITE').map((r) => r.msg.callId ?? '')),
      // The phones' To-tags and our Contact keys on the inside legs.
      ...uas.flatMap((u) => [...u.tags.values()]),
      ...insideKeys,
    ];
  };

  const assertNoLeaks = (what: string, from = 0, extra: string[] = []): void => {
    const frames = capture.messages().slice(from);
    assert.ok(frames.length > 0, `${what}: the page received frames (the capture works)`);
    assert.equal(describeLeaks(findLeaks(frames, [...secrets(), ...extra])), '', `${what}: the inside leg's details reached the page`);
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

  /** GET /api/dialogs, as an operator reads it. */
  const apiDialogs = async (): Promise<DialogSnapshot[]> => {
    const res = await fetch(`${need(sbc, 'the SBC').adminUrl}/api/dialogs`);
    assert.equal(res.status, 200, 'GET /api/dialogs');
    return ((await res.json()) as { dialogs: DialogSnapshot[] }).dialogs;
  };

  /**
   * The one call in progress: two legs, one toward the page and one inside,
   * each with its record in the state store. Returns the leg keys.
   */
  const liveCall = async (what: string, confirmed: boolean): Promise<{ outside: DialogSnapshot['legs'][number]; inside: DialogSnapshot['legs'][number] }> => {
    const dialogs = await apiDialogs();
    assert.equal(dialogs.length, 1, `${what}: GET /api/dialogs lists the call: ${JSON.stringify(dialogs)}`);
    const legs = dialogs[0]!.legs;
    const inside = legs.find((l) => l.inside);
    const outside = legs.find((l) => !l.inside);
    assert.ok(inside !== undefined && outside !== undefined, `${what}: one leg inside, one toward the page: ${JSON.stringify(legs)}`);
    assert.notEqual(inside.callId, outside.callId, `${what}: each leg has its own Call-ID`);
    insideKeys.add(inside.key);
    const b2bua = need(need(sbc, 'the SBC').server.b2bua, 'the B2BUA');
    for (const leg of [inside, outside]) {
      const stored = await b2bua.storedDialog(leg.key);
      assert.equal(stored['callId'], leg.callId, `${what}: the state store holds the ${leg.inside ? 'inside' : 'page\'s'} leg`);
      if (confirmed) assert.equal(stored['state'], 'confirmed');
    }
    return { outside, inside };
  };

  /** After the call: GET /api/dialogs is empty and the store has no record of its legs. */
  const assertNoDialogs = async (what: string, keys: string[]): Promise<void> => {
    const b2bua = need(need(sbc, 'the SBC').server.b2bua, 'the B2BUA');
    const left = async (): Promise<unknown[]> => [
      ...(await apiDialogs()),
      ...(await Promise.all(keys.map((k) => b2bua.storedDialog(k)))).filter((s) => Object.keys(s).length > 0),
    ];
    // The last messages of a call are still being handled when the page has its answer.
    await waitUntil(async () => (await left()).length === 0, 3000, async () => `${what}: still listed or stored: ${JSON.stringify(await left())}`);
    assert.deepEqual(await apiDialogs(), [], `${what}: GET /api/dialogs lists no dialog`);
    for (const k of keys) assert.deepEqual(await b2bua.storedDialog(k), {}, `${what}: no record left for leg ${k}`);
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

  /** The page's INVITE is ringing at the ringing phone; returns the phone's INVITE (the B leg). */
  const ringAtRinger = async (p: SoftphonePage): Promise<SipRequest> => {
    const phone = need(ringer, 'the ringing phone');
    const seen = phone.requests('INVITE').length;
    await p.call(`sip:${phone.user}@${DOMAIN}`);
    await waitUntil(() => phone.requests('INVITE').length > seen, 5000, () => 'the ringing phone got no INVITE');
    const inv = phone.requests('INVITE').at(-1)!.msg as SipRequest;
    await waitUntil(async () => (await p.statusLine()).text.endsWith('ringing'), 5000, async () => `the page never showed ringing: "${(await p.statusLine()).text}"`);
    return inv;
  };

  scenario('the page registers through the B2BUA: Kamailio stores our inside Path, the page sees none of it', async () => {
    const p = await page();
    assert.deepEqual(await p.statusLine(), { text: `Registered as ${ALICE}`, state: 'registered' });
    const stored = await need(kam, 'Kamailio').contacts('alice');
    assert.equal(stored.length, 1, `one binding for alice: ${JSON.stringify(stored)}`);
    // With workers the Path names the worker's own port on the inside address (requests come straight back to it).
    const sbcInside = need(sbc, 'the SBC').ports('udp').map((port) => `${SBC_INSIDE}:${port}`);
    assert.ok(sbcInside.some((hop) => stored[0]!.path[0]?.includes(`@${hop};`)), `Kamailio reaches the page through our inside listener ${sbcInside.join(' or ')}: ${stored[0]!.path.join(',')}`);
    const ok = sipFrames().find((m) => m.kind === 'response' && m.status === 200 && m.cseq()?.method === 'REGISTER');
    assert.ok(ok !== undefined, 'the page received the 200 to its REGISTER');
    assertNoLeaks('register');
  });

  scenario('the page calls the echo phone: two dialogs, audio both ways, hold and resume, BYE from the page; the call\'s records are gone', async () => {
    const p = await page();
    const phone = need(echo, 'the echo phone');
    const from = capture.messages().length;
    await p.call(ECHO);
    const call = await phone.nextIncomingCall();
    const rtpPort = call.media.port;
    await p.waitForState('in call');
    assert.equal((await p.statusLine()).text, `In call with echo@${DOMAIN}`);
    const legs = await liveCall('call out', true);
    assert.equal(legs.inside.callId, call.callId, 'the phone\'s dialog is the inside leg');
    await assertAudioBothWays(p, call, 'call from the page');

    const ok = sipFrames(from).find((m) => m.kind === 'response' && m.status === 200 && m.cseq()?.method === 'INVITE');
    assert.ok(ok !== undefined, 'the page received the 200 to its INVITE');
    assert.equal(ok.callId, legs.outside.callId, 'the page\'s dialog is the outside leg');
    assert.notEqual(ok.callId, call.callId, 'the page and the phone have different Call-IDs');
    assert.match(ok.headers.get('contact') ?? '', new RegExp(`^<sip:${legs.outside.key}@127\\.0\\.0\\.1:${wssPort()};`), 'the page\'s remote target is our Contact on its leg');
    assert.equal(ok.recordRoutes()?.length ?? 0, 0, 'no Record-Route reaches the page: we are its dialog peer');
    assert.equal(ok.vias()?.length, 1, 'only the page\'s own Via');

    await p.hold(true);
    assert.equal((await p.statusLine()).text, `On hold with echo@${DOMAIN}`);
    assert.match(call.remoteSdps.at(-1) ?? '', /\r\na=sendonly\r\n/, 'the hold re-INVITE reached the phone on the inside leg');
    await p.hold(false);
    assert.equal((await p.statusLine()).text, `In call with echo@${DOMAIN}`);
    assert.doesNotMatch(call.remoteSdps.at(-1) ?? '', /\r\na=(sendonly|inactive)\r\n/, 'the resume re-INVITE reached the phone');
    await assertAudioBothWays(p, call, 'after resume');

    await p.hangup();
    await p.waitForState('ended');
    assert.equal((await p.statusLine()).text, 'Call ended: hung up');
    await call.ended;
    assert.equal(call.endedBy, 'remote', 'the echo phone received a BYE');
    await assertNoDialogs('call out', [legs.inside.key, legs.outside.key]);
    assertNoLeaks('call out, hold, resume, BYE from the page', from, [`m=audio ${rtpPort} `]);
  });

  scenario('the echo phone calls the page through Kamailio and our Path: the page gets its own dialog, answers, audio both ways; BYE from the phone', async () => {
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
    const legs = await liveCall('call in', true);
    assert.equal(legs.inside.callId, call.callId, 'the phone\'s dialog is the inside leg');
    await assertAudioBothWays(p, call, 'call to the page');

    const invite = sipFrames(from).find((m) => m.kind === 'request' && m.method === 'INVITE');
    assert.ok(invite !== undefined, 'the page received the INVITE');
    assert.equal(invite.callId, legs.outside.callId, 'the page\'s INVITE carries its own leg\'s Call-ID');
    assert.equal(invite.vias()?.length, 1, 'only our Via');
    assert.equal(invite.recordRoutes()?.length ?? 0, 0, 'no Record-Route: we are the page\'s dialog peer');

    const ok = await phone.hangup(call);
    assert.equal(ok.status, 200, 'the BYE was answered');
    await p.waitForState('ended');
    assert.equal((await p.statusLine()).text, 'Call ended: remote hung up');
    const bye = sipFrames(from).find((m) => m.kind === 'request' && m.method === 'BYE');
    assert.equal(bye?.callId, legs.outside.callId, 'the BYE reaches the page in its own dialog');
    await assertNoDialogs('call in', [legs.inside.key, legs.outside.key]);
    assertNoLeaks('call in, BYE from the phone', from, [`m=audio ${rtpPort} `]);
  });

  scenario('the echo phone calls the page; BYE from the page reaches the phone in the phone\'s dialog', async () => {
    const p = await page();
    const phone = need(echo, 'the echo phone');
    const registrar = need(kam, 'Kamailio');
    const from = capture.messages().length;
    const call = await phone.invite(ALICE, { address: registrar.host, port: registrar.port });
    const rtpPort = call.media.port;
    await p.waitForState('ringing');
    await p.answer();
    await call.established;
    await p.waitForState('in call');
    const legs = await liveCall('call in', true);
    await assertAudioBothWays(p, call, 'call to the page');

    await p.hangup();
    await p.waitForState('ended');
    await call.ended;
    assert.equal(call.endedBy, 'remote', 'the echo phone received the BYE');
    await assertNoDialogs('call in, BYE from the page', [legs.inside.key, legs.outside.key]);
    assertNoLeaks('call in, BYE from the page', from, [`m=audio ${rtpPort} `]);
  });

  scenario('the page hangs up while the phone rings: CANCEL reaches the phone, the page shows "cancelled", no dialog left', async () => {
    const p = await page();
    const phone = need(ringer, 'the ringing phone');
    const from = capture.messages().length;
    const inv = await ringAtRinger(p);
    const legs = await liveCall('ringing', false);
    assert.equal(legs.inside.callId, inv.callId, 'the ringing phone\'s INVITE is the inside leg');
    const cancel = phone.nextRequest('CANCEL', inv.callId);
    await p.hangup();
    await cancel;
    await p.waitForState('ended');
    assert.equal((await p.statusLine()).text, 'Call ended: cancelled');
    const terminated = sipFrames(from).find((m) => m.kind === 'response' && m.status === 487);
    assert.ok(terminated !== undefined, 'the page received 487 for its INVITE');
    await assertNoDialogs('cancelled call', [legs.inside.key, legs.outside.key]);
    assertNoLeaks('CANCEL while ringing', from);
  });

  scenario('a 200 from the phone crosses the page\'s CANCEL: the page sees "cancelled", the phone\'s late answer is ACKed and ended with BYE', async () => {
    const p = await page();
    const phone = need(ringer, 'the ringing phone');
    const from = capture.messages().length;
    const inv = await ringAtRinger(p);
    const legs = await liveCall('ringing', false);
    answerOnCancel = true;
    const ack = phone.nextRequest('ACK', inv.callId);
    const bye = phone.nextRequest('BYE', inv.callId);
    await p.hangup();
    await p.waitForState('ended');
    assert.equal((await p.statusLine()).text, 'Call ended: cancelled');
    await ack;
    await bye;
    assert.equal(sipFrames(from).filter((m) => m.kind === 'response' && m.status === 200 && m.cseq()?.method === 'INVITE').length, 0,
      'the late 200 did not reach the page');
    await assertNoDialogs('200 crossing CANCEL', [legs.inside.key, legs.outside.key]);
    assertNoLeaks('200 crossing CANCEL', from, [`m=audio ${LATE_ANSWER_RTP_PORT} `]);
  });

  scenario('calls that fail inside reach the page as failures from us: 404 from Kamailio, 486 from a busy phone', async () => {
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
      assert.equal(final.headers.has('contact'), false, `the ${c.status} carries no Contact`);
    }
    assert.equal(need(busy, 'the busy phone').requests('INVITE').length, 1, 'the busy phone was rung once');
    await assertNoDialogs('failed calls', []);
    assertNoLeaks('404 and 486', from);
  });

  scenario('over the whole run the page saw every kind of message, and none carries an inside detail', async () => {
    await page();
    const seen = new Set(sipFrames().map((m) => (m.kind === 'request' ? m.method : `${m.status} ${m.cseq()?.method ?? ''}`)));
    for (const kind of ['200 REGISTER', '200 INVITE', 'INVITE', 'ACK', 'BYE', '200 BYE', '200 CANCEL', '487 INVITE', '404 INVITE', '486 INVITE']) {
      assert.ok(seen.has(kind), `the page received ${kind} (seen: ${[...seen].join(', ')})`);
    }
    assert.ok(insideKeys.size >= 4, `inside leg keys were collected for the check (${insideKeys.size})`);
    assertNoLeaks('the whole run');
  });
});

/**
 * When `enabled()`, the ringing phone answers a CANCEL the way a phone that
 * was picked up at that moment does: 200 to the INVITE (with an SDP) sent
 * before the 200 to the CANCEL, so the answer crosses the CANCEL on the wire.
 */
function answerLateOnCancel(phone: UdpUa, enabled: () => boolean): void {
  const usual = phone.peer.onMessage;
  phone.peer.onMessage = (r, peer) => {
    const msg = r.msg;
    if (!enabled() || msg.kind !== 'request' || msg.method !== 'CANCEL') {
      usual?.(r, peer);
      return;
    }
    const callId = msg.callId ?? '';
    const invite = phone.requests('INVITE', callId)[0];
    const tag = phone.tags.get(callId);
    if (invite === undefined || tag === undefined) {
      usual?.(r, peer);
      return;
    }
    peer.send(response(invite.msg as SipRequest, 200, 'OK', { toTag: tag, headers: [`Contact: ${phone.contact}`], body: plainRtpSdp(LATE_ANSWER_RTP_PORT) }), invite.from);
    peer.send(response(msg, 200, 'OK'), r.from);
  };
}

async function waitUntil(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: () => string | Promise<string>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${await what()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
