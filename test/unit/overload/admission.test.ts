/**
 * The admission controller's decisions, fed sample sequences: when it starts
 * and stops shedding, and how many new requests it lets through. No timers:
 * the clock and the samples are made up here.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Admission, type AdmissionThresholds } from '../../../src/overload/admission.js';
import { estimateQueueDelayMs, kernelBytesPerDatagram, type LoadSample } from '../../../src/overload/load-monitor.js';
import { silentLogger } from '../../../src/log/logger.js';

const thresholds: AdmissionThresholds = {
  loopDelayMs: 100, eventLoopUtilization: 0.9, maxPendingInvites: 1000, heapFraction: 0.75,
  udpQueueBytes: 4_000_000, recoverSamples: 3, sampleIntervalMs: 100,
};
const calm = (at: number, over: Partial<LoadSample> = {}): LoadSample => ({
  at, loopDelayMs: 5, loopMaxMs: 10, elu: 0.3, pendingInvites: 10, heapFraction: 0.2, heapLiveFraction: 0.1,
  udpQueuedBytes: 0, udpDrops: 0, queueDelayMs: 0, queuedDatagrams: 0, datagramsRead: 1000, elapsedMs: 100, ...over,
});

interface Rig {
  a: Admission;
  states: string[];
  clock: { now: number };
  /** Offer `n` new requests spread over the next sample, then feed the sample; returns how many were admitted. */
  step(n: number, over?: Partial<LoadSample>): number;
}

function rig(): Rig {
  const clock = { now: 0 };
  const states: string[] = [];
  // A coin that comes up evenly (golden-ratio steps), so shares are exact enough to assert.
  let coin = 0;
  const random = (): number => (coin = (coin + 0.6180339887) % 1);
  const a = new Admission({ thresholds, logger: silentLogger(), onState: (s) => states.push(s), random, now: () => clock.now });
  const step = (n: number, over: Partial<LoadSample> = {}): number => {
    let admitted = 0;
    const start = clock.now;
    for (let i = 0; i < n; i++) {
      clock.now = start + ((i + 1) * 100) / n;
      if (a.admitsNew()) admitted++;
    }
    clock.now = start + 100;
    a.update(calm(clock.now, over));
    return admitted;
  };
  return { a, states, clock, step };
}

/**
 * A sample of a saturated loop with `q` datagrams queued (1,000 read per
 * sample: lateness 0.1 ms per datagram), the bytes kept under udpQueueBytes.
 * Requests offered per sample (`step(n)`) are n × 10 per second.
 */
const backlog = (q: number, over: Partial<LoadSample> = {}): Partial<LoadSample> => ({
  elu: 1, queuedDatagrams: q, udpQueuedBytes: q * 100, queueDelayMs: (q / 1000) * 100, ...over,
});

