import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { connect, createServer } from 'node:net';
import { describe, it } from 'node:test';
import { SbcError } from '../../../src/errors.js';
import { silentLogger } from '../../../src/log/logger.js';
import { TransportLayer } from '../../../src/transport/transport-layer.js';
import { Queue, SECRET, portOf, sipRequest } from './harness.js';

describe('TransportLayer lifecycle', { timeout: 20_000 }, () => {
  it('reports listeners with their bound ports and finds them by transport and interface', async () => {
    const layer = new TransportLayer({
      listeners: [
        { transport: 'udp', address: '127.0.0.1', port: 0, advertise: 'outside.example.com', interface: 'outside' },
        { transport: 'tcp', address: '127.0.0.1', port: 0, advertise: 'inside.example.com', interface: 'inside' },
        { transport: 'udp', address: '::1', port: 0, advertise: 'inside6.example.com', interface: 'inside' },
      ],
      logger: silentLogger(),
      flowTokenSecret: SECRET,
    });
    assert.equal(layer.listeners.every((l) => !l.up), true);
    try {
      await layer.start();
      assert.equal(layer.listeners.every((l) => l.up && l.boundPort > 0), true);
      assert.equal(layer.listeners[0]?.port, 0, 'the configured port stays as configured');
      assert.equal(layer.listenerFor('udp')?.advertise, 'outside.example.com');
      assert.equal(layer.listenerFor('udp', 'inside')?.advertise, 'inside6.example.com');
      assert.equal(layer.listenerFor('tls'), undefined);
    } finally {
      await layer.stop();
    }
    assert.equal(layer.listeners.every((l) => !l.up), true);
  });

  it('fails start() naming the listener that could not bind, and closes the ones already bound', async () => {
    const blocker = createServer();
    blocker.listen(0, '127.0.0.1');
    await once(blocker, 'listening');
    const taken = (blocker.address() as { port: number }).port;
    const layer = new TransportLayer({
      listeners: [
        { transport: 'udp', address: '127.0.0.1', port: 0, advertise: '127.0.0.1' },
        { transport: 'tcp', address: '127.0.0.1', port: taken, advertise: '127.0.0.1' },
      ],
      logger: silentLogger(),
      flowTokenSecret: SECRET,
    });
    try {
      await assert.rejects(layer.start(), (err: unknown) => {
        assert.ok(err instanceof SbcError);
        assert.equal(err.code, 'SBC_ERR_LISTEN');
        assert.match(err.message, new RegExp(`tcp 127\\.0\\.0\\.1:${taken}`));
        assert.match(err.message, /EADDRINUSE/);
        return true;
      });
      assert.equal(layer.listeners[0]?.up, false, 'the UDP listener bound first was closed again');
    } finally {
      await layer.stop();
      blocker.close();
    }
  });

  it('refuses a TLS listener without a certificate', () => {
    assert.throws(
      () => new TransportLayer({ listeners: [{ transport: 'tls', address: '127.0.0.1', port: 0, advertise: 'x' }], logger: silentLogger(), flowTokenSecret: SECRET }),
      (err: unknown) => err instanceof SbcError && err.code === 'SBC_ERR_CERT',
    );
  });

  it('stop() closes every flow, tells the user, and is idempotent', async () => {
    const layer = new TransportLayer({
      listeners: [{ transport: 'tcp', address: '127.0.0.1', port: 0, advertise: '127.0.0.1' }],
      logger: silentLogger(),
      flowTokenSecret: SECRET,
    });
    const closed = new Queue<string>();
    const messages = new Queue<string>();
    layer.setUser({ onMessage: (m) => messages.push(m.callId ?? ''), onInvalid: () => {}, onFlowClosed: (f) => closed.push(f.id) });
    await layer.start();
    const client = connect({ host: '127.0.0.1', port: portOf(layer, 'tcp') });
    client.on('error', () => {});
    await once(client, 'connect');
    client.write(sipRequest('before-stop'));
    assert.equal(await messages.next(), 'before-stop');
    const clientClosed = once(client, 'close');
    await Promise.all([layer.stop(), layer.stop()]);
    await layer.stop();
    await clientClosed;
    assert.equal(layer.flows.size, 0);
    assert.match(await closed.next(), /^tcp-/);
    await assert.rejects(layer.connect({ transport: 'tcp', address: '127.0.0.1', port: 9 }), /stopped/);
  });

  it('keeps serving when the user callback throws', async () => {
    const layer = new TransportLayer({
      listeners: [{ transport: 'udp', address: '127.0.0.1', port: 0, advertise: '127.0.0.1' }],
      logger: silentLogger(),
      flowTokenSecret: SECRET,
    });
    const seen = new Queue<string>();
    layer.setUser({
      onMessage: (m) => {
        seen.push(m.callId ?? '');
        throw new Error('bug in the layer above');
      },
      onInvalid: () => {
        throw new Error('another bug');
      },
    });
    await layer.start();
    const client = createSocket('udp4');
    try {
      client.send(Buffer.from('garbage\r\n\r\n'), portOf(layer, 'udp'), '127.0.0.1');
      client.send(sipRequest('throw-1'), portOf(layer, 'udp'), '127.0.0.1');
      client.send(sipRequest('throw-2'), portOf(layer, 'udp'), '127.0.0.1');
      assert.equal(await seen.next(), 'throw-1');
      assert.equal(await seen.next(), 'throw-2');
    } finally {
      client.close();
      await layer.stop();
    }
  });

  it('serves TCP on ::1', async () => {
    const layer = new TransportLayer({
      listeners: [{ transport: 'tcp', address: '::1', port: 0, advertise: '::1' }],
      logger: silentLogger(),
      flowTokenSecret: SECRET,
    });
    const got = new Queue<{ family: string; address: string }>();
    layer.setUser({ onMessage: (_m, flow) => got.push(flow.remote), onInvalid: () => {} });
    await layer.start();
    const client = connect({ host: '::1', port: portOf(layer, 'tcp') });
    client.on('error', () => {});
    try {
      await once(client, 'connect');
      client.write(sipRequest('tcp6'));
      const remote = await got.next();
      assert.equal(remote.family, 'IPv6');
      assert.equal(remote.address, '::1');
    } finally {
      client.destroy();
      await layer.stop();
    }
  });
});
