import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PortAllocator } from '../../../../src/media/embedded/port-allocator.js';

describe('PortAllocator', () => {
  it('hands out even ports whose odd neighbour is in the range, until the range is used up', () => {
    const a = new PortAllocator(30001, 30008);
    // 30001 is odd: pairs start at 30002; 30008 has no 30009 in the range.
    assert.equal(a.total, 3);
    assert.deepEqual([a.allocate(), a.allocate(), a.allocate()], [30002, 30004, 30006]);
    assert.equal(a.allocate(), undefined);
    assert.equal(a.free, 0);
  });

  it('gives freed pairs out again oldest-freed first, and ignores double or foreign releases', () => {
    const a = new PortAllocator(40000, 40005);
    const [p1, p2, p3] = [a.allocate()!, a.allocate()!, a.allocate()!];
    a.release(p2);
    a.release(p2);
    a.release(12345);
    a.release(p1);
    assert.equal(a.free, 2);
    assert.equal(a.used, 1);
    assert.equal(a.allocate(), p2);
    assert.equal(a.allocate(), p1);
    assert.equal(a.allocate(), undefined);
    a.release(p3);
    assert.equal(a.allocate(), p3);
  });
});
