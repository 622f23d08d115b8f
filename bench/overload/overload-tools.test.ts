/**
 * The overload bench's own tools: the parsers of what SIPp and /metrics
 * leave, the figures made from them, and short real runs of the SIPp
 * scenarios (a 503 with its ACK, nobody answering, through the gateway and
 * through Kamailio) so that a figure in the table counts what it claims.
 * Run: npm run build && node scripts/run-tests.mjs dist/bench/overload
 *   (or node --import tsx --test bench/overload/overload-tools.test.ts)
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { freePortInRange } from '../../test/helpers/free-port.js';
import { byLabel, parsePromText, rangeOf, sumOf } from './prom-text.js';
import { split503, verdicts, type SystemRun } from './report.js';
import { callerFigures, callsCreated, parseOutcomeLog, parseStatCsv, recoverySeconds, type CallOutcome } from './sipp-files.js';
import { startCaller } from './sipp.js';
import type { StepResult } from './steps.js';
import { startGateway, startKamailio } from './systems.js';

describe('SIPp outcome log', () => {
  test('ok, fail with phrase and Warning, nofinal and byefail lines; anything else is skipped', () => {
    const text = [
      'OUT ok 372 376 SIP/2.0 200 OK',
      'OUT fail 52 60 SIP/2.0 503 Service Unavailable | 399 sbc "overloaded"',
      'OUT fail 70 71 SIP/2.0 408 Request Timeout | ',
      'OUT nofinal 104 10108 - -',
      'OUT byefail 372 10400 - -',
      '2026-12-01 22:14:11.548297 1796163251.548297: Aborting call on unexpected message',
      'OUT ok 500',
      'OUT fail 1 2 - -',
      '',
    ].join('\n');
    const out = parseOutcomeLog(text);
    assert.deepEqual(out, [
      { outcome: 'ok', t0: 372, t1: 376, status: 200, phrase: 'OK', warning: '' },
      { outcome: 'fail', t0: 52, t1: 60, status: 503, phrase: 'Service Unavailable', warning: '399 sbc "overloaded"' },
      { outcome: 'fail', t0: 70, t1: 71, status: 408, phrase: 'Request Timeout', warning: '' },
      { outcome: 'nofinal', t0: 104, t1: 10108, status: 0, phrase: '', warning: '' },
      { outcome: 'byefail', t0: 372, t1: 10400, status: 0, phrase: '', warning: '' },
    ]);
  });

  test('stat CSV: columns by name, calls created from the last row', () => {
    const csv = 'StartTime;OutgoingCall(C);TotalCallCreated;\n2026-12-01\t22:14:40;101;101;\n2026-12-01\t22:14:41;300;300;\n';
    const rows = parseStatCsv(csv);
    assert.equal(rows.length, 2);
    assert.equal(rows[1]?.['OutgoingCall(C)'], '300');
    assert.equal(callsCreated(rows), 300);
    assert.equal(callsCreated([]), 0);
  });
});

function call(outcome: CallOutcome['outcome'], t0: number, elapsed: number, status = outcome === 'ok' ? 200 : 0, phrase = ''): CallOutcome {
  return { outcome, t0, t1: t0 + elapsed, status, phrase, warning: '' };
}

describe('caller figures', () => {
  test('goodput counts answers within 2 s only; failures by status; created calls without a line are unaccounted', () => {
    const outcomes = [
      call('ok', 0, 5),
      call('ok', 100, 1999),
      call('ok', 200, 2500),
      call('fail', 300, 40, 503, 'Service Unavailable'),
      call('fail', 400, 60, 503, 'No Destination'),
      call('fail', 500, 32000, 408, 'Request Timeout'),
      call('nofinal', 600, 10000),
      call('byefail', 0, 10010),
    ];
    const f = callerFigures(outcomes, { durationS: 1, created: 9 });
    assert.equal(f.started, 9);
    assert.equal(f.answered, 3);
    assert.equal(f.good, 2);
    assert.equal(f.goodput, 2);
    assert.deepEqual(f.failedByStatus, { '503': 2, '408': 1 });
    assert.deepEqual(f.unavailableByPhrase, { 'Service Unavailable': 1, 'No Destination': 1 });
    assert.deepEqual(f.failedByReason, { '503 Service Unavailable': 1, '503 No Destination': 1, '408 Request Timeout': 1 });
    assert.equal(f.noFinal, 1);
    assert.equal(f.byeFailed, 1);
    assert.equal(f.unaccounted, 2);
    assert.equal(f.setupP99Ms, 2500);
    assert.equal(f.rejectP99Ms, 32000);
  });

  test('success per second by send time, and the seconds until it stays at 99 %', () => {
    const outcomes: CallOutcome[] = [];
    // 4 s at 100 calls/s: second 0 all late, second 1 half good, seconds 2 and 3 all good.
    for (let i = 0; i < 400; i++) {
      const t0 = i * 10;
      const second = Math.floor(t0 / 1000);
      const good = second >= 2 || (second === 1 && i % 2 === 0);
      outcomes.push(call('ok', t0, good ? 3 : 2500));
    }
    const f = callerFigures(outcomes, { durationS: 4, created: 400 });
    assert.deepEqual(f.successBySecond, [0, 0.5, 1, 1]);
    assert.equal(Math.round(f.sentRate), 100);
    assert.equal(recoverySeconds(f.successBySecond), 2);
    assert.equal(recoverySeconds([1, 1, 1]), 0);
    assert.equal(recoverySeconds([1, 0.5]), undefined);
    assert.equal(recoverySeconds([]), undefined);
  });

  test('a last second with a handful of calls is left out of the per-second success', () => {
    const outcomes = [...Array.from({ length: 200 }, (_, i) => call('ok', i * 10, 3)), call('nofinal', 2000, 10000)];
    assert.deepEqual(callerFigures(outcomes, { durationS: 2, created: 201 }).successBySecond, [1, 1]);
  });
});

describe('Prometheus text', () => {
  const text = [
    '# HELP nodejs_eventloop_lag_p99_seconds The 99th percentile of the recorded event loop delays.',
    '# TYPE nodejs_eventloop_lag_p99_seconds gauge',
    'nodejs_eventloop_lag_p99_seconds 0.012',
    'sbc_rejected_requests_total{reason="no-target"} 40',
    'sbc_rejected_requests_total{reason="overload"} 2',
    'sbc_backend_up{group="default",target="sip:127.0.0.12:5060;transport=udp"} 1',
    'sbc_backend_up{group="default",target="sip:a \\"b\\""} 0',
    'nodejs_heap_size_used_bytes 12345678 1700000000000',
    'garbage line',
  ].join('\n');
  const samples = parsePromText(text);

  test('names, labels (with escapes) and values; timestamps ignored', () => {
    assert.equal(sumOf(samples, 'nodejs_eventloop_lag_p99_seconds'), 0.012);
    assert.equal(sumOf(samples, 'nodejs_heap_size_used_bytes'), 12345678);
    assert.equal(samples.find((s) => s.value === 0)?.labels['target'], 'sip:a "b"');
    assert.equal(sumOf(samples, 'sbc_rejected_requests_total', { reason: 'no-target' }), 40);
    assert.deepEqual(byLabel(samples, 'sbc_rejected_requests_total', 'reason'), { 'no-target': 40, overload: 2 });
    assert.deepEqual(rangeOf(samples, 'sbc_backend_up'), { min: 0, max: 1 });
  });

  test('a metric that does not exist reads as undefined, not 0', () => {
    assert.equal(sumOf(samples, 'sbc_overload_shed_total'), undefined);
    assert.equal(rangeOf(samples, 'sbc_overload_state'), undefined);
  });
});

describe('503 causes', () => {
  const step = (failedByStatus: Record<string, number>, unavailableByPhrase: Record<string, number>, gateway?: StepResult['gateway']): StepResult =>
    ({ caller: { failedByStatus, unavailableByPhrase }, ...(gateway !== undefined ? { gateway } : {}) }) as unknown as StepResult;

  test('gateway: shares from its own counters (shed but not "stale" drops, overload, no-target)', () => {
    const s = step({ '503': 100 }, { 'Service Unavailable': 100 }, { scrapes: 10, scrapesMissed: 0, shed: { 'loop-delay': 250, stale: 400 }, rejected: { 'no-target': 50, overload: 0 } });
    assert.deepEqual(split503('gateway', s), { shed: 83, noTarget: 17, other: 0 });
    assert.deepEqual(split503('gateway', step({ '503': 7 }, {}, { scrapes: 1, scrapesMissed: 0, rejected: {} })), { shed: 0, noTarget: 0, other: 7 });
  });

  test('Kamailio: by its reason phrase', () => {
    assert.deepEqual(split503('kamailio', step({ '503': 5 }, { 'No Destination': 3, 'Service Unavailable': 2 })), { shed: 0, noTarget: 3, other: 2 });
  });
});

describe('verdicts', () => {
  const step = (label: string, started: number, good: number): StepResult =>
    ({ label, rate: 100, durationS: 10, caller: { started, answered: good, good, goodput: good / 10, failedByStatus: {}, unavailableByPhrase: {} }, udpDrops: 0, callerKilled: false }) as unknown as StepResult;
  const run = (after: StepResult): SystemRun => ({ name: 'gateway', steps: [step('0.5x', 500, 500), step('1x', 1000, 1000), after], recoveryS: 0, backendDown: [] });
  const find = (v: ReturnType<typeof verdicts>, name: string) => v.find((x) => x.name.startsWith(name));

  test('calls after the surge: met at 99 %, missed below', () => {
    assert.equal(find(verdicts(1000, run(step('after 0.5x', 1000, 990)), undefined, undefined), 'overload: calls after the surge')?.met, true);
    assert.equal(find(verdicts(1000, run(step('after 0.5x', 1000, 989)), undefined, undefined), 'overload: calls after the surge')?.met, false);
  });

  test('256 MB heap: a rate found and no run died', () => {
    const g = run(step('after 0.5x', 10, 10));
    assert.equal(find(verdicts(1000, g, undefined, undefined, { seconds: 300, highest: 750, runs: [{ rate: 1000 }, { rate: 750 }] }), 'heap 256 MB')?.met, true);
    const died = find(verdicts(1000, g, undefined, undefined, { seconds: 300, highest: 750, runs: [{ rate: 1000, died: 'exit 134' }, { rate: 750 }] }), 'heap 256 MB');
    assert.equal(died?.met, false);
    assert.match(died?.figure ?? '', /died at 1000\/s/);
    assert.equal(find(verdicts(1000, g, undefined, undefined), 'heap 256 MB'), undefined, 'no verdict without the runs');
  });
});

describe('SIPp scenarios over real UDP', () => {
  const dir = mkdtempSync(join(tmpdir(), 'overload-tools-'));
  const work = mkdtempSync(join(tmpdir(), 'overload-tools-sbc-'));
  after(() => {
    rmSync(dir, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  });

  test('a 503 with a Warning is logged as a failure with its phrase, and ACKed on the INVITE transaction', async () => {
    const sock = createSocket('udp4');
    await new Promise<void>((resolve) => sock.bind(0, '127.0.0.31', () => resolve()));
    const acks: string[] = [];
    const branches = new Map<string, string>();
    sock.on('message', (buf, rinfo) => {
      const text = buf.toString('utf8');
      const header = (name: string): string => new RegExp(`^${name}:.*$`, 'mi').exec(text)?.[0] ?? '';
      const branch = /branch=([^;\s]+)/.exec(header('Via'))?.[1] ?? '';
      if (text.startsWith('ACK ')) {
        acks.push(branch);
        return;
      }
      branches.set(header('Call-ID'), branch);
      const res = ['SIP/2.0 503 Service Unavailable', header('Via'), header('From'), `${header('To')};tag=t1`, header('Call-ID'), header('CSeq'), 'Warning: 399 test "shed"', 'Retry-After: 3', 'Content-Length: 0', '', ''].join('\r\n');
      sock.send(res, rinfo.port, rinfo.address);
    });
    try {
      const run = startCaller({ target: `127.0.0.31:${sock.address().port}`, host: '127.0.0.32', port: await freePortInRange(20000, 32000), rate: 50, calls: 20, dir, name: 'r503', boundMs: 20_000 });
      const res = await run.done;
      assert.equal(res.outcomes.length, 20);
      for (const o of res.outcomes) {
        assert.equal(o.outcome, 'fail');
        assert.equal(o.status, 503);
        assert.equal(o.phrase, 'Service Unavailable');
        assert.equal(o.warning, '399 test "shed"');
      }
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(acks.length, 20);
      assert.deepEqual(new Set(acks), new Set(branches.values()));
    } finally {
      sock.close();
    }
  });

  test('nobody answering: every call is "nofinal", none counts as answered', async () => {
    const port = await freePortInRange(20000, 32000);
    const run = startCaller({ target: `127.0.0.33:${port}`, host: '127.0.0.34', port: await freePortInRange(20000, 32000), rate: 20, calls: 5, dir, name: 'silent', boundMs: 30_000 });
    const res = await run.done;
    const f = callerFigures(res.outcomes, { durationS: 1, created: res.created });
    assert.equal(f.started, 5);
    assert.equal(f.noFinal, 5);
    assert.equal(f.answered, 0);
  });

  test('through the gateway: every call answered, and ACK and BYE pass the gateway (Record-Route followed)', async () => {
    const gw = await startGateway({ workDir: work });
    try {
      const run = startCaller({ target: gw.target, host: gw.callerHost, port: await freePortInRange(20000, 32000), rate: 50, calls: 30, dir, name: 'gw', boundMs: 30_000 });
      const res = await run.done;
      const f = callerFigures(res.outcomes, { durationS: 1, created: res.created });
      assert.equal(f.started, 30);
      assert.equal(f.answered, 30);
      assert.equal(f.byeFailed, 0);
      const samples = (await gw.scrape(5000)) ?? [];
      assert.equal(sumOf(samples, 'sbc_sip_messages_total', { direction: 'in', method: 'ACK' }), 30);
      assert.equal(sumOf(samples, 'sbc_sip_messages_total', { direction: 'out', method: 'BYE' }), 30);
    } finally {
      await gw.stop();
    }
  });

  test('through Kamailio: every call answered and hung up', async () => {
    const kam = await startKamailio(2);
    try {
      const run = startCaller({ target: kam.target, host: kam.callerHost, port: await freePortInRange(20000, 32000), rate: 50, calls: 30, dir, name: 'kam', boundMs: 30_000 });
      const res = await run.done;
      const f = callerFigures(res.outcomes, { durationS: 1, created: res.created });
      assert.equal(f.answered, 30);
      assert.equal(f.byeFailed, 0);
      const m = await kam.memory(false);
      assert.ok(m.pssKb > 0);
    } finally {
      await kam.stop();
    }
  });
});
