import { test } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../../../src/log/logger.js';
import { TransactionLayer } from '../../../src/transaction/index.js';
import { request, responseTo } from './helpers/messages.js';
import { RecordingFlow } from './helpers/recording-flow.js';
import { RecordingUser } from './helpers/recording-user.js';
import { udpPair } from './helpers/socket-flows.js';
import { sleep, waitUntil } from './helpers/wait.js';

const timers = { t1Ms: 20, t2Ms: 80, t4Ms: 40 };

function options() {
  return request({ method: 'OPTIONS', branch: 'z9hG4bK-nict-1', sentBy: '127.0.0.1:5060' });
}

test('NICT Timer E retransmits over UDP, then the final goes to the TU once and Timer K ends it', async () => {
  const pair = await udpPair();
  const layer = new TransactionLayer({ timers, logger: silentLogger() });
  const user = new RecordingUser();
  try {
    const req = options();
    const tx = layer.createClientTransaction(req, pair.flow, user);
    await waitUntil('two Timer E retransmissions', () => pair.received.length >= 3);
    assert.ok(pair.received.every((m) => m.startsWith('OPTIONS sip:bob@example.com SIP/2.0\r\n')));
    assert.equal(layer.receiveResponse(responseTo(req, 200, 'OK', 't'), pair.flow), true);
    const sentAtFinal = pair.received.length;
    assert.equal(tx.state, 'completed');
    // A retransmitted final is absorbed in Completed.
    assert.equal(layer.receiveResponse(responseTo(req, 200, 'OK', 't'), pair.flow), true);
    assert.deepEqual(user.events, ['response 200']);
    await waitUntil('Timer K', () => tx.state === 'terminated');
    await sleep(2 * timers.t1Ms);
    assert.equal(pair.received.length, sentAtFinal, 'no retransmission after the final');
    assert.deepEqual(user.events, ['response 200', 'terminated']);
  } finally {
    layer.close();
    await pair.close();
  }
});

test('NICT provisionals go to the TU and Timer E keeps retransmitting at T2 in Proceeding', async () => {
  const layer = new TransactionLayer({ timers, logger: silentLogger() });
  const flow = new RecordingFlow('udp');
  const user = new RecordingUser();
  try {
    const req = options();
    const tx = layer.createClientTransaction(req, flow, user);
    layer.receiveResponse(responseTo(req, 100, 'Trying'), flow);
    layer.receiveResponse(responseTo(req, 180, 'Ringing'), flow);
    assert.equal(tx.state, 'proceeding');
    const sent = flow.sent.length;
    await waitUntil('a retransmission in Proceeding', () => flow.sent.length > sent);
    assert.deepEqual(user.events, ['response 100', 'response 180']);
  } finally {
    layer.close();
  }
});

test('NICT Timer F: no final → onTimeout; over TCP nothing is retransmitted', async () => {
  const layer = new TransactionLayer({ timers, logger: silentLogger() });
  const flow = new RecordingFlow('tcp');
  const user = new RecordingUser();
  try {
    const tx = layer.createClientTransaction(options(), flow, user);
    await waitUntil('Timer F', () => tx.state === 'terminated');
    assert.deepEqual(user.events, ['timeout', 'terminated']);
    assert.deepEqual(flow.firstWords(), ['OPTIONS']);
  } finally {
    layer.close();
  }
});

test('NICT over TCP: Timer K is 0, terminated right after the final', () => {
  const layer = new TransactionLayer({ timers, logger: silentLogger() });
  const flow = new RecordingFlow('tcp');
  const user = new RecordingUser();
  try {
    const req = options();
    const tx = layer.createClientTransaction(req, flow, user);
    layer.receiveResponse(responseTo(req, 404, 'Not Found', 't'), flow);
    assert.equal(tx.state, 'terminated');
    assert.deepEqual(user.events, ['response 404', 'terminated']);
    assert.equal(layer.receiveResponse(responseTo(req, 404, 'Not Found', 't'), flow), false, 'gone from the table');
  } finally {
    layer.close();
  }
});

test('NICT: a flow that closes before a retransmission gives onTransportError', async () => {
  const layer = new TransactionLayer({ timers, logger: silentLogger() });
  const flow = new RecordingFlow('udp');
  const user = new RecordingUser();
  try {
    const tx = layer.createClientTransaction(options(), flow, user);
    flow.close();
    await waitUntil('Timer E hits the closed flow', () => tx.state === 'terminated');
    assert.deepEqual(user.events, ['transport-error', 'terminated']);
  } finally {
    layer.close();
  }
});

test('NICT: a TU whose onResponse throws does not stop the transaction', () => {
  const layer = new TransactionLayer({ timers, logger: silentLogger() });
  const flow = new RecordingFlow('tcp');
  let terminated = 0;
  try {
    const req = options();
    const tx = layer.createClientTransaction(req, flow, {
      onResponse: () => { throw new Error('TU bug'); },
      onTimeout: () => {},
      onTransportError: () => {},
      onTerminated: () => { terminated++; },
    });
    layer.receiveResponse(responseTo(req, 200, 'OK', 't'), flow);
    assert.equal(tx.state, 'terminated');
    assert.equal(terminated, 1);
  } finally {
    layer.close();
  }
});
