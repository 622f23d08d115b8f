import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { domainOf, toTargetUri } from '../../../web/target-uri.js';

describe('toTargetUri', () => {
  test('keeps sip: and sips: URIs as typed', () => {
    assert.equal(toTargetUri('sip:bob@example.com;transport=ws', 'a.example'), 'sip:bob@example.com;transport=ws');
    assert.equal(toTargetUri('  SIPS:bob@example.com ', 'a.example'), 'SIPS:bob@example.com');
  });

  test('adds sip: to user@host', () => {
    assert.equal(toTargetUri('bob@example.com', 'a.example'), 'sip:bob@example.com');
  });

  test('puts a bare user or number in the AOR domain, without visual separators', () => {
    assert.equal(toTargetUri('bob', 'example.com'), 'sip:bob@example.com');
    assert.equal(toTargetUri('+1 (555) 010-0199', 'example.com:5060'), 'sip:+15550100199@example.com:5060');
    assert.equal(toTargetUri('*97', 'example.com'), 'sip:*97@example.com');
  });

  test('refuses empty input, words with spaces and a missing domain', () => {
    assert.equal(toTargetUri('   ', 'example.com'), undefined);
    assert.equal(toTargetUri('bob smith', 'example.com'), undefined);
    assert.equal(toTargetUri('bob', ''), undefined);
  });
});

describe('domainOf', () => {
  test('returns host and port of an AOR, without parameters', () => {
    assert.equal(domainOf('sip:alice@example.com'), 'example.com');
    assert.equal(domainOf('sip:alice@10.0.0.1:5060;transport=ws'), '10.0.0.1:5060');
    assert.equal(domainOf('sip:example.com'), '');
  });
});
