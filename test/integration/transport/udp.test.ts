import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';
import { bindingRequest, decodeMapped } from '../../unit/transport/stun-client.js';
import { portOf, sipRequest, sipResponse, startHarness, type Harness } from './harness.js';

async function udpClient(type: 'udp4' | 'udp6', address: string): Promise<Socket> {
  const socket = createSocket(type);
  socket.bind(0, address);
  await once(socket, 'listening');
  return socket;
}

describe('UDP listener', { timeout: 20_000 }, () => {
  let h: Harness;
  let client: Socket;

  before(async () => {
    h = await startHarness([{ transport: 'udp' }], { limits: { maxMessageBytes: 1000 } });
    client = await udpClient('udp4', '127.0.0.1');
  });
  after(async () => {
    client.close();
    await h.stop();
  });

  it('delivers a datagram with a UDP flow naming both ends', async () => {
    const port = portOf(h.layer, 'udp');
    client.send(sipRequest('udp-1'), port, '127.0.0.1');
    const { msg, flow } = await h.nextMessage();
    assert.equal(msg.kind, 'request');
    assert.equal(msg.callId, 'udp-1');
    assert.equal(flow.transport, 'udp');
    assert.equal(flow.reliable, false);
    assert.equal(flow.secure, false);
    assert.deepEqual(flow.remote, { address: '127.0.0.1', port: client.address().port, family: 'IPv4' });
    assert.equal(flow.local.port, port);
    assert.equal(flow.listener.index, 0);
    assert.equal(h.layer.flows.get(flow.id), flow);
  });

  it('sends a reply from the listener socket back to the client', async () => {
    const port = portOf(h.layer, 'udp');
    client.send(sipRequest('udp-2'), port, '127.0.0.1');
    const { flow } = await h.nextMessage();
    const reply = once(client, 'message');
    assert.equal(flow.send(sipResponse('udp-2')), true);
    const [data, rinfo] = (await reply) as [Buffer, { port: number }];
    assert.match(data.toString(), /^SIP\/2\.0 200 OK\r\n/);
    assert.equal(rinfo.port, port, 'the reply leaves from the listener port (symmetric UDP)');
  });

  it('reports an oversized datagram as invalid with status 513', async () => {
    const port = portOf(h.layer, 'udp');
    client.send(sipRequest('udp-big', { body: 'x'.repeat(1500) }), port, '127.0.0.1');
    const d = await h.deliveries.next();
    assert.equal(d.kind, 'invalid');
    assert.equal(d.kind === 'invalid' && d.error.status, 513);
    assert.equal(d.flow.remote.port, client.address().port);
  });

  it('reports an unparsable datagram as invalid and keeps serving', async () => {
    const port = portOf(h.layer, 'udp');
    client.send(Buffer.from('HELLO WORLD\r\n\r\n'), port, '127.0.0.1');
    const d = await h.deliveries.next();
    assert.equal(d.kind, 'invalid');
    assert.equal(d.kind === 'invalid' && d.error.status, 400);
    client.send(sipRequest('udp-after-bad'), port, '127.0.0.1');
    assert.equal((await h.nextMessage()).msg.callId, 'udp-after-bad');
  });

  it('answers a STUN Binding keepalive with the client address (RFC 5626 §4.4.2)', async () => {
    const reply = once(client, 'message');
    client.send(bindingRequest(), portOf(h.layer, 'udp'), '127.0.0.1');
    const [data] = (await reply) as [Buffer];
    assert.deepEqual(
      (({ address, port }) => ({ address, port }))(decodeMapped(data)),
      { address: '127.0.0.1', port: client.address().port },
    );
  });

  it('rebuilds a UDP flow from its token after the table entry is gone', async () => {
    const port = portOf(h.layer, 'udp');
    client.send(sipRequest('udp-token'), port, '127.0.0.1');
    const { flow } = await h.nextMessage();
    const token = h.layer.tokens.issue(flow);
    // Expire the entry the way the idle sweep does.
    h.layer.flows.sweep(performance.now() + h.layer.limits.udpFlowIdleMs + 1);
    assert.equal(flow.closed, true);
    assert.equal(h.layer.flows.get(flow.id), undefined);
    const found = h.layer.flows.byToken(token);
    assert.ok(found.ok, `byToken: ${found.ok ? 'ok' : found.error}`);
    assert.equal(found.value.id, flow.id);
    assert.deepEqual(found.value.remote, flow.remote);
    const reply = once(client, 'message');
    found.value.send(sipResponse('udp-token'));
    const [data] = (await reply) as [Buffer];
    assert.match(data.toString(), /Call-ID: udp-token/);
  });

  it('connect() to a UDP target sends from the listener socket', async () => {
    const port = portOf(h.layer, 'udp');
    const backend = await udpClient('udp4', '127.0.0.1');
    try {
      const flow = await h.layer.connect({ transport: 'udp', address: '127.0.0.1', port: backend.address().port });
      assert.equal(flow.transport, 'udp');
      const got = once(backend, 'message');
      flow.send(sipRequest('udp-out'));
      const [data, rinfo] = (await got) as [Buffer, { port: number }];
      assert.match(data.toString(), /Call-ID: udp-out/);
      assert.equal(rinfo.port, port);
    } finally {
      backend.close();
    }
  });
});

describe('UDP over IPv6', { timeout: 20_000 }, () => {
  it('receives and replies on ::1', async () => {
    const h = await startHarness([{ transport: 'udp', address: '::1' }]);
    const client = await udpClient('udp6', '::1');
    try {
      client.send(sipRequest('udp6'), portOf(h.layer, 'udp'), '::1');
      const { msg, flow } = await h.nextMessage();
      assert.equal(msg.callId, 'udp6');
      assert.deepEqual(flow.remote, { address: '::1', port: client.address().port, family: 'IPv6' });
      assert.equal(flow.local.family, 'IPv6');
      const reply = once(client, 'message');
      flow.send(sipResponse('udp6'));
      const [data] = (await reply) as [Buffer];
      assert.match(data.toString(), /^SIP\/2\.0 200 OK/);
      const token = h.layer.tokens.issue(flow);
      const verified = h.layer.tokens.verify(token);
      assert.ok(verified.ok);
      assert.deepEqual(verified.value.udp, { listenerIndex: 0, address: '::1', port: client.address().port });
    } finally {
      client.close();
      await h.stop();
    }
  });
});
