import { test } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../../../src/log/logger.js';
import { TransactionLayer } from '../../../src/transaction/index.js';
import { request, responseTo } from './helpers/messages.js';
import { RecordingFlow } from './helpers/recording-flow.js';
import { RecordingUser } from './helpers/recording-user.js';

const activeTimeouts = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

test('server matching: branch + sent-by + method; ACK joins its INVITE, CANCEL is its own transaction', () => {
  const layer = new TransactionLayer({ logger: silentLogger() });
  const flow = new RecordingFlow('udp');
  try {
    const invite = request({ method: 'INVITE', branch: 'z9hG4bK-m1' });
    layer.createServerTransaction(invite, flow);
    // Same branch from another sent-by is another transaction.
    assert.deepEqual(layer.receiveRequest(request({ method: 'INVITE', branch: 'z9hG4bK-m1', sentBy: '192.0.2.99:5060' }), flow), { kind: 'new' });
    const cancel = request({ method: 'CANCEL', branch: 'z9hG4bK-m1', cseqMethod: 'CANCEL' });
    assert.deepEqual(layer.receiveRequest(cancel, flow), { kind: 'new' }, 'CANCEL is not a retransmission of the INVITE');
    assert.equal(layer.findInviteServerTransaction(cancel)?.request, invite);
    assert.equal(layer.findInviteServerTransaction(request({ method: 'CANCEL', branch: 'z9hG4bK-other', cseqMethod: 'CANCEL' })), undefined);
    const cancelTx = layer.createServerTransaction(cancel, flow);
    assert.equal(cancelTx.type, 'nist');
    assert.deepEqual(layer.counts(), { ict: 0, nict: 0, ist: 1, nist: 1 });
    assert.equal(layer.size, 2);
    assert.deepEqual(layer.receiveRequest(request({ method: 'ACK', branch: 'z9hG4bK-nope', cseqMethod: 'ACK' }), flow), { kind: 'ack-unmatched' });
  } finally {
    layer.close();
  }
});

test('RFC 2543 fallback: a branch without the magic cookie still matches retransmissions and the ACK', () => {
  const layer = new TransactionLayer({ logger: silentLogger() });
  const flow = new RecordingFlow('tcp');
  try {
    const invite = request({ method: 'INVITE', branch: 'old-style-1' });
    const tx = layer.createServerTransaction(invite, flow);
    assert.deepEqual(layer.receiveRequest(request({ method: 'INVITE', branch: 'old-style-1' }), flow), { kind: 'absorbed' });
    assert.deepEqual(layer.receiveRequest(request({ method: 'INVITE', branch: 'old-style-1', callId: 'another-call' }), flow), { kind: 'new' });
    tx.respond(responseTo(invite, 486, 'Busy Here', 'to-1'));
    assert.deepEqual(layer.receiveRequest(request({ method: 'ACK', branch: 'old-style-1', cseqMethod: 'ACK', toTag: 'to-1' }), flow), { kind: 'absorbed' });
    assert.equal(tx.state, 'terminated', 'Timer I is 0 on TCP');
  } finally {
    layer.close();
  }
});

test('client matching: branch + CSeq method; unknown responses are left to the core', () => {
  const layer = new TransactionLayer({ logger: silentLogger() });
  const flow = new RecordingFlow('tcp');
  const user = new RecordingUser();
  try {
    const invite = request({ method: 'INVITE', branch: 'z9hG4bK-c1' });
    layer.createClientTransaction(invite, flow, user);
    const cancel = request({ method: 'CANCEL', branch: 'z9hG4bK-c1', cseqMethod: 'CANCEL' });
    assert.equal(layer.receiveResponse(responseTo(cancel, 200, 'OK', 't'), flow), false, 'no CANCEL transaction exists');
    assert.equal(layer.receiveResponse(responseTo(request({ method: 'INVITE', branch: 'z9hG4bK-c2' }), 180, 'Ringing', 't'), flow), false);
    assert.equal(layer.receiveResponse(responseTo(invite, 180, 'Ringing', 't'), flow), true);
    assert.deepEqual(user.events, ['response 180']);
  } finally {
    layer.close();
  }
});

