/**
 * The gateway on its own, as `npm start` runs it: no backend, no media
 * engine (SDP passes through; browser ⇄ browser needs no relay). Two pages
 * of the softphone in Chromium open the gateway's page, find it pre-filled
 * (this gateway, a random user on its domain, the hint), register with the
 * SBC itself, call each other with audio both ways, and hang up; a call to a
 * user nobody registered gets 404; one user on two pages rings both.
 *
 * Runs inside a loopback-only network namespace (scripts/run-tests.mjs).
 */
import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
import type { Browser } from 'playwright-core';
import { launchChromium, SoftphonePage, waitForAudio } from '../helpers/browser.js';
import { ensureWebBuilt, need, scenarios } from '../helpers/e2e-bed.js';
import { startSbc, type TestSbc } from '../helpers/sbc.js';

interface ApiRegistrations {
  mode: string;
  registrations: Array<{ aor: string; contacts: Array<{ transport: string; flowUp: boolean }> }>;
}

describe('the gateway alone (local registrar): two softphone pages call each other', () => {
  let sbc: TestSbc | undefined;
  let browser: Browser | undefined;
  const pages: SoftphonePage[] = [];
  const aors = new Map<SoftphonePage, string>();

  before(async () => {
    await ensureWebBuilt();
    // The embedded defaults but for loopback ports: nothing about backends, registrar or media.
    sbc = await startSbc({
      listen: [
        { transport: 'udp', address: '127.0.0.1', port: 0 },
        { transport: 'wss', address: '127.0.0.1', port: 0 },
      ],
      web: { enabled: true },
    });
    browser = await launchChromium();
  });
  after(async () => {
    for (const page of pages) await page.close();
    await browser?.close().catch(() => undefined);
    await sbc?.stop().catch(() => undefined);
  });

  const port = (): number => need(sbc, 'the SBC').listener('wss').boundPort;
  const registrations = async (): Promise<ApiRegistrations> => (await (await fetch(`${need(sbc, 'the SBC').adminUrl}/api/registrations`)).json()) as ApiRegistrations;
  const scenario = scenarios(pages);

  /** Open the page, check what it pre-filled, press Register. */
  const openAndRegister = async (name: string): Promise<SoftphonePage> => {
    const page = await SoftphonePage.open(need(browser, 'Chromium'), `https://127.0.0.1:${port()}/`, name);
    pages.push(page);
    const p = page.page;
    // The page asks the gateway (/gateway.json) what to pre-fill.
    for (let i = 0; i < 50 && (await p.locator('#aor').inputValue()) === ''; i++) await new Promise((r) => setTimeout(r, 100));
    const aor = await p.locator('#aor').inputValue();
    assert.match(aor, /^sip:user\d{4}@127\.0\.0\.1$/, 'a random user on the domain the page was opened by');
    assert.equal(await p.locator('#server').inputValue(), `wss://127.0.0.1:${port()}`, 'the server is this gateway');
    assert.equal(await p.locator('#gateway-hint').isVisible(), true);
    assert.match(await p.locator('#gateway-hint').innerText(), /^Open this page twice and call each other/);
    await p.locator('#register').click();
    await page.waitForState('registered');
    assert.deepEqual(await page.statusLine(), { text: `Registered as ${aor}`, state: 'registered' });
    aors.set(page, aor);
    return page;
  };
  const userOf = (aor: string): string => /^sip:([^@]+)@/.exec(aor)?.[1] ?? aor;

  scenario('both pages register with the SBC itself; the admin API lists them on WSS flows', async () => {
    const a = await openAndRegister('first');
    const b = await openAndRegister('second');
    assert.notEqual(aors.get(a), aors.get(b), 'two different random users');
    const api = await registrations();
    assert.equal(api.mode, 'local');
    for (const page of [a, b]) {
      const reg = api.registrations.find((r) => r.aor === aors.get(page));
      assert.ok(reg, `${aors.get(page)} is listed: ${JSON.stringify(api)}`);
      assert.equal(reg.contacts[0]?.transport, 'wss');
      assert.equal(reg.contacts[0]?.flowUp, true);
    }
  });

  scenario('the first page calls the second by its user name: it rings, answers, audio flows both ways, hang-up ends both', async () => {
    const [caller, callee] = [pages[0], pages[1]].map((p) => need(p, 'a registered page (first scenario)'));
    const calleeAor = need(aors.get(callee!), 'the callee\'s AOR');
    // What a user types: the other page's user name; the page puts it in its own domain.
    await caller!.page.locator('#destination').fill(userOf(calleeAor));
    await caller!.page.locator('#call').click();
    await callee!.waitForState('ringing');
    assert.match(await callee!.page.locator('#incoming-caller').innerText(), new RegExp(`Incoming call from .*${userOf(need(aors.get(caller!), 'caller AOR'))}@127\\.0\\.0\\.1`));
    await callee!.answer();
    await Promise.all([caller!.waitForState('in call'), callee!.waitForState('in call')]);
    const [heardByCaller, heardByCallee] = await Promise.all([waitForAudio(caller!), waitForAudio(callee!)]);
    for (const [page, heard] of [[caller!, heardByCaller], [callee!, heardByCallee]] as const) {
      assert.ok(heard.after.inboundPackets > heard.before.inboundPackets, `${page.name} receives audio packets`);
      assert.ok(heard.after.audioEnergy > heard.before.audioEnergy, `${page.name} plays audio with energy`);
    }
    await callee!.hangup();
    await Promise.all([caller!.waitForState('ended'), callee!.waitForState('ended')]);
    assert.equal((await caller!.statusLine()).text, 'Call ended: remote hung up');
  });

  scenario('a call to a user nobody registered fails with 404', async () => {
    const caller = need(pages[0], 'a registered page');
    await caller.call('nobody');
    await caller.waitForState('ended');
    assert.equal((await caller.statusLine()).text, 'Call ended: 404 Not Found');
  });

  scenario('one user on two pages: a call rings both, one answers, the other stops ringing', async () => {
    const caller = need(pages[0], 'a registered page');
    const callee = need(pages[1], 'the second page');
    const calleeAor = need(aors.get(callee), 'the callee\'s AOR');
    const twin = await SoftphonePage.open(need(browser, 'Chromium'), `https://127.0.0.1:${port()}/`, 'twin');
    pages.push(twin);
    await twin.register({ server: `wss://127.0.0.1:${port()}`, aor: calleeAor });
    await twin.waitForState('registered');
    assert.equal((await registrations()).registrations.find((r) => r.aor === calleeAor)?.contacts.length, 2);

    await caller.call(calleeAor);
    await Promise.all([callee.waitForState('ringing'), twin.waitForState('ringing')]);
    await twin.answer();
    await Promise.all([caller.waitForState('in call'), twin.waitForState('in call')]);
    await callee.waitForState('ended');
    assert.match((await callee.statusLine()).text, /^Call ended: /, 'the other page stopped ringing (CANCEL)');
    await caller.hangup();
    await twin.waitForState('ended');
  });
});