describe('Admission: when to shed', () => {
  it('stays normal under calm samples and admits everything', () => {
    const { a, states, step } = rig();
    for (let i = 0; i < 10; i++) assert.equal(step(100), 100);
    assert.equal(a.state, 'normal');
    assert.deepEqual(states, []);
  });

  it('a saturated loop that keeps up (its queue small and steady) is not overloaded', () => {
    const { a, step } = rig();
    for (let i = 0; i < 30; i++) step(200, backlog(i % 2 === 0 ? 300 : 200));
    assert.equal(a.state, 'normal');
  });

  it('a burst that drains within two samples, a GC pause, a JIT warm-up: no shedding', () => {
    const { a, step } = rig();
    step(200, backlog(3000)); // 300 ms late
    step(200, backlog(2000));
    step(200, backlog(400));
    step(200, { loopDelayMs: 400, loopMaxMs: 450 });
    step(200);
    step(200, { loopDelayMs: 150 });
    step(200, { loopDelayMs: 150 });
    step(200);
    assert.equal(a.state, 'normal');
  });

  it('a backlog standing over the lateness target for three samples sheds, starting near what the loop keeps up with', () => {
    const { a, states, step } = rig();
    step(300, backlog(1000));
    step(300, backlog(2000));
    assert.equal(a.state, 'normal', 'two late samples are not yet a standing backlog');
    step(300, backlog(3000)); // grew by 1,000 datagrams while 1,000 were read: twice what the loop does, and more
    assert.equal(a.state, 'shedding');
    assert.equal(a.reason, 'queue-delay');
    assert.deepEqual(states, ['shedding']);
    assert.ok(a.demand > 2, `demand ${a.demand}`);
    assert.ok(a.admitFraction <= 1 / a.demand + 1e-9, `first share ${a.admitFraction}`);
  });

  for (const [name, over, reason, samples] of [
    ['kernel drops', { udpDrops: 3 }, 'udp-queue', 2],
    ['a near-full kernel queue that is not draining', { udpQueuedBytes: 5_000_000 }, 'udp-queue', 2],
    ['pending INVITEs', { pendingInvites: 1500 }, 'pending-invites', 2],
    ['live heap (what the last full GC left) over its threshold', { heapLiveFraction: 0.8, heapFraction: 0.8 }, 'heap', 1],
    ['heap in use near its limit before a full GC has run', { heapFraction: 0.96 }, 'heap', 1],
  ] as const) {
    it(`sheds on ${name} after ${samples} sample(s)`, () => {
      const { a, step } = rig();
      step(100, over);
      assert.equal(a.state, samples === 1 ? 'shedding' : 'normal');
      step(100, over);
      assert.equal(a.state, 'shedding');
      assert.equal(a.reason, reason);
      assert.equal(a.critical, reason === 'heap', 'only the heap refuses inside work too');
    });
  }

  it('garbage alone (heap in use high, little alive after the last full GC) does not shed', () => {
    const { a, step } = rig();
    for (let i = 0; i < 10; i++) step(100, { heapFraction: 0.85, heapLiveFraction: 0.3 });
    assert.equal(a.state, 'normal');
  });
});

/** Drive `r` into shedding with a surge: the loop asked about three times what it can do. */
function surge(r: Rig, offered: number): void {
  for (let i = 1; i <= 3; i++) r.step(offered, backlog(2000 * i));
  assert.equal(r.a.state, 'shedding');
  r.step(offered, backlog(6000, { queueDelayMs: 600 }));
  assert.ok(r.a.admitRate !== undefined, 'a rate once the offered rate is known');
}

