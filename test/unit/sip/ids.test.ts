import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BRANCH_MAGIC, newBranch, newTag, randomToken } from '../../../src/sip/ids.js';

test('randomToken gives hex of the requested length, unique across pool refills', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 5000; i++) {
    const t = randomToken(8);
    assert.match(t, /^[0-9a-f]{16}$/);
    seen.add(t);
  }
  assert.equal(seen.size, 5000);
  assert.equal(randomToken(3).length, 6);
  assert.equal(randomToken(5000).length, 10000, 'larger than the pool');
});

test('branches carry the RFC 3261 magic cookie (§8.1.1.7); tags have at least 32 random bits (§19.3)', () => {
  const b = newBranch();
  assert.ok(b.startsWith(BRANCH_MAGIC) && b.startsWith('z9hG4bK'));
  assert.ok(b.length > BRANCH_MAGIC.length + 8);
  assert.notEqual(newBranch(), newBranch());
  assert.ok(newTag().length >= 8);
  assert.notEqual(newTag(), newTag());
});
