import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CallIdMask } from '../../../src/topology/index.js';

test('a masked Call-ID unmasks to the original, is deterministic and hides the host', () => {
  const m = new CallIdMask('0123456789abcdef0123456789abcdef');
  const callId = 'a84b4c76e66710@10.1.2.3';
  const masked = m.mask(callId);
  assert.match(masked, /^!![A-Za-z0-9_-]+$/);
  assert.ok(!masked.includes('10.1.2.3'));
  assert.equal(m.mask(callId), masked, 'same Call-ID, same mask: every message of a dialog agrees');
  assert.equal(m.unmask(masked), callId);
});

test('a mask made with another secret, a tampered mask or a made-up !! Call-ID does not unmask', () => {
  const a = new CallIdMask('0123456789abcdef0123456789abcdef');
  const b = new CallIdMask('fedcba9876543210fedcba9876543210');
  const masked = a.mask('call-1@10.0.0.1');
  assert.equal(b.unmask(masked), undefined);
  const last = masked.at(-1) === 'A' ? 'B' : 'A';
  assert.equal(a.unmask(masked.slice(0, -1) + last), undefined);
  assert.equal(a.unmask('!!hello'), undefined);
  assert.equal(a.unmask('!!'), undefined);
  assert.equal(a.unmask('plain-call-id'), undefined);
});