describe('Admission: how much to admit while shedding', () => {
  it('admits up to a rate, not a share: what gets through does not grow with what is offered', () => {
    const r = rig();
    surge(r, 600);
    const rate = r.a.admitRate!;
    const at600 = r.step(600, backlog(6000, { queueDelayMs: 150, elu: 0.95, queuedDatagrams: 6000 }));
    const at1200 = r.step(1200, backlog(6000, { queueDelayMs: 150, elu: 0.95, queuedDatagrams: 6000 }));
    assert.ok(Math.abs(at600 - rate / 10) <= 2 + rate * 0.05 / 1, `admitted ${at600} of 600 at ${rate}/s`);
    assert.ok(Math.abs(at1200 - at600) <= 2 + rate * 0.05, `doubling the offer admits the same: ${at600} vs ${at1200}`);
  });

  it('cuts the rate while the loop is asked more than it can do, at most every other sample, never below the floor', () => {
    const r = rig();
    surge(r, 1000);
    const rates: number[] = [];
    for (let i = 0; i < 6; i++) {
      r.step(1000, backlog(8000 + 1000 * i, { queueDelayMs: 800 }));
      rates.push(r.a.admitRate!);
    }
    const cuts = rates.filter((x, i) => i > 0 && x < rates[i - 1]!).length;
    assert.ok(cuts >= 2 && cuts <= 3, `cut ${cuts} times in 6 samples: ${rates.join(', ')}`);
    for (let i = 1; i < rates.length; i++) assert.ok(rates[i]! >= rates[i - 1]! * 0.5 - 1e-9, `at most halved per cut: ${rates.join(', ')}`);
    for (let i = 0; i < 30; i++) r.step(1000, backlog(20000, { queueDelayMs: 2000, udpDrops: 1 }));
    assert.ok(Math.abs(r.a.admitRate! - 0.02 * 10_000) < 1, `floor: 2 % of the 10,000/s offered, got ${r.a.admitRate}`);
  });

  it('holds the rate while the queue drains, and raises it with the loop idle', () => {
    const r = rig();
    surge(r, 1000);
    const before = r.a.admitRate!;
    r.step(1000, backlog(4000, { queueDelayMs: 300 })); // shrinking by 2,000 of 1,000 read: spare capacity, but still late
    assert.equal(r.a.admitRate, before, 'late: held');
    r.step(1000, { elu: 0.45 }); // empty queue, idle half the time
    const raised = r.a.admitRate!;
    assert.ok(raised > before * 1.5, `raised from ${before} to ${raised}`);
    assert.ok(raised <= 10_000 * 1.1 + 1e-6, `never above what is offered (a little over): ${raised}`);
  });

  it('a busy loop keeping its lateness under half the target is not cut, whatever one sample\'s demand says', () => {
    const r = rig();
    surge(r, 1000);
    for (let i = 0; i < 3; i++) r.step(1000, backlog(300, { queueDelayMs: 30, elu: 0.95 }));
    const before = r.a.admitRate!;
    for (let i = 1; i <= 4; i++) r.step(1000, backlog(300 + 100 * i, { queueDelayMs: 30 + 3 * i, datagramsRead: 500 }));
    assert.ok(r.a.demand > 1, `demand ${r.a.demand}`);
    assert.equal(r.a.admitRate, before);
  });

  it('when the surge stops, everything is admitted at once and shedding ends after recoverSamples', () => {
    const r = rig();
    surge(r, 3000);
    for (let i = 0; i < 5; i++) r.step(3000, backlog(1200, { queueDelayMs: 110 }));
    const rate = r.a.admitRate!;
    assert.ok(rate > 1000 && rate < 30_000, `rate ${rate}/s for 30,000/s offered`);
    // Offered drops to a sixth: under the rate, so the very next requests all pass (no sample needed).
    const offered = Math.floor(rate / 10 / 2);
    assert.equal(r.step(offered, backlog(800, { queueDelayMs: 70, elu: 0.9 })), offered);
    let samples = 0;
    while (r.a.state === 'shedding' && samples < 20) {
      assert.equal(r.step(offered, { elu: 0.3 }), offered);
      samples++;
    }
    assert.equal(r.a.state, 'normal');
    assert.equal(samples, thresholds.recoverSamples);
    assert.deepEqual(r.states, ['shedding', 'normal']);
  });

  it('one starved sample (the loop hardly ran) cuts once, by half at most', () => {
    const r = rig();
    surge(r, 1000);
    for (let i = 0; i < 3; i++) r.step(1000, backlog(1000, { queueDelayMs: 100 }));
    const before = r.a.admitRate!;
    r.step(100, backlog(3000, { datagramsRead: 30, queueDelayMs: 5000 }));
    const after = r.a.admitRate!;
    assert.ok(after >= before * 0.5 - 1e-9 && after < before, `${before} → ${after}`);
    r.step(1000, backlog(3000, { queueDelayMs: 300 }));
    assert.equal(r.a.admitRate, after, 'held the sample after a cut');
  });
});

