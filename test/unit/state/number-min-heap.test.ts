import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NumberMinHeap } from '../../../src/state/number-min-heap.js';

describe('NumberMinHeap', () => {
  it('pops numbers in ascending order, duplicates included', () => {
    const heap = new NumberMinHeap();
    const values = [5, 3, 9, 1, 3, 12, 0, 7, 7, 2, 11, 4];
    for (const v of values) heap.push(v);
    assert.equal(heap.peek(), 0);
    const out: number[] = [];
    for (let v = heap.pop(); v !== undefined; v = heap.pop()) out.push(v);
    assert.deepEqual(out, [...values].sort((a, b) => a - b));
    assert.equal(heap.size, 0);
  });

  it('rebuild replaces the contents', () => {
    const heap = new NumberMinHeap();
    heap.push(1);
    heap.rebuild([8, 6, 7]);
    assert.deepEqual([heap.pop(), heap.pop(), heap.pop(), heap.pop()], [6, 7, 8, undefined]);
  });
});
