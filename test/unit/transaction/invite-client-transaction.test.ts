import { test } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../../../src/log/logger.js';
import { parseMessage } from '../../../src/sip/parser.js';
import { TransactionLayer, type InviteClientTransaction } from '../../../src/transaction/index.js';
import { request, responseTo } from './helpers/messages.js';
import { RecordingFlow } from './helpers/recording-flow.js';
import { RecordingUser } from './helpers/recording-user.js';
import { tcpPair, udpPair, type SocketPair } from './helpers/socket-flows.js';
import { sleep, waitUntil } from './helpers/wait.js';

const timers = { t1Ms: 20, t2Ms: 80, t4Ms: 40 };

function ours(extra: { routes?: string[] } = {}) {
  return request({ method: 'INVITE', branch: 'z9hG4bK-ours-1', sentBy: '127.0.0.1:5060', ...extra });
}

function setup(transport: 'udp' | 'tcp' = 'udp', options: { timerC?: boolean; timerCMs?: number } = {}) {
  const layer = new TransactionLayer({ timers: { ...timers, timerCMs: options.timerCMs ?? 180_000 }, logger: silentLogger() });
  const flow = new RecordingFlow(transport);
  const user = new RecordingUser();
  const invite = ours({ routes: ['<sip:p1.example.com;lr>', '<sip:p2.example.com;lr>'] });
  const tx = layer.createClientTransaction(invite, flow, user, { timerC: options.timerC ?? false }) as InviteClientTransaction;
  return { layer, flow, user, invite, tx };
}

async function timerACount(pair: SocketPair, layer: TransactionLayer): Promise<{ before: number; after: number }> {
  const user = new RecordingUser();
  const invite = ours();
  layer.createClientTransaction(invite, pair.flow, user);
  if (!pair.flow.reliable) await waitUntil('two Timer A retransmissions', () => pair.received.length >= 3);
  else {
    await waitUntil('the INVITE', () => pair.received.length >= 1);
    await sleep(5 * timers.t1Ms); // long enough for two Timer A periods, had they been started
  }
  const before = pair.received.length;
  assert.equal(layer.receiveResponse(responseTo(invite, 180, 'Ringing', 'to-1'), pair.flow), true);
  await sleep(8 * timers.t1Ms);
  return { before, after: pair.received.length };
}

test('ICT Timer A retransmits over UDP until a provisional, and never after', async () => {
  const pair = await udpPair();
  const layer = new TransactionLayer({ timers, logger: silentLogger() });
  try {
    const { before, after } = await timerACount(pair, layer);
    assert.ok(before >= 3, `sent ${before} times before the 180`);
    assert.equal(after, before, 'no retransmission after the 180');
    assert.ok(pair.received.every((m) => m.startsWith('INVITE sip:bob@example.com SIP/2.0\r\n')));
  } finally {
    layer.close();
    await pair.close();
  }
});

test('ICT over TCP sends the INVITE once: no Timer A', async () => {
  const pair = await tcpPair();
  const layer = new TransactionLayer({ timers, logger: silentLogger() });
  try {
    const { before, after } = await timerACount(pair, layer);
    assert.equal(before, 1);
    assert.equal(after, 1);
  } finally {
    layer.close();
    await pair.close();
  }
});

test('ICT Timer B: no response → onTimeout, then terminated', async () => {
  const { layer, user, tx } = setup();
  try {
    await waitUntil('Timer B', () => tx.state === 'terminated');
    assert.deepEqual(user.events, ['timeout', 'terminated']);
    assert.equal(layer.size, 0);
  } finally {
    layer.close();
  }
});

test('ICT 486: hop-by-hop ACK with the right headers; retransmissions re-ACKed, passed up once', async () => {
  const { layer, flow, user, invite, tx } = setup();
  try {
    const busy = responseTo(invite, 486, 'Busy Here', 'callee-tag');
    assert.equal(layer.receiveResponse(busy, flow), true);
    assert.equal(tx.state, 'completed');
    const ack = flow.messages().at(-1)!;
    assert.equal(ack.kind, 'request');
    if (ack.kind !== 'request') return;
    assert.equal(ack.method, 'ACK');
    assert.equal(ack.uri, invite.uri);
    assert.equal(ack.vias()?.length, 1, 'the top Via only');
    assert.equal(ack.topVia()?.params.get('branch'), 'z9hG4bK-ours-1', 'same branch as the INVITE');
    assert.equal(ack.to()?.params.get('tag'), 'callee-tag', 'To tag from the response');
    assert.equal(ack.headers.get('from'), invite.headers.get('from'));
    assert.equal(ack.callId, invite.callId);
    assert.deepEqual(ack.cseq(), { seq: 1, method: 'ACK' });
    assert.deepEqual(ack.headers.values('route'), ['<sip:p1.example.com;lr>', '<sip:p2.example.com;lr>']);
    const acksBefore = flow.firstWords().filter((w) => w === 'ACK').length;
    assert.equal(layer.receiveResponse(busy, flow), true);
    assert.equal(layer.receiveResponse(busy, flow), true);
    assert.equal(flow.firstWords().filter((w) => w === 'ACK').length, acksBefore + 2, 'one ACK per retransmission');
    assert.deepEqual(user.events, ['response 486'], 'passed up once');
    await waitUntil('Timer D', () => tx.state === 'terminated');
  } finally {
    layer.close();
  }
});

