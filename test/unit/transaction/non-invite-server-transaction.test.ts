import { test } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../../../src/log/logger.js';
import { TransactionLayer } from '../../../src/transaction/index.js';
import { request, responseTo } from './helpers/messages.js';
import { RecordingFlow } from './helpers/recording-flow.js';
import { waitUntil } from './helpers/wait.js';

const timers = { t1Ms: 20, t2Ms: 80, t4Ms: 40 };

test('NIST: no 100 Trying; retransmissions discarded in Trying, answered with the last response after', async () => {
  const layer = new TransactionLayer({ timers, logger: silentLogger() });
  const flow = new RecordingFlow('udp');
  try {
    const bye = request({ method: 'BYE', toTag: 'to-1' });
    assert.deepEqual(layer.receiveRequest(bye, flow), { kind: 'new' });
    const tx = layer.createServerTransaction(bye, flow);
    assert.equal(tx.type, 'nist');
    assert.deepEqual(flow.firstWords(), [], 'no 100 Trying for non-INVITE');
    assert.deepEqual(layer.receiveRequest(request({ method: 'BYE', toTag: 'to-1' }), flow), { kind: 'absorbed' });
    assert.deepEqual(flow.firstWords(), [], 'discarded in Trying');
    tx.respond(responseTo(bye, 100, 'Trying'));
    assert.equal(tx.state, 'proceeding');
    layer.receiveRequest(request({ method: 'BYE', toTag: 'to-1' }), flow);
    assert.deepEqual(flow.firstWords(), ['100', '100']);
    assert.equal(tx.respond(responseTo(bye, 200, 'OK')), true);
    assert.equal(tx.state, 'completed');
    assert.equal(tx.respond(responseTo(bye, 500, 'Server Error')), false, 'one final only');
    layer.receiveRequest(request({ method: 'BYE', toTag: 'to-1' }), flow);
    assert.deepEqual(flow.firstWords(), ['100', '100', '200', '200']);
    await waitUntil('Timer J', () => tx.state === 'terminated');
    assert.deepEqual(layer.receiveRequest(request({ method: 'BYE', toTag: 'to-1' }), flow), { kind: 'new' });
  } finally {
    layer.close();
  }
});

test('NIST over TCP: Timer J is 0, terminated right after the final', () => {
  const layer = new TransactionLayer({ timers, logger: silentLogger() });
  const flow = new RecordingFlow('tcp');
  try {
    const reg = request({ method: 'REGISTER' });
    const tx = layer.createServerTransaction(reg, flow);
    const events: string[] = [];
    tx.setUser({ onTerminated: () => events.push('terminated') });
    tx.respond(responseTo(reg, 200, 'OK', 'x'));
    assert.equal(tx.state, 'terminated');
    assert.deepEqual(events, ['terminated']);
    assert.equal(layer.size, 0);
  } finally {
    layer.close();
  }
});

test('NIST: a closed flow when answering is a transport error', () => {
  const layer = new TransactionLayer({ timers, logger: silentLogger() });
  const flow = new RecordingFlow('udp');
  try {
    const opt = request({ method: 'OPTIONS' });
    const tx = layer.createServerTransaction(opt, flow);
    const events: string[] = [];
    tx.setUser({ onTransportError: () => events.push('transport-error'), onTerminated: () => events.push('terminated') });
    flow.close();
    assert.equal(tx.respond(responseTo(opt, 200, 'OK', 'x')), false);
    assert.deepEqual(events, ['transport-error', 'terminated']);
  } finally {
    layer.close();
  }
});
