import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HeaderList } from '../../../src/sip/headers.js';
import { SipRequest, SipResponse } from '../../../src/sip/message.js';
import { parseMessage } from '../../../src/sip/parser.js';
import { serialize } from '../../../src/sip/serializer.js';

test('untouched headers go out as received, Content-Length recomputed in place', () => {
  const input = 'MESSAGE sip:bob@example.com SIP/2.0\r\nv: SIP/2.0/UDP h;branch=z9hG4bK1\r\nl: 2\r\nX-Custom:   spaced\r\n\r\nhi';
  const good = parseMessage(Buffer.from(input));
  assert.ok(good.ok);
  good.value.body = Buffer.from('hello');
  assert.equal(
    serialize(good.value).toString(),
    'MESSAGE sip:bob@example.com SIP/2.0\r\nv: SIP/2.0/UDP h;branch=z9hG4bK1\r\nContent-Length: 5\r\nX-Custom: spaced\r\n\r\nhello',
  );
});

test('Content-Length is appended when missing and duplicates are dropped', () => {
  const req = new SipRequest('OPTIONS', 'sip:b@h', new HeaderList([
    { name: 'call-id', rawName: 'Call-ID', value: 'x' },
  ]));
  assert.equal(serialize(req).toString(), 'OPTIONS sip:b@h SIP/2.0\r\nCall-ID: x\r\nContent-Length: 0\r\n\r\n');

  const dup = new SipResponse(200, 'OK', new HeaderList([
    { name: 'content-length', rawName: 'Content-Length', value: '3' },
    { name: 'call-id', rawName: 'Call-ID', value: 'y' },
    { name: 'content-length', rawName: 'l', value: '3' },
  ]), Buffer.from('abc'));
  assert.equal(serialize(dup).toString(), 'SIP/2.0 200 OK\r\nContent-Length: 3\r\nCall-ID: y\r\n\r\nabc');
});

test('edits made by the core are written out: prepended Via, new Max-Forwards, display names', () => {
  const r = parseMessage(Buffer.from('INVITE sip:b@h SIP/2.0\r\nVia: SIP/2.0/WSS c.invalid;branch=z9hG4bKa\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n'));
  assert.ok(r.ok && r.value.kind === 'request');
  const m = r.value;
  m.headers.prepend('via', 'SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKb');
  m.headers.set('max-forwards', '69');
  m.headers.append('record-route', '<sip:192.0.2.1;lr>');
  m.uri = 'sip:b@192.0.2.9:5060';
  assert.equal(serialize(m).toString(), [
    'INVITE sip:b@192.0.2.9:5060 SIP/2.0',
    'Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKb',
    'Via: SIP/2.0/WSS c.invalid;branch=z9hG4bKa',
    'Max-Forwards: 69',
    'Content-Length: 0',
    'Record-Route: <sip:192.0.2.1;lr>',
    '', '',
  ].join('\r\n'));
});

test('UTF-8 header values and bodies are counted in bytes', () => {
  const body = Buffer.from('Grüße 👋');
  const res = new SipResponse(200, 'OK', new HeaderList([{ name: 'from', rawName: 'From', value: '"Zoë" <sip:z@h>' }]), body);
  const out = serialize(res);
  assert.ok(out.toString().endsWith(`Content-Length: ${body.length}\r\n\r\nGrüße 👋`));
  const back = parseMessage(out);
  assert.ok(back.ok);
  assert.deepEqual(back.value.body, body);
  assert.equal(back.value.from()?.display, 'Zoë');
});
