import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { firstCommaValue, splitCommaValues } from '../../../src/sip/headers.js';
import { parseMessage } from '../../../src/sip/parser.js';

describe('comma-joined header values', () => {
  const cases: [string, string[]][] = [
    ['SIP/2.0/UDP a;branch=z9hG4bK1', ['SIP/2.0/UDP a;branch=z9hG4bK1']],
    ['SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/TCP b;branch=z9hG4bK2', ['SIP/2.0/UDP a;branch=z9hG4bK1', 'SIP/2.0/TCP b;branch=z9hG4bK2']],
    ['"Doe, John" <sip:j@a>, <sip:k@b;x=",">', ['"Doe, John" <sip:j@a>', '<sip:k@b;x=",">']],
    ['<sip:a@b?h=1,2>, <sip:c@d>', ['<sip:a@b?h=1,2>', '<sip:c@d>']],
    ['"q\\", still quoted" <sip:x@y>', ['"q\\", still quoted" <sip:x@y>']],
    [' , first ,, second , ', ['first', 'second']],
    ['', []],
    [',', []],
  ];
  it('splits on top-level commas only, dropping empty parts', () => {
    for (const [value, parts] of cases) assert.deepEqual(splitCommaValues(value), parts, value);
  });
  it('takes the first value as splitting would, without splitting the rest', () => {
    for (const [value, parts] of cases) assert.equal(firstCommaValue(value), parts[0], value);
  });
  it('gives the top Via of a line holding the whole chain', () => {
    const text = 'SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.1:5070;branch=z9hG4bKtop, SIP/2.0/UDP 198.51.100.7;branch=z9hG4bKnext\r\n'
      + 'From: <sip:a@x>;tag=1\r\nTo: <sip:b@y>;tag=2\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n';
    const r = parseMessage(Buffer.from(text));
    assert.ok(r.ok);
    const top = r.value.topVia();
    assert.equal(top?.host, '192.0.2.1');
    assert.equal(top?.port, 5070);
    assert.equal(top?.params.get('branch'), 'z9hG4bKtop');
  });
});
