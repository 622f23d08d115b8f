import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fnv1a32, uriHashKey } from '../../../src/routing/hash.js';

describe('fnv1a32', () => {
  it('matches the published FNV-1a 32-bit test vectors', () => {
    assert.equal(fnv1a32(''), 0x811c9dc5);
    assert.equal(fnv1a32('a'), 0xe40c292c);
    assert.equal(fnv1a32('foobar'), 0xbf9cf968);
  });
});

describe('uriHashKey', () => {
  it('reduces URIs and From/To values to user@host', () => {
    assert.equal(uriHashKey('sip:alice@example.com'), 'alice@example.com');
    assert.equal(uriHashKey('"Alice" <sip:alice@Example.com:5060;transport=tcp>;tag=abc'), 'alice@example.com');
    assert.equal(uriHashKey('<sips:bob:secret@[2001:db8::1]:5061>'), 'bob@[2001:db8::1]');
    assert.equal(uriHashKey('sip:example.com;lr'), 'example.com');
    assert.equal(uriHashKey('tel:+15551234;phone-context=x'), '+15551234');
  });

  it('keeps the user part case-sensitive', () => {
    assert.notEqual(uriHashKey('sip:Alice@example.com'), uriHashKey('sip:alice@example.com'));
  });
});
