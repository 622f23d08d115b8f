import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  createSelectionState, hashOrder, orderTargets, priorityOrder, roundRobinOrder, weightedOrder,
} from '../../../src/routing/algorithms.js';

interface T { id: string; up: boolean; weight: number; priority: number }
const t = (id: string, weight = 1, priority = 0, up = true): T => ({ id, up, weight, priority });
const ids = (list: T[]): string[] => list.map((x) => x.id);

describe('round-robin', () => {
  it('rotates the first choice and lists every up target once', () => {
    const targets = [t('a'), t('b'), t('c')];
    const state = createSelectionState();
    const lists = Array.from({ length: 6 }, () => ids(orderTargets('round-robin', targets, {}, state)));
    assert.deepEqual(lists.map((l) => l[0]), ['a', 'b', 'c', 'a', 'b', 'c']);
    assert.deepEqual(lists[1], ['b', 'c', 'a']);
    for (const l of lists) assert.deepEqual([...l].sort(), ['a', 'b', 'c']);
  });

  it('skips down targets', () => {
    const targets = [t('a'), t('b', 1, 0, false), t('c')];
    const state = createSelectionState();
    const firsts = Array.from({ length: 4 }, () => orderTargets('round-robin', targets, {}, state)[0]?.id);
    assert.deepEqual(firsts, ['a', 'c', 'a', 'c']);
    assert.deepEqual(roundRobinOrder([], state), []);
  });
});

describe('weighted (smooth weighted round-robin)', () => {
  it('splits 400 picks 3:1 exactly as 300/100, interleaved', () => {
    const targets = [t('a', 3), t('b', 1)];
    const state = createSelectionState();
    const counts = { a: 0, b: 0 };
    let run = 0;
    let longestRun = 0;
    for (let i = 0; i < 400; i++) {
      const first = orderTargets('weighted', targets, {}, state)[0]?.id as 'a' | 'b';
      counts[first]++;
      run = first === 'a' ? run + 1 : 0;
      longestRun = Math.max(longestRun, run);
    }
    assert.deepEqual(counts, { a: 300, b: 100 });
    assert.equal(longestRun, 3, 'a is never picked more than 3 times in a row');
  });

  it('gives the smooth nginx sequence for 5:1:1 and puts every up target in each list', () => {
    const targets = [t('a', 5), t('b', 1), t('c', 1)];
    const state = createSelectionState();
    const lists = Array.from({ length: 7 }, () => ids(weightedOrder(targets, state)));
    assert.deepEqual(lists.map((l) => l[0]), ['a', 'a', 'b', 'a', 'c', 'a', 'a']);
    for (const l of lists) assert.deepEqual([...l].sort(), ['a', 'b', 'c']);
  });

  it('never picks a weight-0 target first but keeps it as the last resort', () => {
    const targets = [t('reserve', 0), t('a', 2)];
    const state = createSelectionState();
    for (let i = 0; i < 5; i++) assert.deepEqual(ids(weightedOrder(targets, state)), ['a', 'reserve']);
    assert.deepEqual(ids(weightedOrder([t('reserve', 0)], state)), ['reserve']);
  });
});

describe('priority', () => {
  it('orders by lowest priority, then higher weight, then configuration order', () => {
    const targets = [t('p2', 1, 2), t('p1-light', 1, 1), t('p1-heavy', 5, 1), t('p1-light2', 1, 1)];
    assert.deepEqual(ids(priorityOrder(targets)), ['p1-heavy', 'p1-light', 'p1-light2', 'p2']);
  });

  it('fails over to the next priority when the first is down', () => {
    const primary = t('primary', 1, 0);
    const secondary = t('secondary', 1, 10);
    const state = createSelectionState();
    assert.deepEqual(ids(orderTargets('priority', [secondary, primary], {}, state)), ['primary', 'secondary']);
    primary.up = false;
    assert.deepEqual(ids(orderTargets('priority', [secondary, primary], {}, state)), ['secondary']);
  });
});

