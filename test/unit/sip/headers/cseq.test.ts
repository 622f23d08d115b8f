import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatCSeq, parseCSeq } from '../../../../src/sip/headers/cseq.js';

test('number and method, LWS tolerated', () => {
  assert.deepEqual(parseCSeq('4711 INVITE'), { ok: true, value: { seq: 4711, method: 'INVITE' } });
  assert.deepEqual(parseCSeq('  0009 \t REGISTER '), { ok: true, value: { seq: 9, method: 'REGISTER' } });
  assert.deepEqual(parseCSeq('2147483647 NEWMETHOD'), { ok: true, value: { seq: 2147483647, method: 'NEWMETHOD' } });
});

test('numbers of 2**31 and above, missing parts and bad methods are rejected (RFC 3261 §8.1.1.5)', () => {
  for (const text of ['2147483648 INVITE', '99999999999 INVITE', 'INVITE', '1', '1INVITE', '-1 INVITE', '1 INV ITE', '1 INV<ITE', ''])
    assert.equal(parseCSeq(text).ok, false, `${JSON.stringify(text)} should be rejected`);
});

test('formatCSeq', () => {
  assert.equal(formatCSeq({ seq: 3, method: 'BYE' }), '3 BYE');
});
