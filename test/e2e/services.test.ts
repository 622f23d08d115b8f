/**
 * The built-in services on a gateway with its defaults (no backend: local
 * registrar; no rtpengine: embedded media): the softphone page (SIP.js in
 * Chromium) calls 9196 (echo) and hears its own fake-microphone beep come
 * back, calls 9197 (tone) and hears the tone with its own microphone muted;
 * with a small maxSeconds the SBC hangs up itself; with `services: {}` the
 * numbers are plain users nobody registered (404). baresip (a UDP phone)
 * calls 9196 and receives its own sine back.
 *
 * Runs inside a loopback-only network namespace (scripts/run-tests.mjs).
 */
import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
import type { Browser } from 'playwright-core';
import { startBaresip, type Baresip } from '../helpers/baresip.js';
import { launchChromium, SoftphonePage, waitForAudio } from '../helpers/browser.js';
import { ensureWebBuilt, need, scenarios } from '../helpers/e2e-bed.js';
import { startSbc, type TestSbc } from '../helpers/sbc.js';

const LISTEN = [
  { transport: 'udp', address: '127.0.0.1', port: 0 },
  { transport: 'wss', address: '127.0.0.1', port: 0 },
];
/**
 * Admission control off: Chromium, werift and three gateways share one event
 * loop on a small machine, and a shed 503 is not what these tests look at.
 */
const NO_SHEDDING = { enabled: false };
/** Media ports of their own per gateway, below the ephemeral range. */
const media = (base: number): Record<string, unknown> => ({ embedded: { address: '127.0.0.1', ports: `${base}-${base + 99}` } });

interface Engines {
  engines: Array<{ name: string; sessions: number }>;
}

