import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseMessage, PARSER_LIMITS } from '../../../src/sip/parser.js';

const crlf = (...lines: string[]): Buffer => Buffer.from(lines.join('\r\n'));

const HEAD = [
  'Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKp1',
  'From: <sip:alice@example.com>;tag=a1',
  'To: <sip:bob@example.com>',
  'Call-ID: parser-test@192.0.2.1',
  'CSeq: 1 OPTIONS',
  'Max-Forwards: 70',
];

test('request line, header fields with canonical and raw names, empty body', () => {
  const r = parseMessage(crlf('OPTIONS sip:bob@example.com SIP/2.0', ...HEAD, 'l: 0', '', ''));
  assert.ok(r.ok);
  const m = r.value;
  assert.equal(m.kind, 'request');
  assert.ok(m.kind === 'request');
  assert.equal(m.method, 'OPTIONS');
  assert.equal(m.uri, 'sip:bob@example.com');
  assert.equal(m.headers.size, 7);
  const cl = m.headers.fields[6];
  assert.deepEqual(cl, { name: 'content-length', rawName: 'l', value: '0' });
  assert.equal(m.body.length, 0);
});

test('status line with a multi-word reason', () => {
  const r = parseMessage(crlf('SIP/2.0 481 Call/Transaction Does Not Exist', ...HEAD, '', ''));
  assert.ok(r.ok && r.value.kind === 'response');
  assert.equal(r.value.status, 481);
  assert.equal(r.value.reason, 'Call/Transaction Does Not Exist');
});

test('lower-case sip version is accepted (RFC 3261 §7.1)', () => {
  const r = parseMessage(crlf('OPTIONS sip:bob@example.com sip/2.0', ...HEAD, '', ''));
  assert.ok(r.ok);
});

test('the body is a view of the input, exactly Content-Length bytes', () => {
  const data = crlf('MESSAGE sip:bob@example.com SIP/2.0', ...HEAD, 'Content-Length: 5', '', 'hello and more');
  const r = parseMessage(data);
  assert.ok(r.ok);
  assert.equal(r.value.body.toString(), 'hello');
  assert.equal(r.value.body.buffer, data.buffer, 'no copy of the body');
});

test('without Content-Length the body is the rest of the datagram', () => {
  const r = parseMessage(crlf('MESSAGE sip:bob@example.com SIP/2.0', ...HEAD, '', 'all of this'));
  assert.ok(r.ok);
  assert.equal(r.value.body.toString(), 'all of this');
});

test('a body shorter than Content-Length is an error with a usable partial message', () => {
  const r = parseMessage(crlf('INVITE sip:bob@example.com SIP/2.0', ...HEAD, 'Content-Length: 100', '', 'short'));
  assert.equal(r.ok, false);
  assert.ok(!r.ok);
  assert.equal(r.error.code, 'truncated-body');
  assert.equal(r.error.status, 400);
  const p = r.error.partial;
  assert.ok(p);
  assert.equal(p.callId, 'parser-test@192.0.2.1');
  assert.equal(p.topVia()?.params.get('branch'), 'z9hG4bKp1');
  assert.deepEqual(p.cseq(), { seq: 1, method: 'OPTIONS' });
  assert.equal(p.from()?.params.get('tag'), 'a1');
});

test('header count and line length limits give 513 with a partial message (RFC 3261 §21.5.14)', () => {
  const many = Array.from({ length: 10 }, (_, i) => `X-H${i}: ${i}`);
  const r1 = parseMessage(crlf('OPTIONS sip:b@h SIP/2.0', ...HEAD, ...many, '', ''), { maxHeaderCount: 8 });
  assert.ok(!r1.ok);
  assert.equal(r1.error.code, 'too-many-headers');
  assert.equal(r1.error.status, 513);
  assert.equal(r1.error.partial?.callId, 'parser-test@192.0.2.1');

  const r2 = parseMessage(crlf('OPTIONS sip:b@h SIP/2.0', ...HEAD, `X-Long: ${'x'.repeat(200)}`, '', ''), { maxHeaderLineBytes: 100 });
  assert.ok(!r2.ok);
  assert.equal(r2.error.code, 'header-too-long');
  assert.equal(r2.error.status, 513);

  // Folding must not sneak a long value past the limit.
  const folded = Array.from({ length: 5 }, () => ` ${'y'.repeat(60)}`);
  const r3 = parseMessage(crlf('OPTIONS sip:b@h SIP/2.0', ...HEAD, 'X-Folded: start', ...folded, '', ''), { maxHeaderLineBytes: 100 });
  assert.ok(!r3.ok);
  assert.equal(r3.error.code, 'header-too-long');
});

