/**
 * SharedCallLimits between "nodes" that share one MemoryStore (the same
 * messages as over the supervisor's store or Redis): calls count wherever
 * they were admitted, a node that starts late learns the calls already up,
 * a node that goes silent stops counting, and an end seen on another node
 * frees the slot where it is held.
 */
import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { silentLogger } from '../../../src/log/logger.js';
import { CallLimits } from '../../../src/security/call-limits.js';
import { SharedCallLimits } from '../../../src/security/shared-call-limits.js';
import { parseMessage } from '../../../src/sip/parser.js';
import type { SipRequest } from '../../../src/sip/message.js';
import { MemoryStore } from '../../../src/state/memory-store.js';
import { eventually } from '../state/store-conformance.js';

function invite(callId: string, from = 'alice'): SipRequest {
  const text = `INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK${callId}\r\nFrom: <sip:${from}@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\nCall-ID: ${callId}\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n`;
  const parsed = parseMessage(Buffer.from(text));
  assert.ok(parsed.ok && parsed.value.kind === 'request');
  return parsed.value;
}

interface Node { limits: CallLimits; shared: SharedCallLimits; clock: { now: number } }

async function node(t: TestContext, store: MemoryStore, max = 1, heartbeatMs = 60_000): Promise<Node> {
  const clock = { now: 0 };
  const limits = new CallLimits({ maxPerUser: max });
  const shared = new SharedCallLimits({ store, prefix: 'sbc:', limits, logger: silentLogger(), heartbeatMs, silenceMs: 15_000, now: () => clock.now });
  await shared.start();
  t.after(() => shared.close());
  return { limits, shared, clock };
}

const TOO_MANY = { status: 403, phrase: 'Too Many Calls' };

describe('SharedCallLimits', () => {
  test('a call admitted on one node counts on the other; its end, on either node, frees the user everywhere', async (t) => {
    const store = new MemoryStore();
    t.after(() => store.close());
    const a = await node(t, store);
    const b = await node(t, store);
    assert.equal(a.limits.admit(invite('c1')), undefined);
    await eventually(() => b.shared.remoteCalls === 1, 'b heard of c1');
    assert.deepEqual(b.limits.admit(invite('c2')), TOO_MANY);
    assert.equal(b.limits.admit(invite('c3', 'carol')), undefined, 'another user is not affected');
    // The BYE of c1 went through b (it was steered nowhere): a's slot is freed all the same.
    b.limits.ended('c1');
    await eventually(() => a.limits.count('alice@example.com') === 0 && b.shared.remoteCalls === 0, 'a freed c1, and b forgot it');
    assert.equal(b.limits.admit(invite('c4')), undefined);
    await eventually(() => a.shared.remoteCalls === 2, 'a heard of c3 and c4');
    assert.deepEqual(a.limits.admit(invite('c5')), TOO_MANY);
  });

  test('a node that starts late learns the calls already up', async (t) => {
    const store = new MemoryStore();
    t.after(() => store.close());
    const a = await node(t, store);
    assert.equal(a.limits.admit(invite('c1')), undefined);
    const late = await node(t, store);
    await eventually(() => late.shared.remoteCalls === 1, 'the late node got a\'s slots in answer to its hello');
    assert.deepEqual(late.limits.admit(invite('c2')), TOO_MANY);
  });

  test('the calls of a node gone silent (no heartbeat) stop counting', async (t) => {
    const store = new MemoryStore();
    t.after(() => store.close());
    const a = await node(t, store, 1, 20);
    const b = await node(t, store, 1, 20);
    assert.equal(a.limits.admit(invite('c1')), undefined);
    await eventually(() => b.shared.remoteCalls === 1, 'b heard of c1');
    await a.shared.close();
    // b's clock moves past the silence while a says nothing more.
    b.clock.now += 16_000;
    await eventually(() => b.shared.remoteCalls === 0, 'b dropped the silent node\'s calls');
    assert.equal(b.limits.admit(invite('c2')), undefined);
  });
});
