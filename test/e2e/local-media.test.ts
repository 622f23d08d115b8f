/**
 * Calls between browsers and a plain phone through the local registrar, on a
 * gateway with its defaults (no backend, no rtpengine: embedded media). The
 * softphone page (SIP.js in Chromium) and baresip (UDP, 440 Hz sine) both
 * register with the SBC itself; a call between them has exactly one WebRTC
 * side, so the embedded relay converts it (one session, a plain RTP/AVP SDP
 * at the phone, a WebRTC SDP at the page), with audio both ways. Between two
 * pages nothing needs converting: the SDP passes untouched and the relay
 * holds no session. One user registered from a page and from baresip: the
 * call forks to both, the phone answers first and only its answer counts.
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

interface Engines {
  engines: Array<{ name: string; sessions: number }>;
}

describe('local registrar with embedded media: browser ⇄ phone converted, browser ⇄ browser untouched', () => {
  let sbc: TestSbc | undefined;
  let browser: Browser | undefined;
  let phone: Baresip | undefined;
  let twin: Baresip | undefined;
  const pages: SoftphonePage[] = [];
  const aors = new Map<SoftphonePage, string>();

  before(async () => {
    await ensureWebBuilt();
    sbc = await startSbc({
      listen: [
        { transport: 'udp', address: '127.0.0.1', port: 0 },
        { transport: 'wss', address: '127.0.0.1', port: 0 },
      ],
      web: { enabled: true },
      // Chromium and werift share the event loop on a small machine: a shed 503 is not what this test looks at.
      overload: { enabled: false },
      media: { embedded: { address: '127.0.0.1', ports: '25600-25699' } },
    });
    browser = await launchChromium();
    phone = await startBaresip({ account: `<sip:carol@${sbc.hostPort('udp')};transport=udp>;regint=60;answermode=auto;audio_codecs=PCMU` });
    await phone.waitEvent('REGISTER_OK', 10_000);
  });
  after(async () => {
    for (const page of pages) await page.close();
    await phone?.stop();
    await twin?.stop();
    await browser?.close().catch(() => undefined);
    await sbc?.stop().catch(() => undefined);
  });

  const scenario = scenarios(pages);
  const s = (): TestSbc => need(sbc, 'the SBC');
  const sessions = async (): Promise<number> =>
    ((await (await fetch(`${s().adminUrl}/api/engines`)).json()) as Engines).engines.find((e) => e.name === 'embedded')?.sessions ?? -1;
  const settled = async (): Promise<number> => {
    for (let i = 0; i < 30 && (await sessions()) !== 0; i++) await new Promise((r) => setTimeout(r, 100));
    return sessions();
  };
  const page = async (i: number): Promise<SoftphonePage> => {
    const existing = pages[i];
    if (existing !== undefined) return existing;
    const port = s().listener('wss').boundPort;
    const p = await SoftphonePage.open(need(browser, 'Chromium'), `https://127.0.0.1:${port}/`, `page ${i + 1}`);
    pages.push(p);
    for (let n = 0; n < 50 && (await p.page.locator('#aor').inputValue()) === ''; n++) await new Promise((r) => setTimeout(r, 100));
    aors.set(p, await p.page.locator('#aor').inputValue());
    await p.page.locator('#register').click();
    await p.waitForState('registered');
    return p;
  };
  const userOf = (aor: string): string => /^sip:([^@]+)@/.exec(aor)?.[1] ?? aor;
  /** The SDP body of the last SIP message baresip got whose first line matches. */
  const phoneSdp = (b: Baresip, firstLine: RegExp): string => {
    const e = [...b.sipTrace()].reverse().find((x) => x.direction === 'in' && firstLine.test(x.firstLine) && /\r\nContent-Type: application\/sdp/i.test(x.raw));
    assert.ok(e !== undefined, `baresip received ${firstLine}`);
    return e.raw.slice(e.raw.indexOf('\r\n\r\n') + 4);
  };
  const phoneHears = async (b: Baresip, since: number): Promise<void> => {
    await b.waitEvent('CALL_RTPESTAB', 10_000, (e) => b.events.indexOf(e) >= since);
    await waitUntil(() => (rxBitrate(b.output()) ?? 0) >= 48_000, 10_000, () => `baresip's receive bit rate is ${rxBitrate(b.output()) ?? 'not shown'}, want ≥ 48000`);
  };

  scenario('baresip calls the page: the relay converts (plain SDP at the phone), audio both ways, hang-up from the page', async () => {
    const p = await page(0);
    const b = need(phone, 'baresip');
    const seen = b.events.length;
    await b.dial(`sip:${userOf(need(aors.get(p), 'page AOR'))}@${s().hostPort('udp')}`);
    await p.waitForState('ringing');
    await p.answer();
    await b.waitEvent('CALL_ESTABLISHED', 15_000, (e) => b.events.indexOf(e) >= seen);
    await p.waitForState('in call');
    const answer = phoneSdp(b, /^SIP\/2\.0 200 /);
    assert.match(answer, /\r\nm=audio \d+ RTP\/AVP 0\b/, 'the page\'s answer reached the phone as plain RTP/AVP PCMU');
    assert.doesNotMatch(answer, /a=fingerprint|a=ice-ufrag/, 'no WebRTC attributes at the phone');
    assert.equal(await sessions(), 1, 'one embedded session');
    const heard = await waitForAudio(p);
    assert.ok(heard.after.inboundPackets > heard.before.inboundPackets && heard.after.audioEnergy > heard.before.audioEnergy, 'the page plays baresip\'s sine');
    await phoneHears(b, seen);
    await p.hangup();
    await b.waitEvent('CALL_CLOSED', 5000, (e) => b.events.indexOf(e) >= seen);
    assert.equal(await settled(), 0, 'the session is freed');
  });

  scenario('the page calls baresip by its user name: audio both ways, hang-up from the phone', async () => {
    const p = await page(0);
    const b = need(phone, 'baresip');
    const seen = b.events.length;
    await p.call('carol');
    await b.waitEvent('CALL_ESTABLISHED', 15_000, (e) => b.events.indexOf(e) >= seen);
    await p.waitForState('in call');
    const offer = phoneSdp(b, /^INVITE /);
    assert.match(offer, /\r\nm=audio \d+ RTP\/AVP /, 'the page\'s offer reached the phone as plain RTP/AVP');
    assert.doesNotMatch(offer, /a=fingerprint|a=ice-ufrag/);
    assert.equal(await sessions(), 1);
    const heard = await waitForAudio(p);
    assert.ok(heard.after.inboundPackets > heard.before.inboundPackets && heard.after.audioEnergy > heard.before.audioEnergy, 'the page plays baresip\'s sine');
    await phoneHears(b, seen);
    await b.hangup();
    await p.waitForState('ended');
    assert.equal(await settled(), 0);
  });

  scenario('page calls page: the SDP passes untouched (no relay session), audio both ways', async () => {
    const [a, c] = [await page(0), await page(1)];
    await a.call(userOf(need(aors.get(c), 'page 2 AOR')));
    await c.waitForState('ringing');
    assert.equal(await sessions(), 0, 'no embedded session for a browser ⇄ browser call');
    await c.answer();
    await Promise.all([a.waitForState('in call'), c.waitForState('in call')]);
    assert.equal(await sessions(), 0);
    const [ha, hc] = await Promise.all([waitForAudio(a), waitForAudio(c)]);
    for (const h of [ha, hc]) assert.ok(h.after.inboundPackets > h.before.inboundPackets && h.after.audioEnergy > h.before.audioEnergy);
    await a.hangup();
    await c.waitForState('ended');
  });

  scenario('one user on a page and on baresip: the call forks to both, the phone answers, the page stops ringing, audio page ⇄ phone', async () => {
    const [a, c] = [await page(0), await page(1)];
    const shared = need(aors.get(c), 'page 2 AOR');
    twin = await startBaresip({ account: `<sip:${userOf(shared)}@${s().hostPort('udp')};transport=udp>;regint=60;answermode=manual;audio_codecs=PCMU` });
    await twin.waitEvent('REGISTER_OK', 10_000);
    const t = twin;
    await a.call(userOf(shared));
    await c.waitForState('ringing');
    await t.waitEvent('CALL_INCOMING', 10_000);
    const accepted = await t.command('accept');
    assert.ok(accepted.ok, `baresip accepts: ${accepted.data}`);
    await t.waitEvent('CALL_ESTABLISHED', 10_000);
    await a.waitForState('in call');
    await c.waitForState('ended');
    assert.equal(await settled(), 1, 'only the winner\'s session is left');
    const heard = await waitForAudio(a);
    assert.ok(heard.after.inboundPackets > heard.before.inboundPackets && heard.after.audioEnergy > heard.before.audioEnergy, 'the caller plays the phone\'s sine');
    await phoneHears(t, 0);
    await a.hangup();
    await t.waitEvent('CALL_CLOSED', 5000);
    assert.equal(await settled(), 0);
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
