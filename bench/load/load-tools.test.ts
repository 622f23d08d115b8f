/**
 * The load tools themselves: their SIP text helpers, the statistics, and a
 * short real run of generator → UAS and generator → SBC → UAS, so a bench
 * figure can be trusted to count what it claims.
 * Run: node --import tsx --test bench/load/load-tools.test.ts
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ensureCertificate } from '../../src/certs/index.js';
import { silentLogger } from '../../src/log/logger.js';
import { startSbc, type TestSbc } from '../../test/helpers/sbc.js';
import { forkWorker, nextMessage, stopChild } from './children.js';
import { headerValue, recordRoutes, splitMessage, statusOf, tagOf, uriOf } from './sip-text.js';
import { combine, quantile, type WorkerReport } from './stats.js';
import type { OpenReport } from './wss-clients.js';

describe('sip-text', () => {
  const res =
    'SIP/2.0 200 OK\r\n' +
    'v: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1\r\n' +
    'Record-Route: <sip:a@10.0.0.1;lr>, <sip:b@10.0.0.2;lr>\r\n' +
    'Record-Route: <sip:c@10.0.0.3;lr;ob>\r\n' +
    't: <sip:bob@example.com>;tag=xyz\r\n' +
    'i: abc@host\r\n' +
    'm: "Bob" <sip:bob@10.0.0.9:5080;transport=udp>;expires=60\r\n' +
    '\r\n' +
    'body';

  test('splits a message and finds headers in compact form', () => {
    const msg = splitMessage(res);
    assert.equal(statusOf(msg.startLine), 200);
    assert.equal(msg.body, 'body');
    assert.equal(headerValue(msg, 'call-id'), 'abc@host');
    assert.equal(tagOf(headerValue(msg, 'to') ?? ''), 'xyz');
    assert.equal(uriOf(headerValue(msg, 'contact') ?? ''), 'sip:bob@10.0.0.9:5080;transport=udp');
  });

  test('Record-Route entries in order across comma lists and lines', () => {
    assert.deepEqual(recordRoutes(splitMessage(res)), ['<sip:a@10.0.0.1;lr>', '<sip:b@10.0.0.2;lr>', '<sip:c@10.0.0.3;lr;ob>']);
  });

  test('a request start line has no status', () => {
    assert.equal(statusOf('INVITE sip:a@b SIP/2.0'), 0);
  });
});

describe('stats', () => {
  test('nearest-rank quantiles', () => {
    const sorted = Array.from({ length: 100 }, (_, i) => i + 1);
    assert.equal(quantile(sorted, 0.5), 50);
    assert.equal(quantile(sorted, 0.99), 99);
    assert.ok(Number.isNaN(quantile([], 0.5)));
  });

  test('workers add up; latencies merge before the quantiles', () => {
    const a: WorkerReport = { mode: 'call', started: 10, ok: 9, failed: 1, failures: { 'timeout:BYE': 1 }, sendMs: 1000, latenciesMs: [1, 2, 3], cpuMs: 5 };
    const b: WorkerReport = { mode: 'call', started: 10, ok: 10, failed: 0, failures: {}, sendMs: 900, latenciesMs: [4, 5], cpuMs: 5 };
    const s = combine([a, b]);
    assert.equal(s.started, 20);
    assert.equal(s.failed, 1);
    assert.deepEqual(s.failures, { 'timeout:BYE': 1 });
    assert.equal(s.p50Ms, 3);
    assert.equal(s.sentRate, 20);
  });
});

/** Run one generator worker to the end and return its report. */
async function generate(args: string[]): Promise<WorkerReport> {
  const child = forkWorker('uac', args);
  try {
    return await nextMessage(child, (m) => (m as { report?: WorkerReport }).report, 30_000);
  } finally {
    await stopChild(child);
  }
}