describe('hash algorithms', () => {
  const targets = [t('a'), t('b'), t('c')];

  it('sends one Call-ID to the same target over 1000 calls', () => {
    const state = createSelectionState();
    const first = orderTargets('hash-callid', targets, { callId: 'f81d4fae-7dec@host' }, state)[0]?.id;
    for (let i = 0; i < 1000; i++) {
      assert.equal(orderTargets('hash-callid', targets, { callId: 'f81d4fae-7dec@host' }, state)[0]?.id, first);
    }
  });

  it('spreads different Call-IDs over every target', () => {
    const state = createSelectionState();
    const counts = new Map<string, number>();
    for (let i = 0; i < 3000; i++) {
      const first = orderTargets('hash-callid', targets, { callId: `call-${i}@10.0.0.1` }, state)[0]?.id ?? '';
      counts.set(first, (counts.get(first) ?? 0) + 1);
    }
    for (const id of ['a', 'b', 'c']) assert.ok((counts.get(id) ?? 0) > 600, `${id} got ${counts.get(id)} of 3000`);
  });

  it('lists every up target once, in ring order', () => {
    const state = createSelectionState();
    for (let i = 0; i < 50; i++) {
      const list = ids(hashOrder(targets, `k${i}`, state));
      assert.deepEqual([...list].sort(), ['a', 'b', 'c']);
      const start = ['a', 'b', 'c'].indexOf(list[0] ?? '');
      assert.deepEqual(list, [0, 1, 2].map((j) => ['a', 'b', 'c'][(start + j) % 3]));
    }
  });

  it('keeps a key on its target when another target goes down, and fails over to the ring neighbour', () => {
    const local = [t('a'), t('b'), t('c')];
    const state = createSelectionState();
    const key = { callId: 'sticky-call' };
    const before = ids(orderTargets('hash-callid', local, key, state));
    const other = local.find((x) => x.id === before[2]);
    if (other) other.up = false;
    assert.equal(orderTargets('hash-callid', local, key, state)[0]?.id, before[0]);
    if (other) other.up = true;
    const owner = local.find((x) => x.id === before[0]);
    if (owner) owner.up = false;
    assert.deepEqual(ids(orderTargets('hash-callid', local, key, state)), [before[1], before[2]]);
  });

  it('hash-from and hash-to use user@host only: display name, tag, port and params do not matter', () => {
    const state = createSelectionState();
    for (const algorithm of ['hash-from', 'hash-to'] as const) {
      const field = algorithm === 'hash-from' ? 'fromUri' : 'toUri';
      for (let i = 0; i < 30; i++) {
        const plain = ids(orderTargets(algorithm, targets, { [field]: `sip:user${i}@example.com` }, state));
        const dressed = ids(orderTargets(algorithm, targets, { [field]: `"User ${i}" <sip:user${i}@Example.COM:5060;transport=tcp>;tag=${i}xyz` }, state));
        assert.deepEqual(dressed, plain);
      }
    }
  });

  it('hash-ruri follows the Request-URI; a missing key falls back to round-robin', () => {
    const state = createSelectionState();
    const a = orderTargets('hash-ruri', targets, { requestUri: 'sip:1000@pbx.example.com;user=phone' }, state)[0]?.id;
    const b = orderTargets('hash-ruri', targets, { requestUri: 'sip:1000@pbx.example.com' }, state)[0]?.id;
    assert.equal(a, b);
    const firsts = Array.from({ length: 3 }, () => orderTargets('hash-callid', targets, {}, state)[0]?.id);
    assert.deepEqual([...firsts].sort(), ['a', 'b', 'c']);
  });

  it('returns nothing when no target is up', () => {
    const down = [t('a', 1, 0, false), t('b', 1, 0, false)];
    const state = createSelectionState();
    for (const algorithm of ['round-robin', 'weighted', 'priority', 'hash-callid'] as const) {
      assert.deepEqual(orderTargets(algorithm, down, { callId: 'x' }, state), []);
    }
  });
});
