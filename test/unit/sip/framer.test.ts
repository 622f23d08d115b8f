import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { StreamFramer, isKeepalive, type FramerEvent } from '../../../src/sip/framer.js';
import { parseMessage } from '../../../src/sip/parser.js';
import { fixturesDir } from '../../helpers/paths.js';

const fixture = (name: string): Buffer => readFileSync(join(fixturesDir, 'sip', `${name}.sip`));
const invite = fixture('sipjs-invite');
const register = fixture('sipjs-register');
const ok200 = fixture('response-200-invite');

/** Summarise events: message → its Call-ID and body length, others → their kind. */
function describe(events: FramerEvent[]): string[] {
  return events.map((e) => {
    if (e.kind !== 'message') return e.kind === 'error' ? `error:${e.error.code}` : e.kind;
    const r = parseMessage(e.data);
    assert.ok(r.ok, 'each framed message parses');
    return `${r.value.kind}:${r.value.callId}:${r.value.body.length}`;
  });
}

function feed(framer: StreamFramer, stream: Buffer, sizes: (i: number) => number): FramerEvent[] {
  const out: FramerEvent[] = [];
  let i = 0;
  for (let p = 0; p < stream.length; i++) {
    const n = Math.max(1, sizes(i));
    out.push(...framer.push(stream.subarray(p, p + n)));
    p += n;
  }
  return out;
}

const stream = Buffer.concat([Buffer.from('\r\n\r\n'), invite, register, Buffer.from('\r\n'), ok200, Buffer.from('\r\n\r\n')]);
const expected = [
  'ping',
  'request:3pc1n3o0qm6l1ehmvg3i:' + String(parseBody(invite)),
  'request:8kmo4sfc7q8rbpa6o1nl:0',
  'response:3pc1n3o0qm6l1ehmvg3i:' + String(parseBody(ok200)),
  'ping',
];

function parseBody(data: Buffer): number {
  const r = parseMessage(data);
  assert.ok(r.ok);
  return r.value.body.length;
}

test('several messages and keepalives in one chunk', () => {
  const f = new StreamFramer();
  assert.deepEqual(describe(f.push(stream)), expected);
  assert.equal(f.buffered, 0);
});

test('the same stream split at every byte boundary', () => {
  const f = new StreamFramer();
  assert.deepEqual(describe(feed(f, stream, () => 1)), expected);
  assert.equal(f.buffered, 0);
});

test('the same stream split into two pieces at every position', () => {
  for (let cut = 1; cut < stream.length; cut += 7) {
    const f = new StreamFramer();
    const events = [...f.push(stream.subarray(0, cut)), ...f.push(stream.subarray(cut))];
    assert.deepEqual(describe(events), expected, `cut at ${cut}`);
  }
});

test('irregular chunk sizes', () => {
  const sizes = [3, 1, 700, 2, 13, 4096, 1, 1, 257];
  const f = new StreamFramer();
  assert.deepEqual(describe(feed(f, stream, (i) => sizes[i % sizes.length]!)), expected);
});

test('framed message bytes are exactly the message', () => {
  const f = new StreamFramer();
  const events = f.push(Buffer.concat([register, invite]));
  assert.equal(events.length, 2);
  assert.ok(events[0]?.kind === 'message' && events[1]?.kind === 'message');
  assert.deepEqual(events[0].data, register);
  assert.deepEqual(events[1].data, invite);
});

test('a lone CRLF (pong) is skipped; a double CRLF is a ping (RFC 5626 §4.4.1)', () => {
  const f = new StreamFramer();
  assert.deepEqual(describe(f.push(Buffer.from('\r\n'))), []);
  assert.deepEqual(describe(f.push(register)), ['request:8kmo4sfc7q8rbpa6o1nl:0']);
  assert.deepEqual(describe(f.push(Buffer.from('\r\n\r\n'))), ['ping']);
  assert.deepEqual(describe(f.push(Buffer.from('\r\n\r\n\r\n\r\n'))), ['ping', 'ping']);
});

test('Content-Length is mandatory on streams (RFC 3261 §18.3)', () => {
  const f = new StreamFramer();
  const events = f.push(Buffer.from('OPTIONS sip:b@h SIP/2.0\r\nCall-ID: x\r\n\r\n'));
  assert.deepEqual(describe(events), ['error:bad-content-length']);
  assert.equal(events[0]?.kind === 'error' ? events[0].error.status : 0, 400);
  assert.deepEqual(f.push(register), [], 'nothing more after an error');
  assert.equal(f.closed, true);
});

test('compact and folded Content-Length frame correctly; malformed ones are errors', () => {
  const compact = Buffer.from('MESSAGE sip:b@h SIP/2.0\r\nCall-ID: c\r\nl  :  3\r\n\r\nabc');
  assert.deepEqual(describe(new StreamFramer().push(compact)), ['request:c:3']);
  const folded = Buffer.from('MESSAGE sip:b@h SIP/2.0\r\nCall-ID: d\r\nContent-Length:\r\n 4\r\n\r\nabcd');
  assert.deepEqual(describe(new StreamFramer().push(folded)), ['request:d:4']);
  for (const bad of ['Content-Length: x', 'Content-Length: -1', 'Content-Length: 3\r\nl: 4']) {
    const data = Buffer.from(`MESSAGE sip:b@h SIP/2.0\r\nCall-ID: e\r\n${bad}\r\n\r\nabcd`);
    assert.deepEqual(describe(new StreamFramer().push(data)), ['error:bad-content-length'], bad);
  }
});

test('limits: header section and whole message', () => {
  const f1 = new StreamFramer({ maxHeaderBytes: 100 });
  const events1 = feed(f1, Buffer.from('OPTIONS sip:b@h SIP/2.0\r\n' + 'X-Pad: aaaaaaaaaa\r\n'.repeat(20)), () => 10);
  assert.deepEqual(describe(events1), ['error:header-too-long']);
  assert.ok(f1.buffered === 0 && f1.closed);

  const f2 = new StreamFramer({ maxMessageBytes: 1000 });
  const events2 = f2.push(Buffer.from('MESSAGE sip:b@h SIP/2.0\r\nContent-Length: 5000\r\n\r\n'));
  assert.deepEqual(describe(events2), ['error:too-large']);
  assert.equal(events2[0]?.kind === 'error' ? events2[0].error.status : 0, 513);
});

test('close() is idempotent and drops buffered bytes', () => {
  const f = new StreamFramer();
  f.push(invite.subarray(0, 100));
  assert.equal(f.buffered, 100);
  f.close();
  f.close();
  assert.equal(f.buffered, 0);
  assert.deepEqual(f.push(invite), []);
});

test('isKeepalive: only CR/LF bytes, as Buffer or string', () => {
  assert.equal(isKeepalive('\r\n\r\n'), true);
  assert.equal(isKeepalive('\r\n'), true);
  assert.equal(isKeepalive(Buffer.from('\r\n\r\n')), true);
  assert.equal(isKeepalive(Buffer.from('\n')), true);
  assert.equal(isKeepalive(''), false);
  assert.equal(isKeepalive(Buffer.alloc(0)), false);
  assert.equal(isKeepalive('\r\n '), false);
  assert.equal(isKeepalive(register), false);
});
