import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SourceRateLimiter } from '../../../src/security/rate-limiter.js';

test('each source has its own bucket: burst, then the rate', () => {
  const limiter = new SourceRateLimiter({ requestsPerSecond: 2, burst: 4, maxSources: 10 });
  const a = Array.from({ length: 5 }, () => limiter.take('192.0.2.1', 0));
  assert.deepEqual(a, [true, true, true, true, false]);
  assert.equal(limiter.take('192.0.2.2', 0), true, 'another source is unaffected');
  assert.equal(limiter.take('192.0.2.1', 499), false);
  assert.equal(limiter.take('192.0.2.1', 500), true, 'one request per 500 ms at 2/s');
});

test('the table is bounded: a flood of new sources forgets the quiet ones, not a source in use', () => {
  const limiter = new SourceRateLimiter({ requestsPerSecond: 1, burst: 3, maxSources: 1000 });
  limiter.take('192.0.2.1', 0);
  limiter.take('192.0.2.1', 0);
  limiter.take('198.51.100.1', 0);
  for (let i = 0; i < 100_000; i++) {
    limiter.take(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, 0);
    if (i % 400 === 0) limiter.take('192.0.2.1', 0);
    assert.ok(limiter.size <= 1000);
  }
  assert.equal(limiter.take('192.0.2.1', 0), false, 'the busy source kept its empty bucket');
  limiter.take('198.51.100.1', 0);
  limiter.take('198.51.100.1', 0);
  assert.equal(limiter.take('198.51.100.1', 0), true, 'the quiet one was forgotten: a fresh burst of 3');
  assert.equal(limiter.take('10.1.134.159', 0), true);
  assert.equal(limiter.take('10.1.134.159', 0), true);
  assert.equal(limiter.take('10.1.134.159', 0), false, 'the newest source (index 99,999) is still tracked');
});

test('the sweep drops refilled buckets only', () => {
  const limiter = new SourceRateLimiter({ requestsPerSecond: 10, burst: 5, maxSources: 10 });
  for (let i = 0; i < 5; i++) limiter.take('192.0.2.1', 0);
  for (let i = 0; i < 5; i++) limiter.take('192.0.2.2', 400);
  limiter.sweep(499);
  assert.equal(limiter.size, 2, 'neither has refilled yet (full again at 500 and 900 ms)');
  limiter.sweep(500);
  assert.equal(limiter.size, 1, 'the first is full again at 500 ms');
  assert.equal(limiter.take('192.0.2.2', 500), true, 'the second keeps its partly refilled bucket');
  assert.equal(limiter.take('192.0.2.2', 500), false);
  limiter.sweep(10_000);
  assert.equal(limiter.size, 0);
});

test('forget() gives a source a fresh burst', () => {
  const limiter = new SourceRateLimiter({ requestsPerSecond: 1, burst: 2, maxSources: 10 });
  limiter.take('192.0.2.1', 0);
  limiter.take('192.0.2.1', 0);
  assert.equal(limiter.take('192.0.2.1', 0), false);
  limiter.forget('192.0.2.1');
  assert.equal(limiter.take('192.0.2.1', 0), true);
});

test('nonsense limits are refused at construction', () => {
  assert.throws(() => new SourceRateLimiter({ requestsPerSecond: 0, burst: 1, maxSources: 1 }), RangeError);
  assert.throws(() => new SourceRateLimiter({ requestsPerSecond: 1, burst: 0, maxSources: 1 }), RangeError);
  assert.throws(() => new SourceRateLimiter({ requestsPerSecond: 1, burst: 1, maxSources: 1 }), RangeError);
});
