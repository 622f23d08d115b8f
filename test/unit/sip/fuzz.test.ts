import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { StreamFramer } from '../../../src/sip/framer.js';
import type { SipMessage } from '../../../src/sip/message.js';
import { parseMessage } from '../../../src/sip/parser.js';
import { serialize } from '../../../src/sip/serializer.js';
import { fixturesDir } from '../../helpers/paths.js';

/**
 * Property tests over mutated messages. A seeded PRNG makes every failure
 * reproducible: the assertion message names the seed and iteration.
 */
const SEED = 0x5eed5bc;
const ITERATIONS = 100_000;

/** mulberry32: tiny, fast, good enough to drive a mutator. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const dir = join(fixturesDir, 'sip');
const corpus: Buffer[] = readdirSync(dir).filter((f) => f.endsWith('.sip')).sort().map((f) => readFileSync(join(dir, f)));

const INTERESTING = [
  '\r\n', '\n', '\r', '\r\n\r\n', ' ', '\t', ':', ';', ',', '<', '>', '"', '\\', '@', '[', ']', '=', '%', '%zz', '\u0000',
  'Content-Length: 999999\r\n', 'l: 0\r\n', 'Via: SIP/2.0/UDP [::1;branch=\r\n', '\r\n ', 'SIP/2.0', '\u00ff\u00fe', 'ü',
].map((s) => Buffer.from(s, 'latin1'));

function mutate(input: Buffer, rand: () => number): Buffer {
  const int = (n: number): number => Math.floor(rand() * n);
  let b = Buffer.from(input);
  const rounds = 1 + int(4);
  for (let r = 0; r < rounds; r++) {
    const at = int(b.length + 1);
    switch (int(8)) {
      case 0: // bit flip
        if (b.length > 0) b[Math.min(at, b.length - 1)]! ^= 1 << int(8);
        break;
      case 1: // truncation
        b = b.subarray(0, at);
        break;
      case 2: // insert an interesting fragment
        b = Buffer.concat([b.subarray(0, at), INTERESTING[int(INTERESTING.length)]!, b.subarray(at)]);
        break;
      case 3: { // insert random bytes
        const junk = Buffer.alloc(1 + int(16));
        for (let i = 0; i < junk.length; i++) junk[i] = int(256);
        b = Buffer.concat([b.subarray(0, at), junk, b.subarray(at)]);
        break;
      }
      case 4: { // duplicate a header line elsewhere
        const start = b.indexOf('\n', int(b.length)) + 1;
        const end = start > 0 ? b.indexOf('\n', start) : -1;
        if (end > start) {
          const to = b.indexOf('\n', int(b.length)) + 1;
          if (to > 0) b = Buffer.concat([b.subarray(0, to), b.subarray(start, end + 1), b.subarray(to)]);
        }
        break;
      }
      case 5: // delete a range
        b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + int(20)))]);
        break;
      case 6: // overwrite with random bytes
        for (let i = 0; i < 1 + int(8) && at + i < b.length; i++) b[at + i] = int(256);
        break;
      default: { // change the Content-Length value
        const idx = b.indexOf('Content-Length: ');
        if (idx >= 0) {
          const eol = b.indexOf('\r\n', idx);
          if (eol > idx) b = Buffer.concat([b.subarray(0, idx + 16), Buffer.from(String(int(5000))), b.subarray(eol)]);
        }
      }
    }
  }
  return b;
}

/** Touch every lazily parsed view: none of them may throw on what the parser accepted. */
function exercise(m: SipMessage): void {
  m.vias();
  m.topVia();
  m.from();
  m.to();
  m.cseq();
  m.routes();
  m.recordRoutes();
  m.paths();
  m.contacts();
  m.maxForwards();
  m.optionTags('supported');
  if (m.kind === 'request') m.requestUri();
}

/** The parts of a message a relay must preserve. */
function essence(m: SipMessage): unknown {
  return {
    start: m.kind === 'request' ? [m.method, m.uri] : [m.status, m.reason],
    headers: m.headers.fields.filter((f) => f.name !== 'content-length').map((f) => [f.name, f.value]),
    body: m.body.toString('latin1'),
  };
}