test('ICT over TCP: Timer D is 0, the transaction ends right after the ACK', () => {
  const { layer, flow, user, invite, tx } = setup('tcp');
  try {
    layer.receiveResponse(responseTo(invite, 603, 'Decline', 'x'), flow);
    assert.deepEqual(flow.firstWords(), ['INVITE', 'ACK']);
    assert.equal(tx.state, 'terminated');
    assert.deepEqual(user.events, ['response 603', 'terminated']);
  } finally {
    layer.close();
  }
});

test('ICT: every 2xx goes to the TU (two forks and a retransmission), Timer M ends it', async () => {
  const { layer, flow, user, invite, tx } = setup();
  try {
    layer.receiveResponse(responseTo(invite, 183, 'Session Progress', 'fork-a'), flow);
    layer.receiveResponse(responseTo(invite, 200, 'OK', 'fork-a'), flow);
    assert.equal(tx.state, 'accepted');
    assert.equal(layer.receiveResponse(responseTo(invite, 200, 'OK', 'fork-b'), flow), true);
    assert.equal(layer.receiveResponse(responseTo(invite, 200, 'OK', 'fork-a'), flow), true);
    assert.deepEqual(user.responses.map((r) => `${r.status} ${r.to()?.params.get('tag')}`), ['183 fork-a', '200 fork-a', '200 fork-b', '200 fork-a']);
    assert.deepEqual(flow.firstWords(), ['INVITE'], 'no ACK for a 2xx: that is the UAC’s');
    await waitUntil('Timer M', () => tx.state === 'terminated');
    assert.equal(layer.receiveResponse(responseTo(invite, 200, 'OK', 'fork-a'), flow), false);
  } finally {
    layer.close();
  }
});

test('ICT cancel() before any provisional is deferred, then sent with the first 1xx', () => {
  const { layer, flow, user, invite, tx } = setup();
  try {
    assert.equal(tx.cancel(), 'pending');
    assert.deepEqual(flow.firstWords(), ['INVITE'], 'no CANCEL before a provisional (§9.1)');
    layer.receiveResponse(responseTo(invite, 180, 'Ringing', 'to-1'), flow);
    assert.deepEqual(flow.firstWords(), ['INVITE', 'CANCEL']);
    assert.equal(tx.cancelState, 'sent');
    const cancel = flow.messages()[1]!;
    assert.equal(cancel.kind, 'request');
    if (cancel.kind !== 'request') return;
    assert.equal(cancel.uri, invite.uri);
    assert.equal(cancel.vias()?.length, 1);
    assert.equal(cancel.topVia()?.params.get('branch'), 'z9hG4bK-ours-1');
    assert.equal(cancel.headers.get('to'), invite.headers.get('to'), 'To as in the request');
    assert.deepEqual(cancel.cseq(), { seq: 1, method: 'CANCEL' });
    assert.equal(cancel.maxForwards(), 70);
    assert.deepEqual(cancel.headers.values('route'), invite.headers.values('route'));
    // The CANCEL is its own transaction: its 200 is matched by CSeq method and not given to the INVITE's TU.
    assert.deepEqual(layer.counts(), { ict: 1, nict: 1, ist: 0, nist: 0 });
    assert.equal(layer.receiveResponse(responseTo(cancel, 200, 'OK', 'to-1'), flow), true);
    assert.equal(layer.receiveResponse(responseTo(invite, 487, 'Request Terminated', 'to-1'), flow), true);
    assert.deepEqual(user.events, ['response 180', 'response 487']);
    assert.equal(tx.cancel(), 'sent', 'idempotent');
  } finally {
    layer.close();
  }
});

