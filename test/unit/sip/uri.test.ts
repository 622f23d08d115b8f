import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatUri, parseUri, type SipUri } from '../../../src/sip/uri.js';

function parsed(text: string): SipUri {
  const r = parseUri(text);
  assert.ok(r.ok, `${text} should parse: ${r.ok ? '' : r.error}`);
  return r.value;
}

test('user, password, host, port, params and headers of a full SIP URI', () => {
  const u = parsed('sip:alice:secret@Example.COM:5070;transport=TCP;lr;maddr=239.255.255.1?subject=project&priority=urgent');
  assert.equal(u.scheme, 'sip');
  assert.equal(u.user, 'alice');
  assert.equal(u.password, 'secret');
  assert.equal(u.host, 'example.com');
  assert.equal(u.port, 5070);
  assert.deepEqual([...u.params], [['transport', 'TCP'], ['lr', null], ['maddr', '239.255.255.1']]);
  assert.equal(u.headers, 'subject=project&priority=urgent');
});

test('scheme and parameter names are case-insensitive and lower-cased', () => {
  const u = parsed('SIPS:Bob@HOST.example;LR;Transport=tls');
  assert.equal(u.scheme, 'sips');
  assert.equal(u.user, 'Bob', 'the user part keeps its case');
  assert.deepEqual([...u.params.keys()], ['lr', 'transport']);
});

test('escaped user characters are decoded and re-escaped on output', () => {
  const u = parsed('sip:sips%3Auser%40example.com@example.net');
  assert.equal(u.user, 'sips:user@example.com');
  assert.equal(formatUri(u), 'sip:sips%3Auser%40example.com@example.net');
  assert.equal(parsed('sip:%61lice@h').user, 'alice');
  assert.equal(parsed('sip:caller%20one@h').user, 'caller one');
  assert.equal(parsed('sip:z%C3%BC@h').user, 'zü');
});

test('IPv6 references are stored without brackets and written with them', () => {
  const u = parsed('sip:[2001:DB8::10]:5060;maddr=[::1]');
  assert.equal(u.host, '2001:db8::10');
  assert.equal(u.port, 5060);
  assert.equal(u.params.get('maddr'), '[::1]');
  assert.equal(formatUri(u), 'sip:[2001:db8::10]:5060;maddr=[::1]');
  assert.equal(parsed('sip:user@[::1]').host, '::1');
});

test('user-unreserved characters such as ; ? / are part of the user', () => {
  const u = parsed('sip:+1-212-555-1212;phone-context=x@gw.example.com;user=phone');
  assert.equal(u.user, '+1-212-555-1212;phone-context=x');
  assert.equal(u.host, 'gw.example.com');
  assert.equal(u.params.get('user'), 'phone');
});

test('tel: and other schemes keep everything after the colon and round-trip', () => {
  for (const text of ['tel:+1-201-555-0123;phone-context=example.com', 'urn:service:sos', 'mailto:alice@example.com']) {
    const u = parsed(text);
    assert.equal(formatUri(u), text);
  }
  assert.equal(parsed('TEL:+123').scheme, 'tel');
});

test('round trip of common forms', () => {
  for (const text of [
    'sip:example.com',
    'sip:alice@example.com',
    'sip:alice@192.0.2.4:5060',
    'sips:bob@[2001:db8::1]:5061;transport=tls',
    'sip:ab12cd34@xyz.invalid;transport=ws;ob',
    'sip:alice@example.com;lr?Replaces=abc%40h%3Bto-tag%3D1',
  ]) assert.equal(formatUri(parsed(text)), text);
});

test('malformed URIs are rejected with a reason', () => {
  for (const text of [
    '', 'sip', ':alice@h', '1sip:h', 'sip:', 'sip:@host', 'sip:alice@', 'sip:a b@h', 'sip:host:0', 'sip:host:65536',
    'sip:host:99999999', 'sip:host:', 'sip:[::1', 'sip:[zz::1]', 'sip:[127.0.0.1]', 'sip:host;=x', 'sip:host;a b',
    'sip:%zzuser@h', 'sip:%4@h', 'sip:host>', 'sip:al<ice@h', 'sip:%FF@h', 'tel:', 'tel:+1 2',
  ]) {
    const r = parseUri(text);
    assert.equal(r.ok, false, `${JSON.stringify(text)} should be rejected`);
  }
});

test('port boundaries', () => {
  assert.equal(parsed('sip:h:1').port, 1);
  assert.equal(parsed('sip:h:65535').port, 65535);
});
