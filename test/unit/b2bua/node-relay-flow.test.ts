import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NodeRelayFlow } from '../../../src/b2bua/node-relay-flow.js';
import { parseMessage } from '../../../src/sip/parser.js';
import { FakeFlow } from '../transport/fake-flow.js';

describe('NodeRelayFlow', () => {
  it('puts the Route naming the client\'s new flow on top of every request it sends, and leaves the shared flow open', () => {
    const inner = new FakeFlow('udp-0-10.0.0.3-5060', 'udp', { address: '10.0.0.3', port: 5060 });
    const flow = new NodeRelayFlow(inner, '<sip:TOKEN@10.0.0.3:5060;transport=udp;lr>');
    const bye = 'BYE sip:u@h.invalid;transport=ws SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKx\r\nRoute: <sip:later@10.0.0.9;lr>\r\nCall-ID: c\r\nCSeq: 2 BYE\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@y>;tag=2\r\nContent-Length: 0\r\n\r\n';
    assert.equal(flow.send(Buffer.from(bye)), true);
    const sent = parseMessage(inner.sent[0]!);
    assert.ok(sent.ok && sent.value.kind === 'request');
    assert.deepEqual(sent.value.headers.values('route'), ['<sip:TOKEN@10.0.0.3:5060;transport=udp;lr>', '<sip:later@10.0.0.9;lr>']);
    assert.equal(flow.id, inner.id);
    assert.equal(flow.reliable, false);
    flow.close();
    assert.equal(inner.closed, false);
  });
});
