/**
 * The softphone page (web/, SIP.js) in real Chromium, against the real SBC
 * (in-process, WSS + HTTPS) with a real Kamailio as the Path-honouring
 * registrar behind it. Media is passthrough: two pages on loopback send their
 * WebRTC audio straight to each other, so a call with audio both ways proves
 * the whole signalling path (SDP, Record-Route, Path, flow tokens).
 *
 * Runs inside a loopback-only network namespace (scripts/run-tests.mjs), where
 * Chromium offers only 127.0.0.1 candidates. On failure every page's
 * screenshot and console go to test-output/e2e/ and the message says where.
 * UPDATE_SCREENSHOT=1 rewrites docs/softphone.png from the call scenario.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe } from 'node:test';
import type { Browser } from 'playwright-core';
import { launchChromium, SoftphonePage, waitForAudio } from '../helpers/browser.js';
import { behindKamailio, ensureWebBuilt, need, scenarios } from '../helpers/e2e-bed.js';
import { startKamailio, type KamailioContact, type RunningKamailio } from '../helpers/kamailio.js';
import { repoRoot } from '../helpers/paths.js';
import { startSbcInProcess, type TestSbc } from '../helpers/sbc.js';

const DOMAIN = 'example.com';
const ALICE = `sip:alice@${DOMAIN}`;
const BOB = `sip:bob@${DOMAIN}`;
const SCREENSHOT_PATH = join(repoRoot, 'docs', 'softphone.png');

interface ApiFlow {
  id: string;
  transport: string;
  remote: string;
  registered: Array<{ aor: string; contact: string }>;
  token?: string;
}

describe('softphone page in Chromium → SBC (WSS) → Kamailio registrar', () => {
  let kam: RunningKamailio | undefined;
  let sbc: TestSbc | undefined;
  let browser: Browser | undefined;
  const pages: SoftphonePage[] = [];
  let alice: SoftphonePage | undefined;
  let bob: SoftphonePage | undefined;

  before(async () => {
    // `npm run build` builds the page; a run straight from the sources may not have.
    await ensureWebBuilt();
    kam = await startKamailio();
    // In-process: one scenario has the gateway drop the page's WebSocket by closing its flow object.
    sbc = await startSbcInProcess(sbcConfig(kam, { udp: 0, wss: 0 }));
    browser = await launchChromium();
  });

  after(async () => {
    for (const page of pages) await page.close();
    await browser?.close().catch(() => undefined);
    await sbc?.stop().catch(() => undefined);
    await kam?.stop();
  });

  const pageUrl = (): string => `https://127.0.0.1:${need(sbc, 'the SBC').listener('wss').boundPort}/`;
  const wssUrl = (): string => `wss://127.0.0.1:${need(sbc, 'the SBC').listener('wss').boundPort}`;
  const open = async (name: string): Promise<SoftphonePage> => {
    const page = await SoftphonePage.open(need(browser, 'Chromium'), pageUrl(), name);
    pages.push(page);
    return page;
  };
  const scenario = scenarios(pages);

  /** The binding Kamailio stores for `user`, once it is there and `accept` holds. */
  const binding = async (user: string, accept: (c: KamailioContact) => boolean = () => true): Promise<KamailioContact> => {
    const registrar = need(kam, 'Kamailio');
    let seen: KamailioContact[] = [];
    for (let i = 0; i < 40; i++) {
      seen = await registrar.contacts(user);
      const found = seen.find(accept);
      if (found !== undefined && seen.length === 1) return found;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    throw new Error(`Kamailio's ul.dump never held the expected single binding for ${user}: ${JSON.stringify(seen)}`);
  };

  /** The SBC's flows as an operator sees them (GET /api/flows). */
  const flows = async (): Promise<ApiFlow[]> => {
    const res = await fetch(`${need(sbc, 'the SBC').adminUrl}/api/flows`);
    assert.equal(res.status, 200, 'GET /api/flows');
    return ((await res.json()) as { flows: ApiFlow[] }).flows;
  };
  const flowOf = async (aor: string): Promise<ApiFlow> => {
    const mine = (await flows()).filter((f) => f.registered.some((b) => b.aor === aor));
    assert.equal(mine.length, 1, `exactly one flow of the SBC carries ${aor}: ${JSON.stringify(mine)}`);
    return mine[0]!;
  };

  /** Path as Kamailio stores it: one entry, the SBC's UDP listener, the flow token as user part. */
  const assertOurPath = (contact: KamailioContact, flow: ApiFlow): void => {
    const sbcUdp = need(sbc, 'the SBC').listener('udp');
    assert.equal(contact.path.length, 1, `one Path entry, ours: ${JSON.stringify(contact.path)}`);
    const path = contact.path[0]!;
    const m = /^<sip:([^@>]+)@([^:;>]+):(\d+);([^>]*)>$/.exec(path);
    assert.ok(m, `Path is a SIP URI with a user part: ${path}`);
    assert.equal(m[2], sbcUdp.address, 'the Path hop is on the SBC\'s UDP listener address');
    // With workers: the port of the worker holding the flow, on that address.
    const ports = need(sbc, 'the SBC').ports('udp');
    assert.ok(ports.includes(Number(m[3])), `the Path hop is the SBC's UDP listener (${ports.join(', ')}): ${path}`);
    assert.match(m[4]!, /(^|;)lr(;|$)/, 'loose routing');
    assert.equal(m[1], flow.token, 'the Path user part is the token of the page\'s WSS flow');
    assert.match(contact.contact, /;transport=ws\b/, 'SIP.js\'s WebSocket Contact is stored as it is');
  };

  /** One call from `caller` to `callee`, answered, with audio both ways; returns while it is up. */
  const connectCall = async (caller: SoftphonePage, callee: SoftphonePage, calleeAor: string, callerAor: string): Promise<void> => {
    await caller.call(calleeAor);
    await callee.waitForState('ringing');
    const ringing = await callee.page.locator('#incoming').isVisible();
    assert.ok(ringing, `${callee.name} shows the incoming call panel`);
    assert.match(await callee.page.locator('#incoming-caller').innerText(), new RegExp(`Incoming call from .*${userOf(callerAor)}@${DOMAIN}`));
    await callee.answer();
    await Promise.all([caller.waitForState('in call'), callee.waitForState('in call')]);
    assert.equal((await caller.statusLine()).text, `In call with ${userOf(calleeAor)}@${DOMAIN}`);
    assert.match((await callee.statusLine()).text, new RegExp(`^In call with .*${userOf(callerAor)}@${DOMAIN}`));

    const [heardByCaller, heardByCallee] = await Promise.all([waitForAudio(caller), waitForAudio(callee)]);
    for (const [page, heard] of [[caller, heardByCaller], [callee, heardByCallee]] as const) {
      assert.ok(heard.after.inboundPackets > heard.before.inboundPackets, `${page.name} receives audio packets`);
      assert.ok(heard.after.audioEnergy > heard.before.audioEnergy, `${page.name} plays audio with energy (the other side's beep)`);
      assert.ok(heard.after.outboundPackets > 0, `${page.name} sends audio`);
    }
  };

  const hangUp = async (by: SoftphonePage, other: SoftphonePage): Promise<void> => {
    await by.hangup();
    await Promise.all([by.waitForState('ended'), other.waitForState('ended')]);
    assert.equal((await by.statusLine()).text, 'Call ended: hung up');
    assert.equal((await other.statusLine()).text, 'Call ended: remote hung up');
    assert.match(await other.page.locator('#call-log li').first().innerText(), /remote hung up/, `${other.name}'s call log has the call`);
  };

  scenario('the page loads over HTTPS, registers through the SBC to Kamailio with our Path, and shows "registered"', async () => {
    alice = await open('alice');
    const page = alice.page;
    assert.equal(await page.locator('h1').innerText(), 'webrtc-sbc softphone', 'the page the SBC serves at /');
    assert.equal(await page.locator('#server').inputValue(), wssUrl(), 'the form points at the SBC the page came from');
    assert.equal((await alice.statusLine()).text, 'Not registered');

    // What a user does: type the address of record and press Register.
    await page.locator('#aor').fill(ALICE);
    await page.locator('#register').click();
    await alice.waitForState('registered');
    assert.deepEqual(await alice.statusLine(), { text: `Registered as ${ALICE}`, state: 'registered' });
    assert.equal(await page.locator('#account-summary').innerText(), ALICE, 'the folded account shows who is registered');
    assert.equal(await page.locator('#call').isDisabled(), false, 'the Call button is enabled');

    const flow = await flowOf(ALICE);
    assert.equal(flow.transport, 'wss');
    assertOurPath(await binding('alice'), flow);
  });

  scenario('two pages registered as two users call each other through SBC and Kamailio, with audio both ways', async () => {
    const caller = need(alice, 'alice\'s page (first scenario)');
    bob = await open('bob');
    await bob.register({ server: wssUrl(), aor: BOB, displayName: 'Bob' });
    await bob.waitForState('registered');
    assertOurPath(await binding('bob'), await flowOf(BOB));

    await connectCall(caller, bob, BOB, ALICE);
    const registrar = need(kam, 'Kamailio');
    // Kamailio's lookup() sent the INVITE to bob's WebSocket Contact by way of our Path.
    const sbcUdpPort = need(sbc, 'the SBC').listener('udp').boundPort;
    const branch = await registrar.waitForEvent(new RegExp(`^branch \\d+ ci=\\S+ ruri=sip:[^@ ]+@[^ ]+;transport=ws du=sip:[^@ ]+@127\\.0\\.0\\.1:${sbcUdpPort};`));
    assert.ok(branch.includes(';lr'), `the branch went along the Path: ${branch}`);
    assert.match(await caller.page.locator('#q-in').innerText(), /^[1-9]\d*$/, 'the quality panel counts received packets');

    if (process.env.UPDATE_SCREENSHOT === '1') await caller.screenshot(SCREENSHOT_PATH);
    await hangUp(caller, bob);
  });

  scenario('the SBC drops the page\'s WebSocket: the page reconnects, registers again with a new Path, and takes a new call', async () => {
    const dropped = need(alice, 'alice\'s page');
    const other = need(bob, 'bob\'s page');
    const server = need(sbc, 'the SBC').server;
    const before = await flowOf(ALICE);
    const bobFlow = await flowOf(BOB);
    const oldBinding = await binding('alice');

    const flow = server.transport.flows.get(before.id);
    assert.ok(flow !== undefined, `the SBC holds alice's flow ${before.id}`);
    flow.close('e2e: the server drops the WebSocket');

    // Kamailio gets a fresh REGISTER whose Path names the new connection.
    const fresh = await binding('alice', (c) => c.path[0] !== oldBinding.path[0]);
    await dropped.waitForState('registered');
    assert.deepEqual(await dropped.statusLine(), { text: `Registered as ${ALICE}`, state: 'registered' });
    const after = await flowOf(ALICE);
    assert.notEqual(after.id, before.id, 'a new WSS flow');
    assertOurPath(fresh, after);
    assert.equal(fresh.contact, oldBinding.contact, 'the same Contact, re-registered rather than added');
    const sockets = dropped.consoleLines().filter((l) => l.includes('[websocket] open'));
    assert.equal(sockets.length, 2, `the page opened its WebSocket twice: ${sockets.join(' | ')}`);
    assert.equal((await flowOf(BOB)).id, bobFlow.id, 'bob\'s connection was left alone');

    // Bob reaches alice along the new Path.
    await connectCall(other, dropped, ALICE, BOB);
    await hangUp(dropped, other);
  });

  scenario('the SBC restarts on the same ports: both pages show "reconnecting", come back, register again and call', async () => {
    const a = need(alice, 'alice\'s page');
    const b = need(bob, 'bob\'s page');
    const old = need(sbc, 'the SBC');
    const ports = { udp: old.listener('udp').boundPort, wss: old.listener('wss').boundPort };
    const oldPaths = { alice: (await binding('alice')).path[0], bob: (await binding('bob')).path[0] };

    sbc = undefined;
    await old.stop();
    await Promise.all([a.waitForState('reconnecting'), b.waitForState('reconnecting')]);
    const shown = await a.statusLine();
    assert.equal(shown.state, 'reconnecting');
    assert.match(shown.text, /^Connection lost \(.+\); reconnecting (now|in \d+ s)…$/, 'the user is told the phone is trying again');

    // A new process signs flow tokens with a new random key: only a fresh REGISTER makes the old Path usable again.
    sbc = await startSbcInProcess(sbcConfig(need(kam, 'Kamailio'), ports));
    await Promise.all([a.waitForState('registered', 20_000), b.waitForState('registered', 20_000)]);
    const [aliceNow, bobNow] = await Promise.all([
      binding('alice', (c) => c.path[0] !== oldPaths.alice),
      binding('bob', (c) => c.path[0] !== oldPaths.bob),
    ]);
    assertOurPath(aliceNow, await flowOf(ALICE));
    assertOurPath(bobNow, await flowOf(BOB));

    await connectCall(a, b, BOB, ALICE);
    await hangUp(b, a);
  });
});

/** The SBC under test: UDP toward Kamailio, WSS (and the page over HTTPS) toward the browsers. */
function sbcConfig(kam: RunningKamailio, ports: { udp: number; wss: number }): Record<string, unknown> {
  return {
    listen: [
      { transport: 'udp', address: '127.0.0.1', port: ports.udp },
      { transport: 'wss', address: '127.0.0.1', port: ports.wss },
    ],
    ...behindKamailio(kam.uri),
    // No media engine yet: the two pages' WebRTC media goes peer to peer on loopback.
    media: { mode: 'passthrough' },
  };
}

function userOf(aor: string): string {
  return /^sip:([^@]+)@/.exec(aor)?.[1] ?? aor;
}