test('ICT cancel() after a provisional is sent at once; after a final it is not sent', () => {
  const a = setup();
  try {
    a.layer.receiveResponse(responseTo(a.invite, 100, 'Trying'), a.flow);
    assert.equal(a.tx.cancel(), 'sent');
    assert.deepEqual(a.flow.firstWords(), ['INVITE', 'CANCEL']);
  } finally {
    a.layer.close();
  }
  const b = setup();
  try {
    assert.equal(b.tx.cancel(), 'pending');
    b.layer.receiveResponse(responseTo(b.invite, 486, 'Busy Here', 'x'), b.flow);
    assert.equal(b.tx.cancel(), 'too-late');
    assert.deepEqual(b.flow.firstWords(), ['INVITE', 'ACK'], 'the pending CANCEL was dropped');
  } finally {
    b.layer.close();
  }
  const c = setup();
  try {
    c.layer.receiveResponse(responseTo(c.invite, 200, 'OK', 'x'), c.flow);
    assert.equal(c.tx.cancel(), 'too-late');
    assert.deepEqual(c.flow.firstWords(), ['INVITE']);
  } finally {
    c.layer.close();
  }
});

test('ICT: Timer B after a pending cancel without any response still reports a timeout', async () => {
  const { layer, flow, user, tx } = setup();
  try {
    assert.equal(tx.cancel(), 'pending');
    await waitUntil('Timer B', () => tx.state === 'terminated');
    assert.deepEqual(user.events, ['timeout', 'terminated']);
    assert.ok(!flow.firstWords().includes('CANCEL'));
  } finally {
    layer.close();
  }
});

test('ICT Timer C with a provisional: CANCEL is sent, the 487 still reaches the TU', async () => {
  const { layer, flow, user, invite, tx } = setup('tcp', { timerC: true, timerCMs: 60 });
  try {
    layer.receiveResponse(responseTo(invite, 180, 'Ringing', 'to-1'), flow);
    await waitUntil('Timer C CANCEL', () => flow.firstWords().includes('CANCEL'));
    assert.equal(tx.state, 'proceeding');
    assert.deepEqual(user.events, ['response 180']);
    layer.receiveResponse(responseTo(invite, 487, 'Request Terminated', 'to-1'), flow);
    assert.deepEqual(user.events, ['response 180', 'response 487', 'terminated']);
    assert.deepEqual(flow.firstWords(), ['INVITE', 'CANCEL', 'ACK']);
  } finally {
    layer.close();
  }
});

test('ICT Timer C is reset by each provisional', async () => {
  const { layer, flow, invite } = setup('tcp', { timerC: true, timerCMs: 400 });
  try {
    // Provisionals every 60 ms for 600 ms keep Timer C (400 ms) from firing.
    for (let i = 0; i < 10; i++) {
      layer.receiveResponse(responseTo(invite, 183, 'Session Progress', 'to-1'), flow);
      await sleep(60);
    }
    assert.ok(!flow.firstWords().includes('CANCEL'));
    await waitUntil('Timer C CANCEL', () => flow.firstWords().includes('CANCEL'));
  } finally {
    layer.close();
  }
});

test('ICT Timer C without a provisional: the TU gets a timeout and no CANCEL is sent', async () => {
  const { layer, flow, user, tx } = setup('tcp', { timerC: true, timerCMs: 60 });
  try {
    await waitUntil('Timer C', () => tx.state === 'terminated');
    assert.deepEqual(user.events, ['timeout', 'terminated']);
    assert.deepEqual(flow.firstWords(), ['INVITE']);
  } finally {
    layer.close();
  }
});

test('ICT over a closed flow: onTransportError and terminated, no timers left', () => {
  const layer = new TransactionLayer({ timers, logger: silentLogger() });
  const flow = new RecordingFlow('udp');
  flow.close();
  const user = new RecordingUser();
  try {
    const tx = layer.createClientTransaction(ours(), flow, user);
    assert.deepEqual(user.events, ['transport-error', 'terminated']);
    assert.equal(tx.state, 'terminated');
    assert.equal(layer.size, 0);
  } finally {
    layer.close();
  }
});

test('ICT: the wire INVITE is the request as given (serialized once, not edited)', () => {
  const { layer, flow, invite } = setup();
  try {
    const sent = parseMessage(flow.sent[0]!);
    assert.ok(sent.ok);
    if (!sent.ok || sent.value.kind !== 'request') return;
    assert.equal(sent.value.headers.getAll('via').length, invite.headers.getAll('via').length);
    assert.equal(sent.value.topVia()?.params.get('branch'), 'z9hG4bK-ours-1');
  } finally {
    layer.close();
  }
});
