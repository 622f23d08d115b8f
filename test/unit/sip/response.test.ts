import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SipRequest } from '../../../src/sip/message.js';
import { parseMessage } from '../../../src/sip/parser.js';
import { createResponse } from '../../../src/sip/response.js';
import { serialize } from '../../../src/sip/serializer.js';
import { reasonPhrase } from '../../../src/sip/status.js';

function request(...headers: string[]): SipRequest {
  const r = parseMessage(Buffer.from(['INVITE sip:bob@example.com SIP/2.0', ...headers, 'Content-Length: 3', '', 'sdp'].join('\r\n')));
  assert.ok(r.ok && r.value.kind === 'request');
  return r.value;
}

const req = request(
  'Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKtop;received=192.0.2.1',
  'v: SIP/2.0/WSS c.invalid;branch=z9hG4bKa, SIP/2.0/TCP d;branch=z9hG4bKb',
  'Max-Forwards: 70',
  'From: "Alice" <sip:alice@example.com>;tag=fa',
  'To: <sip:bob@example.com>',
  'Call-ID: resp@192.0.2.1',
  'CSeq: 42 INVITE',
  'Subject: not copied',
);

test('copies every Via in order, From, To, Call-ID and CSeq; Content-Length 0', () => {
  const res = createResponse(req, 486, undefined, { toTag: 'tt1' });
  assert.equal(serialize(res).toString(), [
    'SIP/2.0 486 Busy Here',
    'Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKtop;received=192.0.2.1',
    'v: SIP/2.0/WSS c.invalid;branch=z9hG4bKa, SIP/2.0/TCP d;branch=z9hG4bKb',
    'From: "Alice" <sip:alice@example.com>;tag=fa',
    'To: <sip:bob@example.com>;tag=tt1',
    'Call-ID: resp@192.0.2.1',
    'CSeq: 42 INVITE',
    'Content-Length: 0',
    '', '',
  ].join('\r\n'));
  assert.equal(res.vias()?.length, 3);
  assert.equal(res.body.length, 0);
});

test('100 Trying gets no To tag; other statuses get a random one when none is given (RFC 3261 §8.2.6.2)', () => {
  assert.equal(createResponse(req, 100).to()?.params.get('tag'), undefined);
  const a = createResponse(req, 180).to()?.params.get('tag');
  const b = createResponse(req, 180).to()?.params.get('tag');
  assert.ok(a && b && a !== b);
  assert.match(a, /^[0-9a-f]{8,}$/);
});

test('an existing To tag is kept, not doubled', () => {
  const inDialog = request('Via: SIP/2.0/UDP h;branch=z9hG4bKx', 'From: <sip:a@h>;tag=1', 'To: <sip:b@h>;tag=existing', 'Call-ID: c', 'CSeq: 2 INVITE');
  const res = createResponse(inDialog, 200, 'Fine', { toTag: 'other' });
  assert.equal(res.headers.get('to'), '<sip:b@h>;tag=existing');
  assert.equal(res.reason, 'Fine');
});

test('extra headers such as Retry-After come before Content-Length', () => {
  const res = createResponse(req, 503, undefined, { headers: [['Retry-After', '30'], ['Warning', '399 sbc "overloaded"']] });
  const names = res.headers.fields.map((f) => f.rawName);
  assert.deepEqual(names.slice(-3), ['Retry-After', 'Warning', 'Content-Length']);
  assert.equal(res.reason, 'Service Unavailable');
});

test('a response built from a partial (failed) parse can be sent', () => {
  const r = parseMessage(Buffer.from('INVITE sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKp\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:b@h>\r\nCall-ID: p\r\nCSeq: 1 INVITE\r\nBad Header\r\n\r\n'));
  assert.ok(!r.ok);
  const partial = r.error.partial;
  assert.ok(partial && partial.kind === 'request');
  const res = createResponse(partial, r.error.status, r.error.reason);
  const back = parseMessage(serialize(res));
  assert.ok(back.ok && back.value.kind === 'response');
  assert.equal(back.value.status, 400);
  assert.equal(back.value.topVia()?.params.get('branch'), 'z9hG4bKp');
});

test('reason phrases: RFC 3261 §21 and extensions, class names for unknown codes', () => {
  assert.equal(reasonPhrase(200), 'OK');
  assert.equal(reasonPhrase(430), 'Flow Failed');
  assert.equal(reasonPhrase(439), 'First Hop Lacks Outbound Support');
  assert.equal(reasonPhrase(470), 'Consent Needed');
  assert.equal(reasonPhrase(580), 'Precondition Failure');
  assert.equal(reasonPhrase(513), 'Message Too Large');
  assert.equal(reasonPhrase(299), 'Success');
  assert.equal(reasonPhrase(499), 'Client Error');
  assert.equal(reasonPhrase(699), 'Global Failure');
});
