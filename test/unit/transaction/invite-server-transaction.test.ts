import { test } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../../../src/log/logger.js';
import { TransactionLayer } from '../../../src/transaction/index.js';
import type { InviteServerTransaction } from '../../../src/transaction/index.js';
import { TRYING_DELAY_MS } from '../../../src/transaction/invite-server-transaction.js';
import { request, responseTo } from './helpers/messages.js';
import { RecordingFlow } from './helpers/recording-flow.js';
import { udpPair } from './helpers/socket-flows.js';
import { waitUntil } from './helpers/wait.js';

const timers = { t1Ms: 20, t2Ms: 80, t4Ms: 40 };

function setup(transport: 'udp' | 'tcp' = 'udp') {
  const layer = new TransactionLayer({ timers, logger: silentLogger() });
  const flow = new RecordingFlow(transport);
  const invite = request({ method: 'INVITE' });
  assert.deepEqual(layer.receiveRequest(invite, flow), { kind: 'new' });
  const tx = layer.createServerTransaction(invite, flow) as InviteServerTransaction;
  return { layer, flow, invite, tx };
}

test('IST sends 100 Trying when the TU has not answered within 200 ms, over a real UDP socket, with the request Vias and no To tag', async () => {
  const pair = await udpPair();
  const layer = new TransactionLayer({ timers, logger: silentLogger() });
  try {
    const invite = request({ method: 'INVITE' });
    layer.createServerTransaction(invite, pair.flow);
    await new Promise((r) => setTimeout(r, TRYING_DELAY_MS / 2));
    assert.equal(pair.received.length, 0, 'no 100 before the TU had its 200 ms (RFC 3261 §17.2.1)');
    await waitUntil('100 Trying', () => pair.received.length === 1);
    const text = pair.received[0]!;
    assert.match(text, /^SIP\/2\.0 100 Trying\r\n/);
    assert.match(text, /Via: SIP\/2\.0\/UDP 192\.0\.2\.10:5060;branch=z9hG4bK-test-1\r\nVia: SIP\/2\.0\/UDP 198\.51\.100\.1/);
    assert.match(text, /\r\nTo: Bob <sip:bob@example\.com>\r\n/);
    assert.match(text, /\r\nCSeq: 1 INVITE\r\n/);
  } finally {
    layer.close();
    await pair.close();
  }
});

test('IST: a provisional from the TU within 200 ms stands for the 100 Trying', async () => {
  const { layer, flow, invite, tx } = setup();
  try {
    assert.equal(tx.respond(responseTo(invite, 180, 'Ringing', 'to-1')), true);
    await new Promise((r) => setTimeout(r, TRYING_DELAY_MS + 100));
    assert.deepEqual(flow.firstWords(), ['180'], 'no 100 after the TU\'s own provisional');
  } finally {
    layer.close();
  }
});

test('IST: an INVITE retransmission is absorbed and answered with the 100 at once, then with the last provisional', () => {
  const { layer, flow, invite, tx } = setup();
  try {
    assert.deepEqual(flow.firstWords(), [], 'the 100 waits for the TU');
    assert.deepEqual(layer.receiveRequest(request({ method: 'INVITE' }), flow), { kind: 'absorbed' });
    assert.deepEqual(flow.firstWords(), ['100'], 'a retransmission does not wait');
    assert.deepEqual(layer.receiveRequest(request({ method: 'INVITE' }), flow), { kind: 'absorbed' });
    assert.deepEqual(flow.firstWords(), ['100', '100']);
    assert.equal(tx.respond(responseTo(invite, 180, 'Ringing', 'to-1')), true);
    assert.deepEqual(layer.receiveRequest(request({ method: 'INVITE' }), flow), { kind: 'absorbed' });
    assert.deepEqual(flow.firstWords(), ['100', '100', '180', '180']);
    assert.equal(tx.state, 'proceeding');
  } finally {
    layer.close();
  }
});

test('IST non-2xx over UDP: Timer G retransmits, the ACK is absorbed, then nothing more is sent', async () => {
  const { layer, flow, invite, tx } = setup();
  try {
    tx.respond(responseTo(invite, 486, 'Busy Here', 'to-1'));
    assert.equal(tx.state, 'completed');
    await waitUntil('two Timer G retransmissions', () => flow.firstWords().filter((w) => w === '486').length >= 3);
    // A retransmitted INVITE gets the final again.
    const before = flow.sent.length;
    assert.deepEqual(layer.receiveRequest(request({ method: 'INVITE' }), flow), { kind: 'absorbed' });
    assert.equal(flow.firstWords()[before], '486');
    const ack = request({ method: 'ACK', cseqMethod: 'ACK', toTag: 'to-1' });
    assert.deepEqual(layer.receiveRequest(ack, flow), { kind: 'absorbed' });
    assert.equal(tx.state, 'confirmed');
    const sentAtAck = flow.sent.length;
    assert.deepEqual(layer.receiveRequest(ack, flow), { kind: 'absorbed' }, 'ACK retransmission absorbed in Confirmed');
    await waitUntil('Timer I', () => tx.state === 'terminated');
    assert.equal(flow.sent.length, sentAtAck, 'no retransmission after the ACK');
    assert.equal(layer.size, 0);
  } finally {
    layer.close();
  }
});