describe('generator and UAS over real UDP', () => {
  let uas: ReturnType<typeof forkWorker>;
  let uasPort: number;
  let sbc: TestSbc;

  before(async () => {
    uas = forkWorker('uas', []);
    uasPort = await nextMessage(uas, (m) => (m as { port?: number }).port, 10_000);
    sbc = await startSbc({
      listen: [{ transport: 'udp', address: '127.0.0.1', port: 0 }],
      backends: { default: { probe: { intervalSeconds: 0 }, targets: [{ uri: `sip:127.0.0.1:${uasPort};transport=udp` }] } },
      media: { mode: 'passthrough' },
      // Every generator shares 127.0.0.1.
      security: { rateLimit: { requestsPerSecondPerIp: 0 } },
    });
  });
  after(async () => {
    await sbc?.stop();
    if (uas !== undefined) await stopChild(uas);
  });

  const uasStats = async (): Promise<Record<string, number>> => {
    uas.send({ cmd: 'stats' });
    const s = await nextMessage(uas, (m) => (m as { stats?: { received: Record<string, number> } }).stats, 5000);
    return s.received;
  };

  test('50 calls straight to the UAS complete: INVITE, ACK and BYE each arrive 50 times', async () => {
    const seen0 = await uasStats();
    const r = await generate(['--target', `127.0.0.1:${uasPort}`, '--mode', 'call', '--rate', '50', '--duration', '1']);
    assert.deepEqual({ started: r.started, ok: r.ok, failed: r.failed }, { started: 50, ok: 50, failed: 0 });
    assert.equal(r.latenciesMs.length, 50);
    const seen = await uasStats();
    for (const m of ['INVITE', 'ACK', 'BYE']) assert.equal((seen[m] ?? 0) - (seen0[m] ?? 0), 50, m);
  });

  test('50 calls through the SBC complete; the UAS sees ACK and BYE routed by the Record-Route', async () => {
    const seen0 = await uasStats();
    const r = await generate(['--target', sbc.hostPort('udp'), '--mode', 'call', '--rate', '50', '--duration', '1']);
    assert.deepEqual({ ok: r.ok, failed: r.failed, failures: r.failures }, { ok: 50, failed: 0, failures: {} });
    const seen = await uasStats();
    for (const m of ['INVITE', 'ACK', 'BYE']) assert.equal((seen[m] ?? 0) - (seen0[m] ?? 0), 50, m);
  });

  test('new and refreshed REGISTERs through the SBC all get 200', async () => {
    const fresh = await generate(['--target', sbc.hostPort('udp'), '--mode', 'register', '--rate', '100', '--duration', '1']);
    assert.deepEqual({ ok: fresh.ok, failed: fresh.failed }, { ok: 100, failed: 0 });
    const refresh = await generate(['--target', sbc.hostPort('udp'), '--mode', 'refresh', '--rate', '100', '--duration', '1']);
    assert.deepEqual({ ok: refresh.ok, failed: refresh.failed }, { ok: 100, failed: 0 });
  });

  test('nobody answering: every call is counted as a timeout, none as a success', async () => {
    const silent = createSocket('udp4');
    await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', () => resolve()));
    try {
      const r = await generate(['--target', `127.0.0.1:${silent.address().port}`, '--mode', 'call', '--rate', '20', '--duration', '0.5', '--timeout', '300']);
      assert.equal(r.ok, 0);
      assert.equal(r.failed, r.started);
      assert.equal(r.failures['timeout:INVITE'], r.started);
    } finally {
      silent.close();
    }
  });
});

describe('WSS clients against the floor server', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wss-floor-test-'));
  let floor: ReturnType<typeof forkWorker>;
  let clients: ReturnType<typeof forkWorker>;
  let url: string;

  before(async () => {
    const certFile = join(dir, 'server.crt');
    const keyFile = join(dir, 'server.key');
    await ensureCertificate({ certFile, keyFile, hosts: [], logger: silentLogger() });
    floor = forkWorker('wss-floor', ['--cert', certFile, '--key', keyFile], { nodeFlags: ['--expose-gc'] });
    url = `wss://127.0.0.1:${await nextMessage(floor, (m) => (m as { port?: number }).port, 10_000)}`;
    clients = forkWorker('wss-clients', []);
  });
  after(async () => {
    if (clients !== undefined) await stopChild(clients);
    if (floor !== undefined) await stopChild(floor);
    rmSync(dir, { recursive: true, force: true });
  });

  test('REGISTERs get 200 with their CSeq, refreshes too; drop forgets the connections and open works again', async () => {
    clients.send({ cmd: 'open', url, count: 20, concurrency: 5, tag: 't' });
    const first = await nextMessage(clients, (m) => (m as { opened?: OpenReport }).opened, 30_000);
    assert.deepEqual({ registered: first.registered, failed: first.failed }, { registered: 20, failed: 0 });
    clients.send({ cmd: 'refresh', rate: 40, duration: 0.5 });
    const refresh = await nextMessage(clients, (m) => (m as { report?: WorkerReport }).report, 30_000);
    assert.deepEqual({ ok: refresh.ok, failed: refresh.failed }, { ok: 20, failed: 0 });
    clients.send({ cmd: 'drop' });
    assert.equal(await nextMessage(clients, (m) => (m as { dropped?: number }).dropped, 10_000), 20);
    clients.send({ cmd: 'open', url, count: 5, concurrency: 5, tag: 'u' });
    const again = await nextMessage(clients, (m) => (m as { opened?: OpenReport }).opened, 30_000);
    assert.equal(again.registered, 5);
  });

  test('the floor reports its memory after GC', async () => {
    floor.send({ cmd: 'memory' });
    const m = await nextMessage(floor, (r) => (r as { memory?: { rssBytes: number; heapUsedBytes: number } }).memory, 10_000);
    assert.ok(m.rssBytes > 0 && m.heapUsedBytes > 0);
  });
});
