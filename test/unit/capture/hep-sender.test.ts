import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { endpointsOf, HepSender, type HepDropReason } from '../../../src/capture/hep-sender.js';
import { silentLogger } from '../../../src/log/logger.js';
import { HepCollector } from '../../helpers/hep-collector.js';
import { FakeFlow } from '../transport/fake-flow.js';

const msg = (i: number): Buffer => Buffer.from(`OPTIONS sip:a SIP/2.0\r\nCall-ID: q${i}\r\nContent-Length: 0\r\n\r\n`);

describe('HEP sender', () => {
  let collector: HepCollector;
  before(async () => { collector = await HepCollector.start(); });
  after(() => collector.close());

  test('the queue never holds more than maxQueue: the rest is dropped and counted, what was queued arrives', async () => {
    const dropped: HepDropReason[] = [];
    let sent = 0;
    const sender = new HepSender({
      host: '127.0.0.1', port: collector.port, captureId: 7, password: '', maxQueue: 4, logger: silentLogger(),
      onSent: () => { sent += 1; }, onDropped: (r) => dropped.push(r),
    });
    await sender.start();
    const flow = new FakeFlow('f1', 'udp', { address: '192.0.2.7', port: 5070 });
    let most = 0;
    for (let i = 0; i < 10; i++) {
      sender.capture(i % 2 === 0 ? 'in' : 'out', flow, msg(i));
      most = Math.max(most, sender.queued);
    }
    assert.equal(most, 4);
    assert.deepEqual(dropped, Array(6).fill('queue-full'));
    for (let i = 0; i < 4; i++) await collector.next((p) => p.correlationId === `q${i}` && p.captureId === 7);
    while (sent < 4) await new Promise((r) => setImmediate(r));
    assert.equal(sent, 4);
    const q0 = collector.packets.find((p) => p.correlationId === 'q0')!;
    assert.deepEqual([q0.source, q0.sourcePort, q0.destination, q0.destinationPort], ['192.0.2.7', 5070, '127.0.0.1', 5060], 'in: from the peer to us');
    const q1 = collector.packets.find((p) => p.correlationId === 'q1')!;
    assert.deepEqual([q1.source, q1.sourcePort, q1.destination, q1.destinationPort], ['127.0.0.1', 5060, '192.0.2.7', 5070], 'out: from us to the peer');
    assert.equal(q0.ipProtocol, 17);
    sender.stop();
  });

  test('keepalives (CRLF) are not captured', async () => {
    const dropped: HepDropReason[] = [];
    const sender = new HepSender({ host: '127.0.0.1', port: collector.port, captureId: 8, password: 'pw', maxQueue: 1, logger: silentLogger(), onSent: () => {}, onDropped: (r) => dropped.push(r) });
    await sender.start();
    const flow = new FakeFlow('f2', 'ws', { address: '192.0.2.8', port: 40000 });
    sender.capture('out', flow, Buffer.from('\r\n'));
    assert.equal(sender.queued, 0);
    sender.capture('in', flow, msg(99));
    const p = await collector.next((x) => x.captureId === 8);
    assert.equal(p.authKey, 'pw');
    assert.equal(p.ipProtocol, 6, 'ws runs over TCP');
    assert.deepEqual(dropped, []);
    sender.stop();
  });
});

describe('HEP endpoints of a flow', () => {
  test('a wildcard-bound UDP listener reports its advertised address; IPv4-mapped peers count as IPv4', () => {
    const flow = new FakeFlow('f3', 'udp', { address: '::ffff:192.0.2.9', port: 5062 });
    Object.defineProperty(flow, 'local', { value: { address: '0.0.0.0', port: 5060, family: 'IPv4' } });
    Object.defineProperty(flow, 'listener', { value: { ...flow.listener, address: '0.0.0.0', advertise: '203.0.113.4' } });
    const e = endpointsOf(flow)!;
    assert.equal(e.family, 'IPv4');
    assert.deepEqual([...e.local], [203, 0, 113, 4]);
    assert.deepEqual([...e.remote], [192, 0, 2, 9]);
  });

  test('mixed families go as IPv6, IPv4 in its mapped form', () => {
    const flow = new FakeFlow('f4', 'tcp', { address: '2001:db8::1', port: 5061 });
    const e = endpointsOf(flow)!;
    assert.equal(e.family, 'IPv6');
    assert.equal(e.local.length, 16);
    assert.deepEqual([...e.local.subarray(10)], [0xff, 0xff, 127, 0, 0, 1]);
  });
});
