import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Admission, type AdmissionThresholds } from '../../../src/overload/admission.js';
import type { LoadSample } from '../../../src/overload/load-monitor.js';
import { silentLogger } from '../../../src/log/logger.js';

const thresholds: AdmissionThresholds = {
  loopDelayMs: 100, eventLoopUtilization: 0.97, maxPendingInvites: 1000, heapFraction: 0.85,
  udpQueueBytes: 1_000_000, recoverSamples: 3, sampleIntervalMs: 100,
};
const calm = (at: number, over: Partial<LoadSample> = {}): LoadSample => ({
  at, loopDelayMs: 5, loopMaxMs: 10, elu: 0.3, pendingInvites: 10, heapFraction: 0.2, udpQueuedBytes: 0, udpDrops: 0, ...over,
});

function make(): { a: Admission; states: string[]; clock: { now: number } } {
  const clock = { now: 0 };
  const states: string[] = [];
  const a = new Admission({ thresholds, logger: silentLogger(), onState: (s) => states.push(s), random: () => 0.5, now: () => clock.now });
  return { a, states, clock };
}

describe('Admission', () => {
  it('stays normal under calm samples and admits everything', () => {
    const { a, states } = make();
    for (let i = 1; i <= 10; i++) a.update(calm(i * 100));
    assert.equal(a.state, 'normal');
    assert.equal(a.admitsNew(), true);
    assert.deepEqual(states, []);
  });

  for (const [name, over, reason] of [
    ['loop delay', { loopDelayMs: 150 }, 'loop-delay'],
    ['kernel receive queue', { udpQueuedBytes: 2_000_000 }, 'udp-queue'],
    ['kernel drops', { udpDrops: 3 }, 'udp-queue'],
    ['pending INVITEs', { pendingInvites: 1500 }, 'pending-invites'],
    ['heap', { heapFraction: 0.9 }, 'heap'],
    ['a busy loop with a backlog building', { elu: 0.99, udpQueuedBytes: 600_000 }, 'event-loop-utilization'],
  ] as const) {
    it(`sheds on ${name}`, () => {
      const { a, states } = make();
      a.update(calm(100, over));
      assert.equal(a.state, reason === 'heap' ? 'shedding' : 'normal', 'one hot sample is not enough, except for the heap');
      a.update(calm(200, over));
      assert.equal(a.state, 'shedding');
      assert.equal(a.reason, reason);
      assert.deepEqual(states, ['shedding']);
      assert.equal(a.critical, reason === 'heap');
    });
  }

  it('isolated hot samples (a GC pause) do not start shedding', () => {
    const { a } = make();
    for (let i = 1; i <= 10; i++) a.update(calm(i * 100, i % 2 === 0 ? { loopDelayMs: 300 } : {}));
    assert.equal(a.state, 'normal');
  });

  it('a busy loop that keeps up is not overloaded', () => {
    const { a } = make();
    for (let i = 1; i <= 10; i++) a.update(calm(i * 100, { elu: 1 }));
    assert.equal(a.state, 'normal');
  });

  it('admits a shrinking share while hot, a growing one while cool, and leaves after recoverSamples (one change logged each way)', () => {
    const { a, states } = make();
    let at = 0;
    for (let i = 0; i < 20; i++) a.update(calm((at += 100), { loopDelayMs: 300 }));
    assert.ok(a.admitFraction < 0.05, `fraction ${a.admitFraction}`);
    assert.equal(a.admitsNew(), false, 'the coin (0.5) is above the fraction');
    // Between 80 % and 100 % of a threshold the fraction holds (hysteresis).
    const held = a.admitFraction;
    a.update(calm((at += 100), { loopDelayMs: 90 }));
    assert.equal(a.admitFraction, held);
    // Cool but still busy (no idle time): the share grows 5 points a sample.
    for (let i = 0; i < 5; i++) a.update(calm((at += 100), { elu: 1 }));
    assert.ok(Math.abs(a.admitFraction - (held + 0.25)) < 1e-9, `slow growth: ${a.admitFraction}`);
    // Idle time: back fast.
    let n = 0;
    while (a.state === 'shedding' && n++ < 100) a.update(calm((at += 100)));
    assert.equal(a.state, 'normal');
    assert.equal(a.admitsNew(), true);
    assert.ok(n >= 3 && n <= 8, `recovered after ${n} more cool samples`);
    assert.deepEqual(states, ['shedding', 'normal']);
  });

  it('excuses failures that overlapped our own trouble, not older ones', () => {
    const { a, clock } = make();
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
    const { a, clock } = make();
    clock.now = 100;
    a.update(calm(100));
    clock.now = 150;
    assert.equal(a.excuses(120), false);
    clock.now = 2000; // no sample for 1.9 s: the loop is blocked
    assert.equal(a.excuses(1500), true);
    a.update(calm(2000, { pendingInvites: 5000 }));
    assert.equal(a.excuses(1999), true);
  });
});

describe('Admission: receive backlog', () => {
  it('a growing backlog cuts the share admitted, a shrinking one holds it', () => {
    const { a } = make();
    a.update(calm(100, { udpQueuedBytes: 1_200_000 }));
    a.update(calm(200, { udpQueuedBytes: 1_500_000 }));
    assert.equal(a.state, 'shedding');
    const cut = a.admitFraction;
    assert.ok(cut < 1);
    a.update(calm(300, { udpQueuedBytes: 1_300_000 }));
    a.update(calm(400, { udpQueuedBytes: 1_100_000 }));
    assert.equal(a.admitFraction, cut, 'draining: held');
    a.update(calm(500, { udpQueuedBytes: 1_150_000 }));
    assert.ok(a.admitFraction < cut, 'growing again: cut');
  });
});

describe('Admission: excuses are proportionate', () => {
  it('a 150 ms pause does not excuse 4 s of silence; 1.5 s of pauses do', () => {
    const { a, clock } = make();
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
