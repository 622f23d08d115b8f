/**
 * The recorder's edge cases with a fake clock: calls whose end never comes
 * are written as max-duration after maxCallSeconds; a full map records no
 * new calls (counted); the first end wins; re-INVITEs and other in-dialog
 * requests create nothing; a spiral's second INVITE is the same call.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CallRecorder, type CallRecord } from '../../../src/records/index.js';
import { silentLogger } from '../../../src/log/logger.js';
import { parseMessage } from '../../../src/sip/parser.js';
import type { SipRequest, SipResponse } from '../../../src/sip/message.js';
import type { Flow } from '../../../src/transport/flow.js';

function message(start: string, headers: string[]): SipRequest & SipResponse {
  const r = parseMessage(Buffer.from([start, 'Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKx', ...headers, 'Content-Length: 0', '', ''].join('\r\n')));
  if (!r.ok) throw new Error(r.error.reason);
  return r.value as SipRequest & SipResponse;
}

const invite = (callId: string, toTag?: string): SipRequest =>
  message('INVITE sip:bob@example.com SIP/2.0', ['From: <sip:alice@example.com>;tag=a1', `To: <sip:bob@example.com>${toTag === undefined ? '' : `;tag=${toTag}`}`, `Call-ID: ${callId}`, 'CSeq: 1 INVITE']);
const bye = (callId: string, fromTag: string): SipRequest =>
  message('BYE sip:bob@example.com SIP/2.0', [`From: <sip:x@example.com>;tag=${fromTag}`, 'To: <sip:y@example.com>;tag=zz', `Call-ID: ${callId}`, 'CSeq: 2 BYE']);
const ok = (callId: string): SipResponse => message('SIP/2.0 200 OK', ['From: <sip:alice@example.com>;tag=a1', 'To: <sip:bob@example.com>;tag=b1', `Call-ID: ${callId}`, 'CSeq: 1 INVITE']);

const flow = { id: 'f1', transport: 'udp', remote: { address: '192.0.2.7', port: 5062, family: 'IPv4' } } as unknown as Flow;

function recorder(options: { maxCalls?: number; now: () => number }): { rec: CallRecorder; out: CallRecord[]; dropped: string[] } {
  const out: CallRecord[] = [];
  const dropped: string[] = [];
  const rec = new CallRecorder({ maxCallSeconds: 60, media: () => 'passthrough', write: (r) => out.push(r), dropped: (reason) => dropped.push(reason), logger: silentLogger(), ...options });
  return { rec, out, dropped };
}

describe('CallRecorder', () => {
  test('a call whose BYE never comes is written as max-duration after maxCallSeconds, not before', () => {
    let now = 1_000_000;
    const { rec, out } = recorder({ now: () => now });
    rec.observe(invite('c1'), flow, false, false, undefined)!.final(ok('c1'), flow);
    now += 59_000;
    rec.expire();
    assert.equal(out.length, 0);
    now += 2000;
    rec.expire();
    assert.equal(out.length, 1);
    assert.equal(out[0]!.reason, 'max-duration');
    assert.equal(out[0]!.endedBy, 'sbc');
    assert.equal(out[0]!.duration, 61);
    assert.equal(rec.size, 0);
  });

  test('a full map records no new call and counts it; the calls it holds are still written', () => {
    const now = 5_000_000;
    const { rec, out, dropped } = recorder({ maxCalls: 2, now: () => now });
    assert.ok(rec.observe(invite('a'), flow, false, false, undefined));
    assert.ok(rec.observe(invite('b'), flow, false, false, undefined));
    assert.equal(rec.observe(invite('c'), flow, false, false, undefined), undefined);
    assert.deepEqual(dropped, ['tracking-full']);
    rec.observe(bye('a', 'a1'), flow, false, false, undefined);
    assert.equal(out.length, 1);
    assert.equal(out[0]!.reason, 'bye-caller');
  });

  test('the first end wins: a BYE after client-gone writes nothing more', () => {
    const { rec, out } = recorder({ now: () => 1 });
    rec.observe(invite('c2'), flow, true, false, undefined)!.final(ok('c2'), flow);
    rec.end('c2', { by: 'sbc', reason: 'client-gone' });
    rec.observe(bye('c2', 'b1'), flow, false, false, undefined);
    rec.end('c2', { by: 'sbc', reason: 'drain' });
    assert.equal(out.length, 1);
    assert.equal(out[0]!.reason, 'client-gone');
    assert.equal(out[0]!.direction, 'inbound');
  });

  test('BYE from the callee (From tag not the INVITE’s) is bye-callee', () => {
    const { rec, out } = recorder({ now: () => 1 });
    rec.observe(invite('c3'), flow, false, true, undefined)!.final(ok('c3'), flow);
    rec.observe(bye('c3', 'b1'), flow, false, false, undefined);
    assert.equal(out[0]!.reason, 'bye-callee');
    assert.equal(out[0]!.direction, 'local');
  });

  test('re-INVITEs and a spiral’s second INVITE create no record of their own', () => {
    const { rec, out } = recorder({ now: () => 1 });
    assert.ok(rec.observe(invite('c4'), flow, false, false, undefined));
    assert.equal(rec.observe(invite('c4', 'b1'), flow, false, false, undefined), undefined, 're-INVITE');
    assert.equal(rec.observe(invite('c4'), flow, true, false, undefined), undefined, 'the same call coming back from inside');
    assert.equal(rec.size, 1);
    assert.equal(out.length, 0);
  });

  test('stop writes every call still up as drain, and nothing is recorded after', async () => {
    const { rec, out } = recorder({ now: () => 1 });
    rec.observe(invite('c5'), flow, false, false, undefined)!.final(ok('c5'), flow);
    const pending = rec.observe(invite('c6'), flow, false, false, undefined)!;
    await rec.stop();
    assert.deepEqual(out.map((r) => [r.callId, r.reason, r.status]), [['c5', 'drain', 200], ['c6', 'drain', null]]);
    pending.final(ok('c6'), flow);
    assert.equal(rec.observe(invite('c7'), flow, false, false, undefined), undefined);
    assert.equal(out.length, 2);
  });
});

describe('CallRecorder with user agents of ours (B2BUA, services)', () => {
  test('an end signalled for a B2BUA call names the reason; the record is written when the B2BUA lets go, with its answer time', () => {
    let now = 1000;
    const { rec, out } = recorder({ now: () => now });
    const handle = rec.begin({ mode: 'b2bua', callId: 'a-leg', otherCallId: 'b-leg', invite: invite('a-leg'), source: flow, inside: false, direction: 'outbound' })!;
    now = 2000;
    rec.end('a-leg', { by: 'sbc', reason: 'client-gone' });
    assert.equal(out.length, 0, 'not yet: the B2BUA still hangs the call up');
    now = 3000;
    rec.answered(handle, 1500);
    rec.finish(handle, 200, { by: 'sbc', reason: 'failed' });
    assert.equal(out.length, 1);
    assert.equal(out[0]!.reason, 'client-gone');
    assert.equal(out[0]!.duration, 1.5);
    assert.equal(out[0]!.insideCallId, 'b-leg');
    assert.equal(out[0]!.outsideCallId, 'a-leg');
  });
});
