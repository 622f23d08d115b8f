import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatNameAddr, parseNameAddr, tagOf, type NameAddr } from '../../../../src/sip/headers/name-addr.js';
import { formatUri } from '../../../../src/sip/uri.js';

function na(value: string): NameAddr {
  const r = parseNameAddr(value);
  assert.ok(r.ok, `${value} should parse: ${r.ok ? '' : r.error}`);
  return r.value;
}

test('quoted display name with escaped quotes, URI in <>, tag', () => {
  const v = na('"Quoted \\"display\\"" <sip:alice@example.com>;tag=x1');
  assert.equal(v.display, 'Quoted "display"');
  assert.equal(formatUri(v.uri), 'sip:alice@example.com');
  assert.equal(tagOf(v), 'x1');
  assert.equal(v.angle, true);
});

test('bare display tokens', () => {
  const v = na('Bob Smith <sip:bob@example.com>;tag=77');
  assert.equal(v.display, 'Bob Smith');
  assert.equal(v.uri.user, 'bob');
  assert.equal(tagOf(v), '77');
});

test('parameters after an addr-spec belong to the header, not the URI (RFC 3261 §20.10)', () => {
  const v = na('sip:alice@example.com;tag=abc;expires=60');
  assert.equal(v.angle, false);
  assert.equal(v.uri.params.size, 0);
  assert.equal(tagOf(v), 'abc');
  assert.equal(v.params.get('expires'), '60');
});

test('URI parameters inside <> stay with the URI; quoted header parameters keep their quotes', () => {
  const v = na('<sip:ab12cd34@xyz.invalid;transport=ws>;expires=600;+sip.instance="<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>";reg-id=1;+sip.ice');
  assert.equal(v.uri.params.get('transport'), 'ws');
  assert.equal(v.params.get('expires'), '600');
  assert.equal(v.params.get('+sip.instance'), '"<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>"');
  assert.equal(v.params.get('+sip.ice'), null);
  assert.equal(formatNameAddr(v), '<sip:ab12cd34@xyz.invalid;transport=ws>;expires=600;+sip.instance="<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>";reg-id=1;+sip.ice');
});

test('a "<" inside a quoted parameter of an addr-spec does not start a URI', () => {
  const v = na('sip:a@example.com;note="<x>"');
  assert.equal(v.angle, false);
  assert.equal(v.uri.host, 'example.com');
  assert.equal(v.params.get('note'), '"<x>"');
});

test('formatNameAddr always writes <...> and quotes the display name', () => {
  assert.equal(formatNameAddr(na('sip:alice@example.com;tag=1')), '<sip:alice@example.com>;tag=1');
  assert.equal(formatNameAddr(na('Bob <sip:bob@h>')), '"Bob" <sip:bob@h>');
  assert.equal(formatNameAddr(na('"a \\"b\\" \\\\ c" <sip:x@h>')), '"a \\"b\\" \\\\ c" <sip:x@h>');
});

test('LWS around parameters and tel: URIs', () => {
  const v = na('  <tel:+1-201-555-0123>  ;  tag = 9 ');
  assert.equal(v.uri.scheme, 'tel');
  assert.equal(tagOf(v), '9');
});

test('malformed name-addrs are rejected', () => {
  for (const text of [
    '', '<sip:alice@h', '"unterminated <sip:a@h>', '"Alice" sip:a@h', 'Al"ice <sip:a@h>', '<sip:a@h> junk',
    '<sip:a@h>;', '<sip:a@h>;tag=', '<not a uri>', 'sip:a@h;p="open', '<sip:a b@h>',
  ]) assert.equal(parseNameAddr(text).ok, false, `${JSON.stringify(text)} should be rejected`);
});
