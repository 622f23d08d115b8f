import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseMessage } from '../../../src/sip/parser.js';
import { DEFAULT_STRIP_HEADERS, HeaderPolicy } from '../../../src/topology/index.js';

const raw = [
  'SIP/2.0 486 Busy Here',
  'Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK1',
  'From: <sip:a@example.com>;tag=1',
  'To: <sip:b@example.com>;tag=2',
  'Call-ID: c1',
  'CSeq: 1 INVITE',
  'Server: FreeSWITCH-mod_sofia/1.10',
  'X-FS-Node: 10.0.0.5',
  'x-lower: 1',
  'Warning: 392 10.0.0.5 "debug"',
  'Organization: inside',
  'Reason: Q.850;cause=17',
  'Content-Length: 0',
  '',
  '',
].join('\r\n');

test('default policy: Server replaced by ours; X-*, Warning, Organization removed; the rest kept in order', () => {
  const r = parseMessage(Buffer.from(raw));
  assert.ok(r.ok);
  const msg = r.value;
  new HeaderPolicy(DEFAULT_STRIP_HEADERS, 'webrtc-sbc').apply(msg.headers, 'response');
  const names = msg.headers.fields.map((f) => f.name);
  assert.deepEqual(names, ['via', 'from', 'to', 'call-id', 'cseq', 'server', 'reason', 'content-length']);
  assert.equal(msg.headers.get('server'), 'webrtc-sbc');
});

test('a request gets our User-Agent only when it had one; a custom list strips only its names', () => {
  const req = parseMessage(Buffer.from('OPTIONS sip:a@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK2\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\nUser-Agent: inside-pbx\r\nP-Internal: 1\r\nX-Keep: 1\r\nContent-Length: 0\r\n\r\n'));
  assert.ok(req.ok);
  new HeaderPolicy(['User-Agent', 'P-*'], 'webrtc-sbc').apply(req.value.headers, 'request');
  assert.equal(req.value.headers.get('user-agent'), 'webrtc-sbc');
  assert.equal(req.value.headers.has('p-internal'), false);
  assert.equal(req.value.headers.get('x-keep'), '1');
  const bare = parseMessage(Buffer.from('OPTIONS sip:a@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK3\r\nCall-ID: y\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n'));
  assert.ok(bare.ok);
  new HeaderPolicy(DEFAULT_STRIP_HEADERS, 'webrtc-sbc').apply(bare.value.headers, 'request');
  assert.equal(bare.value.headers.has('user-agent'), false);
});
