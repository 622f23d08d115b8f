/**
 * The browser-facing edge in Chromium: the gateway allows only its own page's
 * Origin and requires a handshake token (security.websocket), and
 * authenticates SIP with digest (security.auth.mode local) for everyone
 * without a token.
 *
 * - A page served by another site (a tiny HTTP server on another loopback
 *   port) that opens a WebSocket to the gateway, even with a valid token, is
 *   refused with HTTP 403 before any SIP: the browser reports the 403 and the
 *   gateway counts the refusal.
 * - The softphone page (the allowed origin) with a token for alice in its
 *   WebSocket URL, and no password, registers; bob likewise on a second
 *   page; alice calls bob, audio flows both ways, hang-up ends both.
 * - The softphone page without a token cannot connect (HTTP 401); with
 *   alice's token it cannot register as bob (403).
 *
 * Runs inside a loopback-only network namespace (scripts/run-tests.mjs).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe } from 'node:test';
import type { Browser, BrowserContext } from 'playwright-core';
import { launchChromium, SoftphonePage, waitForAudio } from '../helpers/browser.js';
import { ensureWebBuilt, need, scenarios } from '../helpers/e2e-bed.js';
import { freePortInRange } from '../helpers/free-port.js';
import { hmacKey, mintToken } from '../helpers/handshake-token.js';
import { startSbc, type TestSbc } from '../helpers/sbc.js';

const signing = hmacKey();

/** The page another site serves: it tries to open a SIP WebSocket to the gateway with the visitor's browser. */
function foreignPage(gateway: string): string {
  return `<!doctype html><meta charset="utf-8"><title>another site</title><script>
    window.outcome = new Promise((resolve) => {
      const ws = new WebSocket(${JSON.stringify(gateway)}, 'sip');
      ws.onopen = () => resolve('open');
      ws.onclose = (e) => resolve('closed ' + e.code);
    });
  </script>`;
}

