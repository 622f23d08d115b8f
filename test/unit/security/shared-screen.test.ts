/**
 * SharedScreen between two screens on one MemoryStore (the same messages as
 * over the supervisor's store or Redis): a ban anywhere is a ban everywhere,
 * a rate spread over both is counted as one, and a source under its share
 * costs no store traffic.
 */
import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { silentLogger } from '../../../src/log/logger.js';
import type { SipRequest } from '../../../src/sip/message.js';
import { parseMessage } from '../../../src/sip/parser.js';
import { SourceScreen, type ScreenSettings } from '../../../src/security/request-screen.js';
import { SharedScreen } from '../../../src/security/shared-screen.js';
import { MemoryStore } from '../../../src/state/memory-store.js';
import { FakeFlow } from '../transport/fake-flow.js';
import { eventually } from '../state/store-conformance.js';

const SETTINGS: ScreenSettings = { requestsPerSecondPerIp: 10, burst: 30, banSeconds: 60, blockedUserAgents: ['friendly-scanner'] };

function options(userAgent = 'SIP.js/0.21.2'): SipRequest {
  const text = `OPTIONS sip:sbc.example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK1\r\nMax-Forwards: 70\r\nFrom: <sip:a@example.com>;tag=1\r\nTo: <sip:sbc.example.com>\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\nUser-Agent: ${userAgent}\r\nContent-Length: 0\r\n\r\n`;
  const r = parseMessage(Buffer.from(text));
  assert.ok(r.ok && r.value.kind === 'request');
  return r.value;
}

const from = (address: string): FakeFlow => new FakeFlow(`udp-${address}`, 'udp', { address, port: 5060 });

/** Wall clock fixed inside one window, so a test's requests never straddle two. */
const WINDOW_START = 1_700_000_000_000;

async function screenOn(t: TestContext, store: MemoryStore): Promise<SourceScreen> {
  const screen = new SourceScreen({ ...SETTINGS, logger: silentLogger() });
  const shared = new SharedScreen({ store, prefix: 'sbc:', screen, settings: SETTINGS, peers: 2, logger: silentLogger(), now: () => WINDOW_START + 100, flushIntervalMs: 10 });
  await shared.start();
  t.after(async () => { await shared.close(); screen.close(); });
  return screen;
}

describe('SharedScreen', () => {
  test('a scanner banned on one screen is dropped by the other', async (t) => {
    const store = new MemoryStore();
    t.after(() => store.close());
    const a = await screenOn(t, store);
    const b = await screenOn(t, store);
    assert.equal(a.screen(options('friendly-scanner'), from('192.0.2.1')).kind, 'drop');
    await eventually(() => b.tracked.bans === 1, 'b banned the source');
    assert.equal(b.screen(options(), from('192.0.2.1')).kind, 'drop');
    assert.equal(b.screen(options(), from('192.0.2.2')).kind, 'pass', 'other sources pass');
  });

  test('a rate spread over two screens, under each one\'s bucket, is banned on both; a source under its share writes nothing', async (t) => {
    const store = new MemoryStore();
    t.after(() => store.close());
    const a = await screenOn(t, store);
    const b = await screenOn(t, store);
    const window = String(Math.floor((WINDOW_START + 100) / 1000));
    // (10 + 30) / (2 × 2) = 10 requests: the share a screen keeps to itself.
    for (let i = 0; i < 9; i++) assert.equal(a.screen(options(), from('192.0.2.9')).kind, 'pass');
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(await store.get(`sbc:rate:192.0.2.9:${window}`), undefined, 'nothing counted in the store under the share');

    for (let i = 0; i < 25; i++) {
      assert.equal(a.screen(options(), from('192.0.2.7')).kind, 'pass');
      assert.equal(b.screen(options(), from('192.0.2.7')).kind, 'pass');
    }
    // Waiting without screening more: each bucket still has tokens left, only the shared count can ban.
    await eventually(() => a.tracked.bans === 1 && b.tracked.bans === 1, 'both banned the source');
    assert.equal(a.screen(options(), from('192.0.2.7')).kind, 'drop');
    assert.equal(b.screen(options(), from('192.0.2.7')).kind, 'drop');
    assert.ok(Number(await store.get(`sbc:rate:192.0.2.7:${window}`)) > 40, 'the shared count passed rate + burst');
  });
});
