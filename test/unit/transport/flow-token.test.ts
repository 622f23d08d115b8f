import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FlowTokens, udpFlowId } from '../../../src/transport/flow-token.js';
import { FakeFlow } from './fake-flow.js';

const SECRET = 'unit-test-secret-unit-test-secret';

describe('FlowTokens', () => {
  const tokens = new FlowTokens(SECRET);

  it('round-trips a connection flow id', () => {
    const flow = new FakeFlow('ws-abcd1234-1z', 'ws', { address: '192.0.2.7', port: 51234 });
    const token = tokens.issue(flow);
    assert.match(token, /^[A-Za-z0-9_-]+$/, 'usable as a SIP URI user part');
    assert.deepEqual(tokens.verify(token), { ok: true, value: { flowId: 'ws-abcd1234-1z' } });
  });

  it('round-trips a UDP flow as listener index and remote address/port', () => {
    for (const address of ['198.51.100.9', '2001:db8::1', '::ffff:10.0.0.1']) {
      const flow = new FakeFlow(udpFlowId(3, address, 5062), 'udp', { address, port: 5062 }, 3);
      const verified = tokens.verify(tokens.issue(flow));
      assert.deepEqual(verified, { ok: true, value: { flowId: flow.id, udp: { listenerIndex: 3, address, port: 5062 } } });
    }
  });

  it('carries at least 80 bits of MAC', () => {
    const flow = new FakeFlow('t', 'tcp', { address: '192.0.2.1', port: 1 });
    const bytes = Buffer.from(tokens.issue(flow), 'base64url');
    // payload = kind byte + 't'; the rest is MAC.
    assert.ok((bytes.length - 2) * 8 >= 80);
  });

  it('calls any flipped bit tampered', () => {
    const flow = new FakeFlow('tcp-00000000-7', 'tcp', { address: '192.0.2.1', port: 5060 });
    const raw = Buffer.from(tokens.issue(flow), 'base64url');
    for (let bit = 0; bit < raw.length * 8; bit++) {
      const copy = Buffer.from(raw);
      copy[bit >> 3]! ^= 1 << (bit & 7);
      assert.deepEqual(tokens.verify(copy.toString('base64url')), { ok: false, error: 'tampered' }, `bit ${bit}`);
    }
  });

  it('rejects a token signed with another secret', () => {
    const flow = new FakeFlow('tcp-1', 'tcp', { address: '192.0.2.1', port: 5060 });
    const foreign = new FlowTokens('another-secret-another-secret!!').issue(flow);
    assert.deepEqual(tokens.verify(foreign), { ok: false, error: 'tampered' });
  });

  it('calls garbage malformed', () => {
    for (const bad of ['', 'abc', 'not a token!', 'x'.repeat(1000), 'AAAA']) {
      assert.deepEqual(tokens.verify(bad), { ok: false, error: 'malformed' }, JSON.stringify(bad));
    }
  });

  it('refuses a short secret', () => {
    assert.throws(() => new FlowTokens('short'), /at least 16 bytes/);
  });
});