test(`${ITERATIONS} mutated messages: parse never throws, accepted ones round-trip through serialize`, { timeout: 300_000 }, () => {
  const rand = prng(SEED);
  let accepted = 0;
  let rejected = 0;
  for (let i = 0; i < ITERATIONS; i++) {
    const input = mutate(corpus[i % corpus.length]!, rand);
    const where = `seed ${SEED} iteration ${i} input ${JSON.stringify(input.toString('latin1'))}`;
    let r: ReturnType<typeof parseMessage>;
    try {
      r = parseMessage(input, { maxMessageBytes: 8192, maxHeaderCount: 64, maxHeaderLineBytes: 2048 });
      if (r.ok) exercise(r.value);
      else if (r.error.partial) exercise(r.error.partial);
    } catch (err) {
      assert.fail(`threw ${String(err)} at ${where}`);
    }
    assert.equal(typeof r.ok, 'boolean');
    if (!r.ok) {
      rejected++;
      assert.ok([400, 505, 513].includes(r.error.status), where);
      assert.ok(r.error.reason.length > 0 && !/[\r\n]/.test(r.error.reason), where);
      continue;
    }
    accepted++;
    const again = parseMessage(serialize(r.value));
    assert.ok(again.ok, `re-parse failed (${again.ok ? '' : again.error.code}) at ${where}`);
    assert.deepEqual(essence(again.value), essence(r.value), where);
  }
  // Both paths must have been exercised for the property to mean anything.
  assert.ok(accepted > ITERATIONS / 20, `accepted ${accepted}`);
  assert.ok(rejected > ITERATIONS / 20, `rejected ${rejected}`);
});

test('mutated byte streams through the framer never throw and every framed message is bounded', { timeout: 120_000 }, () => {
  const rand = prng(SEED + 1);
  for (let i = 0; i < 3000; i++) {
    const parts: Buffer[] = [];
    for (let k = 0; k < 3; k++) parts.push(rand() < 0.8 ? mutate(corpus[Math.floor(rand() * corpus.length)]!, rand) : Buffer.from('\r\n\r\n'));
    const stream = Buffer.concat(parts);
    const framer = new StreamFramer({ maxMessageBytes: 8192, maxHeaderBytes: 4096 });
    try {
      for (let p = 0; p < stream.length;) {
        const n = 1 + Math.floor(rand() * 600);
        for (const e of framer.push(stream.subarray(p, p + n))) {
          if (e.kind === 'message') {
            assert.ok(e.data.length <= 8192);
            parseMessage(e.data);
          }
        }
        p += n;
      }
    } catch (err) {
      if (err instanceof assert.AssertionError) throw err;
      assert.fail(`threw ${String(err)} at seed ${SEED + 1} iteration ${i}`);
    }
    assert.ok(framer.buffered <= 8192 + 600);
  }
});

test('pathological inputs near the size limit are rejected or parsed without blowing up', { timeout: 20_000 }, () => {
  const start = 'INVITE sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\nCall-ID: p\r\n';
  const cases: [string, string][] = [
    ['colon-less LF lines', start + 'x\n'.repeat(30_000) + '\n'],
    ['colon-less CRLF lines', start + 'x\r\n'.repeat(20_000) + '\r\n'],
    ['one huge folded header', start + 'Subject: a\r\n' + ' b\r\n'.repeat(15_000) + '\r\n'],
    ['many commas in one Contact', start + 'Contact: ' + '<sip:a@h>,'.repeat(6_000) + '<sip:a@h>\r\n\r\n'],
    ['many parameters', start + 'To: <sip:a@h>' + ';p=1'.repeat(2_000) + '\r\nVia: SIP/2.0/UDP h' + ';x'.repeat(3_000) + '\r\n\r\n'],
    ['unterminated quotes', start + 'From: "' + 'a\\"'.repeat(2_500) + '\r\n\r\n'],
    ['no line ends at all', 'INVITE sip:b@h SIP/2.0 ' + 'x'.repeat(60_000)],
  ];
  for (const [label, text] of cases) {
    const data = Buffer.from(text);
    const r = parseMessage(data, { maxHeaderLineBytes: 65535 });
    const m = r.ok ? r.value : r.error.partial;
    if (m !== undefined) exercise(m);
    assert.equal(typeof r.ok, 'boolean', label);
    const framer = new StreamFramer({ maxHeaderBytes: 65535 });
    for (const e of framer.push(data)) assert.notEqual(e.kind, 'ping', label);
  }
});
