import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KEY_FAMILY, stateKey } from '../../../src/state/index.js';

describe('stateKey', () => {
  it('joins prefix, family and parts with colons', () => {
    assert.equal(stateKey('sbc:', KEY_FAMILY.flow, 'f1'), 'sbc:flow:f1');
    assert.equal(stateKey('', KEY_FAMILY.rate, '192.0.2.1', '1700000000'), 'rate:192.0.2.1:1700000000');
    assert.equal(stateKey('sbc:', KEY_FAMILY.engineCall, 'a84b4c76e66710@pc33.example.com'), 'sbc:engine-call:a84b4c76e66710@pc33.example.com');
  });

  it('keeps keys built from parts containing colons distinct', () => {
    const a = stateKey('', KEY_FAMILY.rate, 'a:b', 'c');
    const b = stateKey('', KEY_FAMILY.rate, 'a', 'b:c');
    assert.notEqual(a, b);
    assert.equal(a, 'rate:a%3Ab:c');
    assert.equal(stateKey('', KEY_FAMILY.rate, '2001:db8::1'), 'rate:2001%3Adb8%3A%3A1');
    assert.notEqual(stateKey('', KEY_FAMILY.ban, '%3A'), stateKey('', KEY_FAMILY.ban, ':'));
  });
});
