import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test, type TestContext } from 'node:test';
import { createLogger } from '../../../src/log/logger.js';
import type { SipRequest } from '../../../src/sip/message.js';
import { parseMessage } from '../../../src/sip/parser.js';
import { SourceScreen, type SourceScreenOptions } from '../../../src/security/request-screen.js';
import { FakeFlow } from '../transport/fake-flow.js';

const DEFAULT_AGENTS = ['friendly-scanner', 'sipvicious', 'sipcli', 'sip-scan', 'sundayddr', 'iwar', 'sivus', 'smap', 'sipsak'];

function options(userAgent?: string): SipRequest {
  const text = [
    'OPTIONS sip:sbc.example.com SIP/2.0',
    'Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds;rport',
    'Max-Forwards: 70',
    'From: <sip:alice@example.com>;tag=1928301774',
    'To: <sip:sbc.example.com>',
    'Call-ID: a84b4c76e66710@pc33.example.com',
    'CSeq: 1 OPTIONS',
    ...(userAgent !== undefined ? [`User-Agent: ${userAgent}`] : []),
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  const r = parseMessage(Buffer.from(text));
  assert.ok(r.ok && r.value.kind === 'request');
  return r.value;
}

const from = (address: string): FakeFlow => new FakeFlow(`udp-${address}`, 'udp', { address, port: 5060 });

interface Harness { screen: SourceScreen; clock: { now: number }; logs: Array<Record<string, unknown>> }

function harness(t: TestContext, o: Partial<SourceScreenOptions> = {}): Harness {
  const logs: Array<Record<string, unknown>> = [];
  const sink = new Writable({ write(chunk, _enc, done) { logs.push(JSON.parse(String(chunk)) as Record<string, unknown>); done(); } });
  const clock = { now: 1_000_000 };
  const screen = new SourceScreen({
    requestsPerSecondPerIp: 50, burst: 100, banSeconds: 300, blockedUserAgents: DEFAULT_AGENTS,
    logger: createLogger('info', sink), now: () => clock.now, ...o,
  });
  t.after(() => screen.close());
  return { screen, clock, logs };
}

test('a scanner User-Agent is dropped silently and its source banned', (t) => {
  const { screen, logs } = harness(t);
  const scanner = from('198.51.100.7');
  assert.deepEqual(screen.screen(options('friendly-scanner'), scanner), { kind: 'drop', reason: 'blocked-user-agent' });
  assert.deepEqual(screen.screen(options('Mozilla/5.0 innocent'), scanner), { kind: 'drop', reason: 'banned' }, 'it comes back under another name');
  assert.deepEqual(screen.screen(options('Mozilla/5.0 innocent'), from('198.51.100.8')), { kind: 'pass' });
  assert.deepEqual(screen.screen(options(), from('198.51.100.9')), { kind: 'pass' }, 'no User-Agent at all');
  assert.deepEqual(logs.map((l) => [l.msg, l.ip, l.reason, l.seconds]), [['source banned', '198.51.100.7', 'blocked-user-agent', 300]]);
});

test('over the rate: one 503 with Retry-After, then silence until the ban ends', (t) => {
  const { screen, clock, logs } = harness(t, { requestsPerSecondPerIp: 2, burst: 3, banSeconds: 2 });
  const peer = from('203.0.113.5');
  const verdicts = Array.from({ length: 8 }, () => screen.screen(options('SIP.js/0.21.2'), peer));
  assert.deepEqual(verdicts.slice(0, 3).map((v) => v.kind), ['pass', 'pass', 'pass']);
  assert.deepEqual(verdicts[3], { kind: 'reject', reason: 'rate-limited', status: 503, phrase: 'Service Unavailable', headers: { 'retry-after': '2' } });
  assert.deepEqual(verdicts.slice(4).map((v) => v.kind === 'drop' && v.reason), ['banned', 'banned', 'banned', 'banned']);
  assert.equal(screen.screen(options('SIP.js/0.21.2'), from('203.0.113.6')).kind, 'pass', 'another source is unaffected');
  assert.equal(logs.length, 1, 'one log line per ban, not per dropped request');
  assert.deepEqual([logs[0]?.ip, logs[0]?.reason, logs[0]?.seconds], ['203.0.113.5', 'rate-limited', 2]);

  clock.now += 1999;
  assert.equal(screen.screen(options('SIP.js/0.21.2'), peer).kind, 'drop');
  clock.now += 1;
  const after = Array.from({ length: 4 }, () => screen.screen(options('SIP.js/0.21.2'), peer).kind);
  assert.deepEqual(after, ['pass', 'pass', 'pass', 'reject'], 'after the ban: a fresh burst, then limited again');
});

test('the product defaults never limit a phone or a busy browser tab', (t) => {
  const { screen, clock } = harness(t);
  const phone = from('192.0.2.44');
  // A REGISTER refresh, a call with its in-dialog requests, and a burst of 60 MESSAGEs, within a second.
  for (let i = 0; i < 80; i++) assert.equal(screen.screen(options('SIP.js/0.21.2'), phone).kind, 'pass');
  // Then 40 requests per second for a minute.
  for (let s = 0; s < 60; s++) {
    clock.now += 1000;
    for (let i = 0; i < 40; i++) assert.equal(screen.screen(options('SIP.js/0.21.2'), phone).kind, 'pass');
  }
});

test('rate 0 = unlimited; no blocked agents and no rate = nothing to screen', (t) => {
  const { screen } = harness(t, { requestsPerSecondPerIp: 0 });
  const peer = from('192.0.2.1');
  for (let i = 0; i < 10_000; i++) assert.equal(screen.screen(options('SIP.js'), peer).kind, 'pass');
  assert.equal(screen.screen(options('sipsak 0.9.8'), peer).kind, 'drop', 'agents still blocked');
  assert.equal(screen.tracked.buckets, 0);
  assert.equal(harness(t, { requestsPerSecondPerIp: 0, blockedUserAgents: [] }).screen.active, false);
});

test('banSeconds 0: every request over the rate gets a 503 and nothing is banned', (t) => {
  const { screen, logs } = harness(t, { requestsPerSecondPerIp: 1, burst: 1, banSeconds: 0 });
  const peer = from('192.0.2.1');
  assert.equal(screen.screen(options(), peer).kind, 'pass');
  const next = screen.screen(options(), peer);
  assert.ok(next.kind === 'reject');
  assert.deepEqual(next.headers, { 'retry-after': '1' });
  assert.equal(screen.screen(options(), peer).kind, 'reject');
  assert.equal(screen.screen(options('sipvicious'), from('192.0.2.2')).kind, 'drop');
  assert.equal(screen.screen(options(), from('192.0.2.2')).kind, 'pass', 'a scanner is dropped but not banned');
  assert.equal(logs.length, 0);
});

test('a spoofed-source flood keeps the tables at their caps, and the sweep empties them', (t) => {
  const { screen, clock, logs } = harness(t, { requestsPerSecondPerIp: 1, burst: 1, banSeconds: 5, limits: { maxTrackedSources: 1000, maxBannedSources: 500, banLogsPerSecond: 5 } });
  const req = options('SIP.js/0.21.2');
  const scan = options('friendly-scanner');
  for (let i = 0; i < 50_000; i++) {
    const flow = from(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
    screen.screen(req, flow);
    screen.screen(i % 2 === 0 ? req : scan, flow);
  }
  const { buckets, bans } = screen.tracked;
  assert.ok(buckets > 0 && buckets <= 1000, `buckets ${buckets}`);
  assert.ok(bans > 0 && bans <= 500, `bans ${bans}`);
  assert.equal(logs.length, 5, 'ban lines are capped per second');
  clock.now += 5000;
  screen.sweep();
  assert.deepEqual(screen.tracked, { buckets: 0, bans: 0 });
  const summary = logs.at(-1);
  assert.equal(summary?.count, 50_000 - 5, 'the bans not logged one by one are summed up once');
});

test('close() forgets every ban', (t) => {
  const { screen } = harness(t);
  const peer = from('192.0.2.1');
  screen.screen(options('sipcli/v1.8'), peer);
  screen.close();
  screen.close();
  assert.deepEqual(screen.tracked, { buckets: 0, bans: 0 });
});
