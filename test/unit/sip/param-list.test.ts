import assert from 'node:assert/strict';
import test from 'node:test';
import { ParamList } from '../../../src/sip/param-list.js';
import { formatParams, parseUri } from '../../../src/sip/uri.js';
import { parseVia } from '../../../src/sip/headers/via.js';

test('a parameter list keeps wire order, flags as null, and the first of a repeated name', () => {
  const uri = parseUri('sip:bob@example.com;transport=tcp;lr;transport=udp;maddr=10.0.0.1');
  assert.ok(uri.ok);
  const p = uri.value.params;
  assert.equal(p.size, 3);
  assert.equal(p.get('transport'), 'tcp', 'the first transport counts');
  assert.equal(p.get('lr'), null, 'a flag has value null');
  assert.equal(p.get('ttl'), undefined, 'an absent name is undefined, not null');
  assert.equal(p.has('lr'), true);
  assert.equal(p.has('ttl'), false);
  assert.deepEqual([...p], [['transport', 'tcp'], ['lr', null], ['maddr', '10.0.0.1']]);
  assert.deepEqual([...p.keys()], ['transport', 'lr', 'maddr']);
  assert.equal(formatParams(p), ';transport=tcp;lr;maddr=10.0.0.1');
});

test('set replaces a value where it stands or appends; delete removes one entry', () => {
  const p = new ParamList([['branch', 'z9hG4bK1'], ['rport', null], ['received', '10.0.0.1']]);
  assert.equal(p.set('rport', '5070'), p, 'set returns the list, as Map.set does');
  p.set('alias', null);
  assert.equal(formatParams(p), ';branch=z9hG4bK1;rport=5070;received=10.0.0.1;alias');
  assert.equal(p.delete('received'), true);
  assert.equal(p.delete('received'), false, 'nothing left to delete');
  assert.equal(p.size, 3);
  assert.equal(formatParams(p), ';branch=z9hG4bK1;rport=5070;alias');
  p.addFirst('branch', 'other');
  assert.equal(p.get('branch'), 'z9hG4bK1', 'addFirst keeps an existing value');
});

test('a copy is independent of its source, and a Map still formats the same', () => {
  const via = parseVia('SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKabc;rport');
  assert.ok(via.ok);
  const top = via.value[0]!;
  const copy = new ParamList(top.params);
  copy.set('received', '198.51.100.7');
  assert.equal(top.params.has('received'), false);
  assert.equal(formatParams(copy), ';branch=z9hG4bKabc;rport;received=198.51.100.7');
  assert.equal(formatParams(new Map([['lr', null], ['tk', 'x']])), ';lr;tk=x');
});
