import { test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { CoarseTimer } from '../../../src/transaction/timers.js';
import { laneFor } from '../../../src/transaction/timer-lane.js';
import { waitUntil } from './helpers/wait.js';

test('coarse timers of one duration fire in start order, none before its deadline, and a stopped one never fires', async () => {
  const ms = 60;
  const fired: number[] = [];
  const early: number[] = [];
  const timers: CoarseTimer[] = [];
  for (let i = 0; i < 10; i++) {
    const t = new CoarseTimer();
    const due = performance.now() + ms;
    t.start(ms, undefined, () => {
      fired.push(i);
      if (performance.now() < due) early.push(i);
    });
    timers.push(t);
    await new Promise((r) => setTimeout(r, 2));
  }
  timers[0]!.stop(); // the head
  timers[5]!.stop(); // one in the middle
  timers[9]!.stop(); // the tail
  assert.equal(timers[5]!.running, false);
  assert.equal(timers[4]!.running, true);
  await waitUntil('the lane to empty', () => laneFor(ms).size === 0);
  assert.deepEqual(fired, [1, 2, 3, 4, 6, 7, 8]);
  assert.deepEqual(early, [], 'never early');
  assert.equal(timers.some((t) => t.running), false);
});

test('a restarted coarse timer fires once, for its last start', async () => {
  const ms = 45;
  const fired: string[] = [];
  const a = new CoarseTimer();
  a.start(ms, undefined, () => fired.push('a-first'));
  a.start(ms, undefined, () => fired.push('a-second'));
  const c = new CoarseTimer();
  c.start(ms, undefined, () => fired.push('c'));
  await waitUntil('the lane to empty', () => laneFor(ms).size === 0);
  assert.deepEqual(fired, ['a-second', 'c']);
});

test('a timer started from an expiring one in the same lane runs a full duration later', async () => {
  const ms = 30;
  const order: string[] = [];
  const t = new CoarseTimer();
  const u = new CoarseTimer();
  let second = 0;
  t.start(ms, undefined, () => {
    order.push('first');
    second = performance.now() + ms;
    u.start(ms, undefined, () => order.push(performance.now() >= second ? 'second' : 'second-early'));
  });
  await waitUntil('both', () => order.length === 2);
  assert.deepEqual(order, ['first', 'second']);
});