describe('Admission: excuses', () => {
  it('excuses failures that overlapped our own trouble, not older ones', () => {
    const { a, clock } = rig();
    clock.now = 100;
    a.update(calm(100));
    clock.now = 200;
    a.update(calm(200, { loopMaxMs: 400 })); // one long stall, not enough to shed
    assert.equal(a.state, 'normal');
    clock.now = 300;
    a.update(calm(300));
    assert.equal(a.excuses(50), true, 'a transaction alive during the stall is excused');
    for (let t = 400; t <= 5000; t += 100) { clock.now = t; a.update(calm(t)); }
    assert.equal(a.excuses(1000), false, 'one that started after the stall is not');
  });

  it('excuses everything while shedding, and while the sampler itself is late (loop stalled now)', () => {
    const { a, clock } = rig();
    clock.now = 100;
    a.update(calm(100));
    clock.now = 150;
    assert.equal(a.excuses(120), false);
    clock.now = 2000; // no sample for 1.9 s: the loop is blocked
    assert.equal(a.excuses(1500), true);
    a.update(calm(2000, { pendingInvites: 5000 }));
    assert.equal(a.excuses(1999), true);
  });

  it('a 150 ms pause does not excuse 4 s of silence; 1.5 s of pauses do', () => {
    const { a, clock } = rig();
    for (let t = 100; t <= 4000; t += 100) {
      clock.now = t;
      a.update(calm(t, t === 2000 ? { loopMaxMs: 170 } : {}));
    }
    assert.equal(a.excuses(0), false);
    for (let t = 4100; t <= 8000; t += 100) {
      clock.now = t;
      a.update(calm(t, t % 1000 === 0 ? { loopMaxMs: 420 } : {}));
    }
    assert.equal(a.excuses(4000), true, '4 × 400 ms stalled out of 4 s');
  });
});

describe('queue delay estimate', () => {
  it('charges datagrams as the Linux kernel does (measured on loopback)', () => {
    assert.equal(kernelBytesPerDatagram(400), 1280);
    assert.equal(kernelBytesPerDatagram(700), 2304);
    assert.equal(kernelBytesPerDatagram(1400), 2304);
  });

  it('is the queued datagrams over the read rate; the whole sample when nothing was read', () => {
    // 230,400 bytes of 700-byte datagrams = 100 queued; 1,000 read in 100 ms → 10 ms.
    assert.equal(estimateQueueDelayMs(230_400, { datagrams: 1000, bytes: 700_000 }, 100), 10);
    assert.equal(estimateQueueDelayMs(0, { datagrams: 0, bytes: 0 }, 100), 0);
    assert.equal(estimateQueueDelayMs(230_400, { datagrams: 0, bytes: 0 }, 100), 100);
  });
});

describe('Admission: hysteresis belongs to the signal that tripped', () => {
  it('a heap at 65 % of its threshold does not hold back the rate when the heap was not the trouble', () => {
    const r = rig();
    surge(r, 1000);
    const before = r.a.admitRate!;
    r.step(1000, { elu: 0.45, heapLiveFraction: 0.65 * thresholds.heapFraction });
    assert.ok(r.a.admitRate! > before, `raised: ${before} → ${r.a.admitRate}`);
  });

  it('after heap shedding, the rate grows again only once the live heap is well under its threshold', () => {
    const r = rig();
    r.step(100, { heapLiveFraction: 0.8 });
    assert.equal(r.a.reason, 'heap');
    r.step(100, { heapLiveFraction: 0.8 });
    r.step(100, { heapLiveFraction: 0.8 });
    const cut = r.a.admitRate!;
    r.step(100, { elu: 0.3, heapLiveFraction: 0.7 });
    assert.equal(r.a.admitRate, cut, 'just under the threshold: held');
    r.step(100, { elu: 0.3, heapLiveFraction: 0.5 });
    assert.ok(r.a.admitRate! > cut, 'well under: raised');
  });
});

describe('Admission: lateness from the loop itself', () => {
  it('a loop late by itself (no queue: e.g. work on other sockets) cuts the rate, every other sample, until it is on time', () => {
    const r = rig();
    for (let i = 0; i < 3; i++) r.step(500, { loopDelayMs: 200, elu: 1 });
    assert.equal(r.a.state, 'shedding');
    assert.equal(r.a.reason, 'loop-delay');
    r.step(500, { loopDelayMs: 200, elu: 1 });
    const rates: number[] = [];
    for (let i = 0; i < 6; i++) {
      r.step(500, { loopDelayMs: 200, elu: 1 });
      rates.push(r.a.admitRate!);
    }
    const cuts = rates.filter((x, i) => i > 0 && x < rates[i - 1]!).length;
    assert.ok(cuts >= 2 && cuts <= 3, `cut ${cuts} times in 6 samples: ${rates.join(', ')}`);
  });
});
