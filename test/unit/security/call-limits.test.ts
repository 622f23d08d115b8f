import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseMessage } from '../../../src/sip/parser.js';
import type { SipRequest } from '../../../src/sip/message.js';
import { CallLimits } from '../../../src/security/call-limits.js';

function invite(callId: string, from = 'alice'): SipRequest {
  const text = `INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK${callId}\r\nFrom: <sip:${from}@Example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\nCall-ID: ${callId}\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n`;
  const parsed = parseMessage(Buffer.from(text));
  assert.ok(parsed.ok && parsed.value.kind === 'request');
  return parsed.value;
}

describe('CallLimits', () => {
  test('a user at the limit is refused until one of its calls ends; other users are not affected', () => {
    const limits = new CallLimits({ maxPerUser: 2 });
    assert.equal(limits.admit(invite('a')), undefined);
    assert.equal(limits.admit(invite('b')), undefined);
    assert.deepEqual(limits.admit(invite('c')), { status: 403, phrase: 'Too Many Calls' });
    assert.equal(limits.admit(invite('d', 'carol')), undefined, 'another user');
    limits.ended('a');
    assert.equal(limits.admit(invite('c')), undefined);
    assert.equal(limits.count('alice@example.com'), 2, 'user keys ignore case');
  });

  test('the same Call-ID twice holds one slot; unknown Call-IDs ending change nothing', () => {
    const limits = new CallLimits({ maxPerUser: 1 });
    assert.equal(limits.admit(invite('a')), undefined);
    assert.equal(limits.admit(invite('a')), undefined);
    assert.equal(limits.count('alice@example.com'), 1);
    limits.ended('zzz');
    limits.ended('a');
    limits.ended('a');
    assert.equal(limits.count('alice@example.com'), 0);
  });

  test('a slot whose end was never seen is freed after maxCallSeconds', () => {
    let now = 0;
    const limits = new CallLimits({ maxPerUser: 1, maxCallSeconds: 10, now: () => now });
    assert.equal(limits.admit(invite('a')), undefined);
    now = 9_000;
    assert.notEqual(limits.admit(invite('b')), undefined);
    now = 10_001;
    assert.equal(limits.admit(invite('b')), undefined);
  });

  test('the table is bounded: beyond maxTracked the oldest slots are freed', () => {
    const limits = new CallLimits({ maxPerUser: 1, maxTracked: 3 });
    for (const u of ['u1', 'u2', 'u3', 'u4']) assert.equal(limits.admit(invite(`c-${u}`, u)), undefined);
    assert.equal(limits.count('u1@example.com'), 0, 'the oldest was freed');
    assert.equal(limits.count('u4@example.com'), 1);
  });

  test('a limit set later (reload) applies to new calls; 0 tracks nothing', () => {
    const limits = new CallLimits({ maxPerUser: 0 });
    assert.equal(limits.admit(invite('a')), undefined);
    assert.equal(limits.count('alice@example.com'), 0, 'unlimited: nothing tracked');
    limits.setMaxPerUser(1);
    assert.equal(limits.admit(invite('b')), undefined);
    assert.notEqual(limits.admit(invite('c')), undefined);
  });
});