test('maxTransactions: beyond the bound new requests are overloaded; room frees up when one ends', () => {
  const layer = new TransactionLayer({ maxTransactions: 2, logger: silentLogger() });
  const flow = new RecordingFlow('tcp');
  try {
    const a = request({ method: 'OPTIONS', branch: 'z9hG4bK-a' });
    layer.createServerTransaction(a, flow);
    const b = layer.createServerTransaction(request({ method: 'OPTIONS', branch: 'z9hG4bK-b' }), flow);
    assert.deepEqual(layer.receiveRequest(request({ method: 'OPTIONS', branch: 'z9hG4bK-c' }), flow), { kind: 'overloaded' });
    // Retransmissions of existing transactions are still absorbed.
    assert.deepEqual(layer.receiveRequest(request({ method: 'OPTIONS', branch: 'z9hG4bK-a' }), flow), { kind: 'absorbed' });
    b.respond(responseTo(b.request, 200, 'OK', 'x'));
    assert.deepEqual(layer.receiveRequest(request({ method: 'OPTIONS', branch: 'z9hG4bK-c' }), flow), { kind: 'new' });
  } finally {
    layer.close();
  }
});

test('close() terminates every transaction and leaves no timers behind', () => {
  const before = activeTimeouts();
  const layer = new TransactionLayer({ logger: silentLogger(), timers: { timerCMs: 600_000 } });
  const flow = new RecordingFlow('udp');
  const user = new RecordingUser();
  const invite = request({ method: 'INVITE', branch: 'z9hG4bK-s1' });
  const ist = layer.createServerTransaction(invite, flow);
  ist.respond(responseTo(invite, 486, 'Busy Here', 'x'));
  layer.createServerTransaction(request({ method: 'OPTIONS', branch: 'z9hG4bK-s2' }), flow).respond(responseTo(invite, 200, 'OK', 'x'));
  const ict = layer.createClientTransaction(request({ method: 'INVITE', branch: 'z9hG4bK-c1' }), flow, user, { timerC: true });
  layer.createClientTransaction(request({ method: 'OPTIONS', branch: 'z9hG4bK-c2' }), flow, user);
  assert.equal(layer.size, 4);
  assert.ok(activeTimeouts() > before, 'the transactions did start timers');
  layer.close();
  layer.close();
  assert.equal(layer.size, 0);
  assert.deepEqual(layer.counts(), { ict: 0, nict: 0, ist: 0, nist: 0 });
  assert.equal(ist.state, 'terminated');
  assert.equal(ict.state, 'terminated');
  assert.equal(activeTimeouts(), before);
  assert.deepEqual(layer.receiveRequest(request({ method: 'OPTIONS', branch: 'z9hG4bK-late' }), flow), { kind: 'overloaded' }, 'a closed layer takes nothing new');
});

test('pendingInvites counts INVITE transactions until their final response, as their states change', () => {
  const layer = new TransactionLayer({ logger: silentLogger() });
  const flow = new RecordingFlow('udp');
  const user = new RecordingUser();
  try {
    const invite = request({ method: 'INVITE', branch: 'z9hG4bK-p1' });
    const ist = layer.createServerTransaction(invite, flow);
    layer.createServerTransaction(request({ method: 'OPTIONS', branch: 'z9hG4bK-p2' }), flow);
    assert.equal(layer.pendingInvites(), 1, 'an IST in Proceeding; a NIST is no INVITE');
    const out = request({ method: 'INVITE', branch: 'z9hG4bK-p3' });
    layer.createClientTransaction(out, flow, user);
    assert.equal(layer.pendingInvites(), 2, 'an ICT in Calling');
    assert.equal(layer.receiveResponse(responseTo(out, 180, 'Ringing', 't'), flow), true);
    ist.respond(responseTo(invite, 180, 'Ringing', 'u'));
    assert.equal(layer.pendingInvites(), 2, 'provisionals keep both waiting');
    assert.equal(layer.receiveResponse(responseTo(out, 200, 'OK', 't'), flow), true);
    assert.equal(layer.pendingInvites(), 1, 'the ICT got its final');
    ist.respond(responseTo(invite, 486, 'Busy Here', 'u'));
    assert.equal(layer.pendingInvites(), 0, 'the IST sent its final (Completed)');
    const again = layer.createServerTransaction(request({ method: 'INVITE', branch: 'z9hG4bK-p4' }), flow);
    assert.equal(layer.pendingInvites(), 1);
    again.close();
    assert.equal(layer.pendingInvites(), 0, 'a closed transaction waits for nothing');
    layer.createServerTransaction(request({ method: 'INVITE', branch: 'z9hG4bK-p5' }), flow);
  } finally {
    layer.close();
  }
  assert.equal(layer.pendingInvites(), 0, 'close() ends them all');
});
