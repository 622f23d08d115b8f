import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bucketRate, fullAt, takeToken } from '../../../src/security/token-bucket.js';

test('a bucket gives its burst at once, then tokens at the sustained rate', () => {
  const rate = bucketRate(10, 3);
  const bucket = { tokens: 3, at: 0 };
  assert.deepEqual([1, 2, 3, 4].map(() => takeToken(bucket, rate, 0)), [true, true, true, false]);
  assert.equal(takeToken(bucket, rate, 50), false, 'half a token after 50 ms at 10/s');
  assert.equal(takeToken(bucket, rate, 100), true, 'one token after 100 ms');
  assert.equal(takeToken(bucket, rate, 100), false);
});

test('a quiet bucket refills up to its burst and no further', () => {
  const rate = bucketRate(10, 3);
  const bucket = { tokens: 0, at: 0 };
  assert.equal(fullAt(bucket, rate), 300);
  let taken = 0;
  while (takeToken(bucket, rate, 60_000)) taken++;
  assert.equal(taken, 3, 'a minute of silence still gives only the burst');
});

test('a clock that steps back takes nothing away', () => {
  const rate = bucketRate(1, 2);
  const bucket = { tokens: 2, at: 1000 };
  assert.equal(takeToken(bucket, rate, 500), true);
  assert.equal(takeToken(bucket, rate, 500), true);
  assert.equal(takeToken(bucket, rate, 500), false);
});