describe('the browser-facing edge: Origin allowlist and handshake token in Chromium', () => {
  let sbc: TestSbc | undefined;
  let browser: Browser | undefined;
  let foreign: Server | undefined;
  let foreignContext: BrowserContext | undefined;
  let wssPort = 0;
  const dir = mkdtempSync(join(tmpdir(), 'sbc-e2e-edge-'));
  const pages: SoftphonePage[] = [];

  before(async () => {
    await ensureWebBuilt();
    wssPort = await freePortInRange(20000, 29999);
    writeFileSync(join(dir, 'users'), 'alice:alice-password\nbob:bob-password\n');
    sbc = await startSbc({
      listen: [
        { transport: 'udp', address: '127.0.0.1', port: 0 },
        { transport: 'wss', address: '127.0.0.1', port: wssPort },
      ],
      web: { enabled: true },
      security: {
        auth: { mode: 'local', usersFile: join(dir, 'users') },
        websocket: { allowedOrigins: [`https://127.0.0.1:${wssPort}`], allowMissingOrigin: false, token: { ...signing.config } },
      },
    });
    browser = await launchChromium();
  });
  after(async () => {
    for (const page of pages) await page.close();
    await foreignContext?.close().catch(() => undefined);
    await browser?.close().catch(() => undefined);
    await new Promise((r) => (foreign === undefined ? r(undefined) : foreign.close(() => r(undefined))));
    await sbc?.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  const scenario = scenarios(pages);
  const gatewayUrl = (token?: string): string => `wss://127.0.0.1:${wssPort}/${token !== undefined ? `?token=${token}` : ''}`;
  const refusals = async (): Promise<Record<string, number>> => {
    const text = await (await fetch(`${need(sbc, 'the SBC').adminUrl}/metrics`)).text();
    const out: Record<string, number> = {};
    for (const m of text.matchAll(/^sbc_ws_handshakes_rejected_total\{reason="([^"]+)"\} (\d+)$/gm)) out[m[1]!] = Number(m[2]);
    return out;
  };
  const openPhone = async (name: string): Promise<SoftphonePage> => {
    const page = await SoftphonePage.open(need(browser, 'Chromium'), `https://127.0.0.1:${wssPort}/`, name);
    pages.push(page);
    return page;
  };

  scenario('a page on another origin opening a SIP WebSocket, even with a valid token, gets HTTP 403 and never a SIP flow', async () => {
    const token = await mintToken(signing, { sub: 'alice' });
    foreign = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(foreignPage(gatewayUrl(token))));
    await new Promise<void>((resolve) => foreign!.listen(0, '127.0.0.1', () => resolve()));
    const port = (foreign.address() as { port: number }).port;
    foreignContext = await need(browser, 'Chromium').newContext({ ignoreHTTPSErrors: true });
    const page = await foreignContext.newPage();
    const consoleLines: string[] = [];
    page.on('console', (m) => consoleLines.push(m.text()));
    const before = (await refusals())['origin-not-allowed'] ?? 0;
    const wssFlows = async (): Promise<number> => ((await (await fetch(`${sbc!.adminUrl}/api/flows`)).json()) as { flows: Array<{ transport: string }> }).flows.filter((f) => f.transport === 'wss').length;
    const flowsBefore = await wssFlows();
    await page.goto(`http://127.0.0.1:${port}/`);
    const outcome = await page.evaluate(() => (globalThis as unknown as { outcome: Promise<string> }).outcome);
    assert.equal(outcome, 'closed 1006', 'the WebSocket never opened');
    assert.ok(consoleLines.some((l) => /Unexpected response code: 403/.test(l)), `the browser saw the 403: ${consoleLines.join(' | ')}`);
    assert.equal((await refusals())['origin-not-allowed'], before + 1, 'the gateway counted it');
    assert.equal(await wssFlows(), flowsBefore, 'no flow was opened for it');
  });

  scenario('the gateway\'s own page with a token and no password registers alice and bob, who call each other with audio both ways', async () => {
    const alice = await openPhone('alice');
    const bob = await openPhone('bob');
    await alice.register({ server: gatewayUrl(await mintToken(signing, { sub: 'alice' })), aor: 'sip:alice@127.0.0.1' });
    await bob.register({ server: gatewayUrl(await mintToken(signing, { sub: 'bob' })), aor: 'sip:bob@127.0.0.1' });
    await Promise.all([alice.waitForState('registered'), bob.waitForState('registered')]);
    assert.deepEqual(await alice.statusLine(), { text: 'Registered as sip:alice@127.0.0.1', state: 'registered' });

    await alice.call('bob');
    await bob.waitForState('ringing');
    await bob.answer();
    await Promise.all([alice.waitForState('in call'), bob.waitForState('in call')]);
    const [heardByAlice, heardByBob] = await Promise.all([waitForAudio(alice), waitForAudio(bob)]);
    for (const [page, heard] of [[alice, heardByAlice], [bob, heardByBob]] as const) {
      assert.ok(heard.after.inboundPackets > heard.before.inboundPackets, `${page.name} receives audio packets`);
      assert.ok(heard.after.audioEnergy > heard.before.audioEnergy, `${page.name} plays audio with energy`);
    }
    await alice.hangup();
    await Promise.all([alice.waitForState('ended'), bob.waitForState('ended')]);
  });

  scenario('without a token the page cannot connect (401); with alice\'s token it cannot register as bob (403)', async () => {
    const page = await openPhone('intruder');
    const before = (await refusals())['token-missing'] ?? 0;
    await assert.rejects(page.register({ server: gatewayUrl(), aor: 'sip:alice@127.0.0.1', password: 'alice-password' }));
    assert.equal((await page.statusLine()).state, 'unregistered');
    assert.match((await page.statusLine()).text, /^Could not connect to wss:/);
    assert.equal((await refusals())['token-missing'], before + 1);

    await assert.rejects(page.register({ server: gatewayUrl(await mintToken(signing, { sub: 'alice' })), aor: 'sip:bob@127.0.0.1' }));
    assert.deepEqual(await page.statusLine(), { text: 'Registration failed: 403 Forbidden: not the user of the token', state: 'unregistered' });
  });
});
