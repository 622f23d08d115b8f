/**
 * What a completed transaction keeps while it waits out its absorption timer
 * (J, L, M, D): the key and the last response, not the request that created
 * it. Checked with WeakRefs and a forced garbage collection: the request
 * objects must be collectable while the transactions still absorb
 * retransmissions; and once the timers have fired, nothing is left.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { silentLogger } from '../../../src/log/logger.js';
import type { SipRequest } from '../../../src/sip/message.js';
import { TransactionLayer, type ClientTransactionUser } from '../../../src/transaction/index.js';
import { request, responseTo } from './helpers/messages.js';
import { RecordingFlow } from './helpers/recording-flow.js';
import { waitUntil } from './helpers/wait.js';

const timers = { t1Ms: 20, t2Ms: 80, t4Ms: 40 };

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Collect until the WeakRefs are clear (FinalizationRegistry-free: a few full GCs suffice), or give up. */
async function collected(refs: WeakRef<object>[]): Promise<number> {
  for (let i = 0; i < 5; i++) {
    // Let microtasks and the current turn drop their references first.
    await new Promise((r) => setImmediate(r));
    gc();
  }
  return refs.filter((r) => r.deref() !== undefined).length;
}

const NOBODY: ClientTransactionUser = { onResponse() {}, onTimeout() {}, onTransportError() {} };

test('completed server transactions (NIST in Timer J, IST in Accepted and Completed) no longer hold their requests, yet absorb retransmissions', async () => {
  const layer = new TransactionLayer({ timers: { ...timers, t1Ms: 500 }, logger: silentLogger() });
  const flow = new RecordingFlow('udp');
  const refs: WeakRef<SipRequest>[] = [];
  try {
    // In a function of its own, so no local of the test's frame keeps one alive.
    const make = (i: number): void => {
      const bye = request({ method: 'BYE', branch: `z9hG4bK-bye-${i}`, toTag: 'to-1' });
      layer.createServerTransaction(bye, flow).respond(responseTo(bye, 200, 'OK'));
      const ok = request({ method: 'INVITE', branch: `z9hG4bK-ok-${i}` });
      layer.createServerTransaction(ok, flow).respond(responseTo(ok, 200, 'OK', 'callee'));
      const busy = request({ method: 'INVITE', branch: `z9hG4bK-busy-${i}` });
      layer.createServerTransaction(busy, flow).respond(responseTo(busy, 486, 'Busy Here', 'callee'));
      refs.push(new WeakRef(bye), new WeakRef(ok), new WeakRef(busy));
    };
    for (let i = 0; i < 20; i++) make(i);
    assert.equal(layer.size, 60, 'all of them wait out their timers');
    assert.equal(await collected(refs), 0, 'no request is held by its completed transaction');

    // Still RFC 3261 §17.2.1/§17.2.2 and RFC 6026: a retransmitted BYE gets the 200 again,
    // a retransmitted INVITE after the 2xx is absorbed silently, after the 486 gets the 486 again.
    const before = flow.sent.length;
    assert.deepEqual(layer.receiveRequest(request({ method: 'BYE', branch: 'z9hG4bK-bye-3', toTag: 'to-1' }), flow), { kind: 'absorbed' });
    assert.deepEqual(layer.receiveRequest(request({ method: 'INVITE', branch: 'z9hG4bK-ok-3' }), flow), { kind: 'absorbed' });
    assert.deepEqual(layer.receiveRequest(request({ method: 'INVITE', branch: 'z9hG4bK-busy-3' }), flow), { kind: 'absorbed' });
    assert.deepEqual(flow.firstWords().slice(before), ['200', '486']);
  } finally {
    layer.close();
  }
});

test('completed client transactions (ICT in Accepted and Completed, NICT in Timer K) no longer hold their requests or their user', async () => {
  const layer = new TransactionLayer({ timers: { ...timers, t1Ms: 500, t4Ms: 5000 }, logger: silentLogger() });
  const flow = new RecordingFlow('udp');
  const refs: WeakRef<object>[] = [];
  let acks = 0;
  try {
    // In a function of its own, so no local of the test's frame keeps one alive.
    const make = (i: number): void => {
      const invite = request({ method: 'INVITE', branch: `z9hG4bK-ict-ok-${i}` });
      const ok = layer.createClientTransaction(invite, flow, { ...NOBODY });
      ok.receiveResponse(responseTo(invite, 200, 'OK', 'callee'));
      const failed = request({ method: 'INVITE', branch: `z9hG4bK-ict-busy-${i}` });
      const user = { ...NOBODY };
      const busy = layer.createClientTransaction(failed, flow, user);
      busy.receiveResponse(responseTo(failed, 486, 'Busy Here', 'callee'));
      const bye = request({ method: 'BYE', branch: `z9hG4bK-nict-${i}`, toTag: 'callee' });
      const nict = layer.createClientTransaction(bye, flow, { ...NOBODY });
      nict.receiveResponse(responseTo(bye, 200, 'OK'));
      refs.push(new WeakRef(invite), new WeakRef(failed), new WeakRef(bye), new WeakRef(user));
    };
    for (let i = 0; i < 20; i++) make(i);
    assert.equal(layer.size, 60);
    assert.equal(await collected(refs), 0, 'no request (nor the user of a failed INVITE) is held once completed');

    // §17.1.1.2: a retransmitted non-2xx final is ACKed again from the kept ACK.
    acks = flow.firstWords().filter((w) => w === 'ACK').length;
    const again = request({ method: 'INVITE', branch: 'z9hG4bK-ict-busy-7' });
    assert.equal(layer.receiveResponse(responseTo(again, 486, 'Busy Here', 'callee'), flow), true);
    assert.equal(flow.firstWords().filter((w) => w === 'ACK').length, acks + 1);
  } finally {
    layer.close();
  }
});

test('once every wait timer has fired, the transaction table is empty', async () => {
  const layer = new TransactionLayer({ timers, logger: silentLogger() });
  const flow = new RecordingFlow('udp');
  try {
    for (let i = 0; i < 50; i++) {
      const bye = request({ method: 'BYE', branch: `z9hG4bK-j-${i}`, toTag: 'to-1' });
      layer.createServerTransaction(bye, flow).respond(responseTo(bye, 200, 'OK'));
      const invite = request({ method: 'INVITE', branch: `z9hG4bK-l-${i}` });
      layer.createServerTransaction(invite, flow).respond(responseTo(invite, 200, 'OK', 'callee'));
      const out = request({ method: 'INVITE', branch: `z9hG4bK-m-${i}` });
      layer.createClientTransaction(out, flow, { ...NOBODY }).receiveResponse(responseTo(out, 200, 'OK', 'callee'));
    }
    assert.equal(layer.size, 150);
    await waitUntil('Timers J, L and M', () => layer.size === 0, 10_000);
    assert.deepEqual(layer.counts(), { ict: 0, nict: 0, ist: 0, nist: 0 });
  } finally {
    layer.close();
  }
});