describe('built-in services: echo (9196) and tone (9197) answered by the SBC with the embedded relay', () => {
  let sbc: TestSbc | undefined;
  let short: TestSbc | undefined;
  let none: TestSbc | undefined;
  let browser: Browser | undefined;
  let phone: Baresip | undefined;
  const pages: SoftphonePage[] = [];

  before(async () => {
    await ensureWebBuilt();
    [sbc, short, none] = await Promise.all([
      startSbc({ listen: LISTEN, web: { enabled: true }, overload: NO_SHEDDING, media: media(25000) }),
      startSbc({ listen: LISTEN, web: { enabled: true }, overload: NO_SHEDDING, media: media(25200), services: { echo: { maxSeconds: 2 } } }),
      startSbc({ listen: LISTEN, web: { enabled: true }, overload: NO_SHEDDING, media: media(25400), services: {} }),
    ]);
    browser = await launchChromium();
  });
  after(async () => {
    for (const page of pages) await page.close();
    await phone?.stop();
    await browser?.close().catch(() => undefined);
    for (const s of [sbc, short, none]) await s?.stop().catch(() => undefined);
  });

  const scenario = scenarios(pages);
  const embeddedSessions = async (s: TestSbc): Promise<number> =>
    ((await (await fetch(`${s.adminUrl}/api/engines`)).json()) as Engines).engines.find((e) => e.name === 'embedded')?.sessions ?? -1;

  /** A page of gateway `s`, registered as the user it pre-filled. */
  const openRegistered = async (s: TestSbc, name: string): Promise<SoftphonePage> => {
    const port = s.listener('wss').boundPort;
    const page = await SoftphonePage.open(need(browser, 'Chromium'), `https://127.0.0.1:${port}/`, name);
    pages.push(page);
    for (let i = 0; i < 50 && (await page.page.locator('#aor').inputValue()) === ''; i++) await new Promise((r) => setTimeout(r, 100));
    await page.page.locator('#register').click();
    await page.waitForState('registered');
    return page;
  };

  scenario('the page\'s hint names the services; a call to 9196 brings the page\'s own beep back', async () => {
    const s = need(sbc, 'the SBC');
    const page = await openRegistered(s, 'echo caller');
    assert.equal(await page.page.locator('#gateway-hint').innerText(), 'Open this page twice and call each other, or call 9196 (echo) or 9197 (tone).');
    await page.call('9196');
    await page.waitForState('in call');
    assert.equal(await embeddedSessions(s), 1, 'the echo holds one embedded media session');
    const heard = await waitForAudio(page);
    assert.ok(heard.after.inboundPackets > heard.before.inboundPackets, 'the page receives the echo\'s packets');
    assert.ok(heard.after.audioEnergy > heard.before.audioEnergy, 'the page plays its own beep back with energy');
    await page.hangup();
    await page.waitForState('ended');
    for (let i = 0; i < 20 && (await embeddedSessions(s)) !== 0; i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(await embeddedSessions(s), 0, 'the hang-up freed the session');
  });

  scenario('a call to 9197 delivers the tone while the page\'s own microphone is muted', async () => {
    const s = need(sbc, 'the SBC');
    const page = need(pages[0], 'the registered page');
    await page.call('9197');
    await page.waitForState('in call');
    await page.mute(true);
    const heard = await waitForAudio(page);
    assert.ok(heard.after.inboundPackets > heard.before.inboundPackets, 'the page receives the tone\'s packets');
    assert.ok(heard.after.audioEnergy > heard.before.audioEnergy, 'the page plays the tone with energy');
    // 20 ms frames: about 50 a second.
    const perSecond = (heard.after.inboundPackets - heard.before.inboundPackets) / 2;
    assert.ok(perSecond >= 25, `the tone is a steady stream (${perSecond} packets/s over the window)`);
    await page.mute(false);
    await page.hangup();
    await page.waitForState('ended');
    for (let i = 0; i < 20 && (await embeddedSessions(s)) !== 0; i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(await embeddedSessions(s), 0);
  });

  scenario('echo with maxSeconds 2: the SBC hangs up (BYE) and the page shows the call ended', async () => {
    const page = await openRegistered(need(short, 'the short-call SBC'), 'short caller');
    await page.call('echo');
    await page.waitForState('in call');
    await page.waitForState('ended', 10_000);
    assert.equal((await page.statusLine()).text, 'Call ended: remote hung up');
  });

  scenario('services: {} turns them off: 9196 is looked up as a user, and nobody is (404)', async () => {
    const page = await openRegistered(need(none, 'the SBC without services'), 'no services');
    assert.equal(await page.page.locator('#gateway-hint').innerText(), 'Open this page twice and call each other.');
    await page.call('9196');
    await page.waitForState('ended');
    assert.equal((await page.statusLine()).text, 'Call ended: 404 Not Found');
  });

  scenario('baresip (UDP, registered locally) calls 9196: its own sine comes back through the embedded relay', async () => {
    const s = need(sbc, 'the SBC');
    phone = await startBaresip({ account: `<sip:carol@${s.hostPort('udp')};transport=udp>;regint=60;answermode=auto;audio_codecs=PCMU` });
    await phone.waitEvent('REGISTER_OK', 10_000);
    await phone.dial(`sip:9196@${s.hostPort('udp')}`);
    const established = await phone.waitEvent('CALL_ESTABLISHED', 10_000);
    const answer = phone.sipTrace().find((e) => e.direction === 'in' && /^SIP\/2\.0 200 /.test(e.firstLine) && /\r\nCSeq: \d+ INVITE\r\n/i.test(e.raw));
    assert.ok(answer !== undefined, 'baresip got the 200');
    assert.match(answer.raw, /\r\nm=audio \d+ RTP\/AVP 0\b/, 'a plain RTP answer in PCMU');
    await phone.waitEvent('CALL_RTPESTAB', 10_000);
    const b = phone;
    await waitUntil(() => (rxBitrate(b.output()) ?? 0) >= 48_000, 10_000, () => `baresip's receive bit rate is ${rxBitrate(b.output()) ?? 'not shown'}, want ≥ 48000 (its PCMU back)`);
    await phone.hangup();
    const closed = await phone.waitEvent('CALL_CLOSED', 5000);
    assert.equal(closed.id, established.id);
    for (let i = 0; i < 20 && (await embeddedSessions(s)) !== 0; i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(await embeddedSessions(s), 0);
  });
});

/** The receive bit rate in baresip's last status line (`audio=TX/RX (bit/s)`), if it printed one. */
function rxBitrate(output: string): number | undefined {
  const all = [...output.slice(-2000).matchAll(/audio=(\d+)\/(\d+) \(bit\/s\)/g)];
  const last = all.at(-1);
  return last === undefined ? undefined : Number(last[2]);
}

async function waitUntil(cond: () => boolean, timeoutMs: number, what: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
