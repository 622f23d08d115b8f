import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GenerationalMap } from '../../../src/security/generational-map.js';

test('never holds more than its cap; what is read survives, what is quiet goes', () => {
  const map = new GenerationalMap<string, number>(10);
  map.set('kept', 1);
  map.set('quiet', 2);
  for (let i = 0; i < 1000; i++) {
    map.set(`k${i}`, i);
    assert.ok(map.size <= 10, `size ${map.size}`);
    if (i % 3 === 0) assert.equal(map.get('kept'), 1);
  }
  assert.equal(map.get('kept'), 1);
  assert.equal(map.get('quiet'), undefined);
  assert.equal(map.get('k999'), 999);
});

test('set replaces in place, delete removes from either generation', () => {
  const map = new GenerationalMap<string, number>(4);
  map.set('a', 1);
  map.set('b', 2);
  map.set('c', 3);
  map.set('a', 10);
  assert.equal(map.get('a'), 10);
  assert.equal(map.size, 3);
  map.delete('b');
  map.delete('c');
  assert.equal(map.get('b'), undefined);
  assert.equal(map.get('c'), undefined);
  assert.equal(map.size, 1);
});

test('deleteWhere sweeps both generations; clear empties', () => {
  const map = new GenerationalMap<number, number>(6);
  for (let i = 0; i < 6; i++) map.set(i, i);
  map.deleteWhere((v) => v % 2 === 0);
  assert.deepEqual([0, 1, 2, 3, 4, 5].map((k) => map.get(k)), [undefined, 1, undefined, 3, undefined, 5]);
  map.clear();
  assert.equal(map.size, 0);
  assert.throws(() => new GenerationalMap(1), RangeError);
});

test('a flood at the cap stays cheap (no walk over deleted slots per insert)', () => {
  const map = new GenerationalMap<number, number>(100_000);
  const started = performance.now();
  for (let i = 0; i < 1_000_000; i++) map.set(i, i);
  const elapsed = performance.now() - started;
  assert.ok(map.size <= 100_000);
  // About 0.2 s on a slow core; deleting the first key at the cap took about 50 s.
  assert.ok(elapsed < 5000, `1e6 inserts took ${Math.round(elapsed)} ms`);
});
