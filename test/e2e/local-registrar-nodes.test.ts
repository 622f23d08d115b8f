/**
 * Two gateways behind one Redis (registrar.mode local, state.store redis) on
 * 127.0.0.2 and 127.0.0.3, trusting each other and sharing flowTokens.secret.
 * A softphone page on each (Chromium) registers with its own gateway; the
 * page on the first calls the user of the second: the first gateway finds
 * the binding in Redis and relays the call to the second, which delivers it
 * over the page's WebSocket. Audio both ways (browser ⇄ browser, SDP passes
 * through), hang-up from the callee.
 *
 * Runs inside a loopback-only network namespace (scripts/run-tests.mjs).
 */
import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
import type { Browser } from 'playwright-core';
import { launchChromium, SoftphonePage, waitForAudio } from '../helpers/browser.js';
import { ensureWebBuilt, need, scenarios } from '../helpers/e2e-bed.js';
import { startRedis, type RunningRedis } from '../helpers/redis.js';
import { startSbc, type TestSbc } from '../helpers/sbc.js';

const DOMAIN = 'example.test';

describe('two gateways on one Redis: pages registered on different nodes call each other', () => {
  let redis: RunningRedis | undefined;
  const nodes: TestSbc[] = [];
  let browser: Browser | undefined;
  const pages: SoftphonePage[] = [];

  before(async () => {
    await ensureWebBuilt();
    redis = await startRedis();
    for (const address of ['127.0.0.2', '127.0.0.3']) {
      nodes.push(await startSbc({
        listen: [
          { transport: 'udp', address, port: 0 },
          { transport: 'wss', address, port: 0 },
        ],
        web: { enabled: true },
        registrar: { mode: 'local', domains: [DOMAIN] },
        state: { store: 'redis', redis: { url: redis.url, keyPrefix: 'e2e-nodes:' } },
        flowTokens: { secret: 'e2e-shared-secret-of-both-nodes-0123' },
        trustedSources: ['127.0.0.2/32', '127.0.0.3/32'],
      }));
    }
    browser = await launchChromium();
  });
  after(async () => {
    for (const page of pages) await page.close();
    await browser?.close().catch(() => undefined);
    for (const n of nodes) await n.stop().catch(() => undefined);
    await redis?.stop();
  });

  const scenario = scenarios(pages);
  const url = (n: TestSbc): string => `${n.listener('wss').address}:${n.listener('wss').boundPort}`;

  scenario('a page on each node registers there; the first calls the second across the nodes with audio both ways', async () => {
    const [first, second] = [need(nodes[0], 'node A'), need(nodes[1], 'node B')];
    const caller = await SoftphonePage.open(need(browser, 'Chromium'), `https://${url(first)}/`, 'on-A');
    const callee = await SoftphonePage.open(need(browser, 'Chromium'), `https://${url(second)}/`, 'on-B');
    pages.push(caller, callee);
    await caller.register({ server: `wss://${url(first)}`, aor: `sip:ann@${DOMAIN}` });
    await callee.register({ server: `wss://${url(second)}`, aor: `sip:ben@${DOMAIN}` });
    await Promise.all([caller.waitForState('registered'), callee.waitForState('registered')]);
    const onB = (await (await fetch(`${second.adminUrl}/api/registrations`)).json()) as { registrations: Array<{ aor: string }> };
    assert.deepEqual(onB.registrations.map((r) => r.aor), [`sip:ben@${DOMAIN}`], 'ben is held by node B');

    await caller.call('ben');
    await callee.waitForState('ringing');
    await callee.answer();
    await Promise.all([caller.waitForState('in call'), callee.waitForState('in call')]);
    const [heardByCaller, heardByCallee] = await Promise.all([waitForAudio(caller), waitForAudio(callee)]);
    for (const [page, heard] of [[caller, heardByCaller], [callee, heardByCallee]] as const) {
      assert.ok(heard.after.inboundPackets > heard.before.inboundPackets, `${page.name} receives audio packets`);
      assert.ok(heard.after.audioEnergy > heard.before.audioEnergy, `${page.name} plays audio with energy`);
    }
    await callee.hangup();
    await Promise.all([caller.waitForState('ended'), callee.waitForState('ended')]);
    assert.equal((await caller.statusLine()).text, 'Call ended: remote hung up');
  });
});