test('a message larger than maxMessageBytes is too-large, with a partial when its head fits', () => {
  const data = crlf('MESSAGE sip:b@h SIP/2.0', ...HEAD, 'Content-Length: 2000', '', 'z'.repeat(2000));
  const r = parseMessage(data, { maxMessageBytes: 1000 });
  assert.ok(!r.ok);
  assert.equal(r.error.code, 'too-large');
  assert.equal(r.error.status, 513);
  assert.equal(r.error.partial?.callId, 'parser-test@192.0.2.1');
  assert.equal(PARSER_LIMITS.maxMessageBytes, 65535);
});

test('start line errors carry no partial message', () => {
  for (const [line, code] of [
    ['OPTIONS sip:b@h SIP/2.1', 'bad-version'],
    ['SIP/1.0 200 OK', 'bad-version'],
    ['OPTIONS sip:b@h', 'bad-start-line'],
    ['OPTIONS  sip:b@h SIP/2.0', 'bad-start-line'],
    ['OPT<IONS sip:b@h SIP/2.0', 'bad-start-line'],
    ['OPTIONS nocolon SIP/2.0', 'bad-start-line'],
    ['SIP/2.0 2000 OK', 'bad-start-line'],
    ['SIP/2.0 099 Low', 'bad-start-line'],
    ['SIP/2.0 OK', 'bad-start-line'],
  ] as const) {
    const r = parseMessage(crlf(line, ...HEAD, '', ''));
    assert.ok(!r.ok, line);
    assert.equal(r.error.code, code, line);
    assert.equal(r.error.partial, undefined);
  }
});

test('empty input and bare CRLFs are "empty"', () => {
  for (const s of ['', '\r\n', '\r\n\r\n', '\n\n\n']) {
    const r = parseMessage(Buffer.from(s));
    assert.ok(!r.ok);
    assert.equal(r.error.code, 'empty');
  }
});

test('a missing final empty line is tolerated only when the last header line is complete', () => {
  const ok = parseMessage(crlf('OPTIONS sip:b@h SIP/2.0', ...HEAD, 'Content-Length: 0', ''));
  assert.ok(ok.ok);
  const cut = parseMessage(crlf('OPTIONS sip:b@h SIP/2.0', ...HEAD, 'Content-Le'));
  assert.ok(!cut.ok);
  assert.equal(cut.error.code, 'bad-header');
});

test('mixed CRLF and LF line ends', () => {
  const data = Buffer.from('OPTIONS sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKm\nCall-ID: mixed\r\nCSeq: 1 OPTIONS\n\r\nbody');
  const r = parseMessage(data);
  assert.ok(r.ok);
  assert.equal(r.value.callId, 'mixed');
  assert.equal(r.value.body.toString(), 'body');
});

test('a body containing blank lines is not mistaken for the header end', () => {
  const body = 'v=0\r\n\r\n\n\nx';
  const r = parseMessage(crlf('INVITE sip:b@h SIP/2.0', ...HEAD, `Content-Length: ${body.length}`, '', body));
  assert.ok(r.ok);
  assert.equal(r.value.body.toString(), body);
  assert.equal(r.value.headers.size, 7);
});

test('multi-byte UTF-8 in headers does not shift the body offset', () => {
  const body = 'ünïcödé';
  const data = Buffer.from(['MESSAGE sip:b@h SIP/2.0', 'From: "Zoë 👋" <sip:z@h>;tag=1', `Content-Length: ${Buffer.byteLength(body)}`, '', body].join('\r\n'));
  const r = parseMessage(data);
  assert.ok(r.ok);
  assert.equal(r.value.from()?.display, 'Zoë 👋');
  assert.equal(r.value.body.toString(), body);
});

test('header names must be tokens; a bad line is reported but the others are kept', () => {
  const r = parseMessage(crlf('OPTIONS sip:b@h SIP/2.0', ...HEAD, 'Bad Name: x', '', ''));
  assert.ok(!r.ok);
  assert.equal(r.error.code, 'bad-header');
  assert.equal(r.error.partial?.headers.size, HEAD.length);
});

test('a continuation line right after the start line is malformed', () => {
  const r = parseMessage(crlf('OPTIONS sip:b@h SIP/2.0', ' folded', ...HEAD, '', ''));
  assert.ok(!r.ok);
  assert.equal(r.error.code, 'bad-header');
});