test('IST non-2xx over TCP: no Timer G, and Timer H reports a timeout when no ACK comes', async () => {
  const { layer, flow, invite, tx } = setup('tcp');
  const events: string[] = [];
  tx.setUser({ onTimeout: () => events.push('timeout'), onTerminated: () => events.push('terminated') });
  try {
    tx.respond(responseTo(invite, 503, 'Service Unavailable', 'to-1'));
    await waitUntil('Timer H', () => tx.state === 'terminated');
    assert.deepEqual(events, ['timeout', 'terminated']);
    assert.deepEqual(flow.firstWords(), ['503'], 'the final was sent once (no retransmission on TCP), and before the 100 was due');
  } finally {
    layer.close();
  }
});

test('IST Timer H over UDP after Timer G retransmissions', async () => {
  const { layer, flow, invite, tx } = setup();
  let timeouts = 0;
  tx.setUser({ onTimeout: () => timeouts++ });
  try {
    tx.respond(responseTo(invite, 404, 'Not Found', 'to-1'));
    await waitUntil('Timer H', () => tx.state === 'terminated');
    assert.equal(timeouts, 1);
    assert.ok(flow.firstWords().filter((w) => w === '404').length >= 3);
  } finally {
    layer.close();
  }
});

test('IST 2xx: Accepted, the ACK passes as ack-2xx, forwarded 2xx retransmissions are sent, Timer L ends it', async () => {
  const { layer, flow, invite, tx } = setup();
  try {
    assert.equal(tx.respond(responseTo(invite, 200, 'OK', 'to-1')), true);
    assert.equal(tx.state, 'accepted');
    assert.equal(tx.respond(responseTo(invite, 200, 'OK', 'to-1')), true);
    assert.deepEqual(flow.firstWords(), ['200', '200']);
    // INVITE retransmissions are absorbed without a resend in Accepted.
    assert.deepEqual(layer.receiveRequest(request({ method: 'INVITE' }), flow), { kind: 'absorbed' });
    assert.equal(flow.sent.length, 2);
    const ack = request({ method: 'ACK', cseqMethod: 'ACK', toTag: 'to-1' });
    assert.deepEqual(layer.receiveRequest(ack, flow), { kind: 'ack-2xx' });
    assert.deepEqual(layer.receiveRequest(ack, flow), { kind: 'ack-2xx' }, 'never absorbed');
    assert.equal(tx.respond(responseTo(invite, 486, 'Busy Here', 'to-1')), false, 'no non-2xx after a 2xx');
    await waitUntil('Timer L', () => tx.state === 'terminated');
    const otherAck = request({ method: 'ACK', cseqMethod: 'ACK', toTag: 'to-1', branch: 'z9hG4bK-ack-own' });
    assert.deepEqual(layer.receiveRequest(otherAck, flow), { kind: 'ack-unmatched' });
  } finally {
    layer.close();
  }
});

test('IST: a closed flow is a transport error reported to the user', () => {
  const layer = new TransactionLayer({ timers, logger: silentLogger() });
  const flow = new RecordingFlow('udp');
  const invite = request({ method: 'INVITE' });
  try {
    const tx = layer.createServerTransaction(invite, flow);
    const events: string[] = [];
    tx.setUser({ onTransportError: () => events.push('transport-error') });
    flow.close();
    assert.equal(tx.respond(responseTo(invite, 180, 'Ringing', 'to-1')), false);
    assert.deepEqual(events, ['transport-error']);
    assert.equal(tx.state, 'terminated');
    assert.equal(layer.size, 0);
  } finally {
    layer.close();
  }
});

test('IST: a user callback that throws does not break the transaction', async () => {
  const { layer, invite, tx } = setup();
  try {
    tx.setUser({ onTimeout: () => { throw new Error('boom'); } });
    tx.respond(responseTo(invite, 480, 'Temporarily Unavailable', 'to-1'));
    await waitUntil('Timer H', () => tx.state === 'terminated');
    assert.equal(layer.size, 0);
  } finally {
    layer.close();
  }
});
