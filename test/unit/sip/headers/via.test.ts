import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatVia, parseVia, viaBranch, type Via } from '../../../../src/sip/headers/via.js';

function vias(value: string): Via[] {
  const r = parseVia(value);
  assert.ok(r.ok, `${value} should parse: ${r.ok ? '' : r.error}`);
  return r.value;
}

test('transport, sent-by and branch of a simple Via', () => {
  const [v] = vias('SIP/2.0/UDP pc33.atlanta.com:5066;branch=z9hG4bK776asdhds');
  assert.ok(v);
  assert.equal(v.transport, 'UDP');
  assert.equal(v.host, 'pc33.atlanta.com');
  assert.equal(v.port, 5066);
  assert.equal(viaBranch(v), 'z9hG4bK776asdhds');
});

test('LWS around the slashes and parameters is tolerated (RFC 3261 §25.1)', () => {
  const [v] = vias('SIP  /   2.0 / tcp    spindle.example.com  ;  branch  =   z9hG4bK9ikj8 ; received = 192.0.2.1');
  assert.ok(v);
  assert.equal(v.transport, 'TCP');
  assert.equal(v.host, 'spindle.example.com');
  assert.equal(v.port, undefined);
  assert.equal(v.params.get('branch'), 'z9hG4bK9ikj8');
  assert.equal(v.params.get('received'), '192.0.2.1');
});

test('comma-joined values give one Via each, in order', () => {
  const list = vias('SIP/2.0/UDP a.example.com;branch=z9hG4bK1, SIP/2.0/TCP b.example.com:5070;branch=z9hG4bK2,SIP/2.0/WSS c.invalid;branch=z9hG4bK3');
  assert.deepEqual(list.map((v) => [v.transport, v.host, v.port, viaBranch(v)]), [
    ['UDP', 'a.example.com', undefined, 'z9hG4bK1'],
    ['TCP', 'b.example.com', 5070, 'z9hG4bK2'],
    ['WSS', 'c.invalid', undefined, 'z9hG4bK3'],
  ]);
});

test('IPv6 sent-by, received and rport in both forms (RFC 3581 §4)', () => {
  const [req, resp] = vias('SIP/2.0/UDP [2001:db8::9:1]:5060;rport;branch=z9hG4bKa, SIP/2.0/UDP [2001:db8::9:1];branch=z9hG4bKb;rport=40123;received=2001:db8::7');
  assert.ok(req && resp);
  assert.equal(req.host, '2001:db8::9:1');
  assert.equal(req.port, 5060);
  assert.equal(req.params.get('rport'), null, 'a flag rport has value null');
  assert.ok(req.params.has('rport'));
  assert.equal(resp.params.get('rport'), '40123');
  assert.equal(resp.params.get('received'), '2001:db8::7');
});

test('quoted generic parameter with a comma does not split the Via', () => {
  const list = vias('SIP/2.0/UDP h.example.com;branch=z9hG4bKq;x-note="a, b"');
  assert.equal(list.length, 1);
  assert.equal(list[0]?.params.get('x-note'), '"a, b"');
});

test('formatVia writes the canonical form and round-trips', () => {
  for (const text of [
    'SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1;rport',
    'SIP/2.0/WSS r4tf1kq2cd0a.invalid;branch=z9hG4bK5503421',
    'SIP/2.0/TLS [2001:db8::1]:5061;branch=z9hG4bKx;received=2001:db8::2;rport=5061',
  ]) {
    const [v] = vias(text);
    assert.ok(v);
    assert.equal(formatVia(v), text);
  }
  const [odd] = vias('sip / 2.0 / udp Host.Example.COM : 5060 ; Branch=z9hG4bKc');
  assert.ok(odd);
  assert.equal(formatVia(odd), 'SIP/2.0/UDP host.example.com:5060;branch=z9hG4bKc');
});

test('malformed Via values are rejected', () => {
  for (const text of [
    '', 'SIP/2.0/UDP', 'SIP/2.0 host', 'SIP/3.0/UDP host', 'HTTP/2.0/UDP host', 'SIP/2.0/UDPhost',
    'SIP/2.0/UDP host:0', 'SIP/2.0/UDP host:70000', 'SIP/2.0/UDP [::1', 'SIP/2.0/UDP host;branch=',
    'SIP/2.0/UDP host;rport=abc', 'SIP/2.0/UDP host junk', 'SIP/2.0/UDP host, garbage', 'SIP/2.0/UDP host;x="unterminated',
  ]) assert.equal(parseVia(text).ok, false, `${JSON.stringify(text)} should be rejected`);
});
