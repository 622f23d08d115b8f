/**
 * Call records of real browser calls: the softphone page (SIP.js in
 * Chromium) on a gateway with its defaults (local registrar, embedded media)
 * and `callRecords.file`. A page calls another page, the callee hangs up; a
 * page calls the echo service and hangs up. Each call leaves one line that
 * says who called whom over WSS, through which media, and who ended it.
 *
 * Runs inside a loopback-only network namespace (scripts/run-tests.mjs).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe } from 'node:test';
import type { Browser } from 'playwright-core';
import { launchChromium, SoftphonePage } from '../helpers/browser.js';
import { ensureWebBuilt, need, scenarios } from '../helpers/e2e-bed.js';
import { startSbc, type TestSbc } from '../helpers/sbc.js';
import { readRecords } from '../integration/records/records-helpers.js';
import type { CallRecord } from '../../src/records/index.js';

describe('call records of browser calls (SIP.js in Chromium)', () => {
  let dir: string;
  let file: string;
  let sbc: TestSbc | undefined;
  let browser: Browser | undefined;
  const pages: SoftphonePage[] = [];

  before(async () => {
    await ensureWebBuilt();
    dir = mkdtempSync(join(tmpdir(), 'sbc-e2e-records-'));
    file = join(dir, 'calls.jsonl');
    sbc = await startSbc({
      listen: [
        { transport: 'udp', address: '127.0.0.1', port: 0 },
        { transport: 'wss', address: '127.0.0.1', port: 0 },
      ],
      web: { enabled: true },
      overload: { enabled: false },
      media: { mode: 'embedded', embedded: { address: '127.0.0.1', ports: '25600-25699' } },
      callRecords: { file },
    });
    browser = await launchChromium();
  });
  after(async () => {
    for (const page of pages) await page.close();
    await browser?.close().catch(() => undefined);
    await sbc?.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  const scenario = scenarios(pages);

  const openRegistered = async (name: string): Promise<{ page: SoftphonePage; user: string }> => {
    const port = need(sbc, 'the SBC').listener('wss').boundPort;
    const page = await SoftphonePage.open(need(browser, 'Chromium'), `https://127.0.0.1:${port}/`, name);
    pages.push(page);
    for (let i = 0; i < 50 && (await page.page.locator('#aor').inputValue()) === ''; i++) await new Promise((r) => setTimeout(r, 100));
    const aor = await page.page.locator('#aor').inputValue();
    await page.page.locator('#register').click();
    await page.waitForState('registered');
    return { page, user: /^sip:([^@]+)@/.exec(aor)?.[1] ?? aor };
  };

  const waitForRecords = async (n: number): Promise<CallRecord[]> => {
    for (let i = 0; i < 100 && readRecords(file).length < n; i++) await new Promise((r) => setTimeout(r, 50));
    return readRecords(file);
  };

  scenario('page to page, the callee hangs up: proxy, local, wss, embedded media, bye-callee', async () => {
    const caller = await openRegistered('caller');
    const callee = await openRegistered('callee');
    await caller.page.page.locator('#destination').fill(callee.user);
    await caller.page.page.locator('#call').click();
    await callee.page.waitForState('ringing');
    await callee.page.answer();
    await Promise.all([caller.page.waitForState('in call'), callee.page.waitForState('in call')]);
    await new Promise((r) => setTimeout(r, 500));
    await callee.page.hangup();
    await Promise.all([caller.page.waitForState('ended'), callee.page.waitForState('ended')]);
    const [r] = await waitForRecords(1);
    assert.ok(r !== undefined, 'one record');
    assert.equal(r.mode, 'proxy');
    assert.equal(r.direction, 'local');
    assert.equal(r.fromUser, caller.user);
    assert.equal(r.toUser, callee.user);
    assert.equal(r.transport, 'wss');
    assert.equal(r.source.transport, 'wss');
    assert.equal(r.media, 'embedded');
    assert.equal(r.status, 200);
    assert.equal(r.reason, 'bye-callee');
    assert.ok(r.duration >= 0.4, `duration ${r.duration}`);
  });

  scenario('page to echo (9196), the page hangs up: service record, bye-caller', async () => {
    const caller = pages[0] ?? (await openRegistered('caller')).page;
    await caller.call('9196');
    await caller.waitForState('in call');
    await caller.hangup();
    await caller.waitForState('ended');
    const records = await waitForRecords(2);
    assert.equal(records.length, 2, 'one record per call: the page-to-page call and this one');
    const r = records.find((x) => x.mode === 'service');
    assert.ok(r !== undefined, `a service record: ${JSON.stringify(records)}`);
    assert.deepEqual(r.target, { service: 'echo' });
    assert.equal(r.transport, 'wss');
    assert.equal(r.reason, 'bye-caller');
    assert.equal(r.media, 'embedded');
  });
});
