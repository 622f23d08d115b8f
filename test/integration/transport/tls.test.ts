import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { connect as netConnect } from 'node:net';
import { describe, it } from 'node:test';
import { testCert } from '../../helpers/test-cert.js';
import { portOf, sipRequest, sipResponse, startHarness } from './harness.js';

describe('TLS listener', { timeout: 20_000 }, () => {
  it('delivers a message with a secure TLS flow and replies on the connection', async () => {
    const cert = testCert();
    const h = await startHarness([{ transport: 'tls' }], { tls: cert });
    const client = connect({ host: '127.0.0.1', port: portOf(h.layer, 'tls'), ca: cert.cert });
    client.on('error', () => {});
    try {
      await once(client, 'secureConnect');
      assert.equal(client.authorized, true, 'the listener presents the configured certificate');
      client.write(sipRequest('tls-1', { transport: 'tls' }));
      const { msg, flow } = await h.nextMessage();
      assert.equal(msg.callId, 'tls-1');
      assert.equal(flow.transport, 'tls');
      assert.equal(flow.secure, true);
      assert.equal(flow.reliable, true);
      assert.deepEqual(flow.remote, { address: '127.0.0.1', port: client.localPort, family: 'IPv4' });
      assert.equal(flow.local.port, portOf(h.layer, 'tls'));
      const response = sipResponse('tls-1');
      const got = once(client, 'data');
      flow.send(response);
      assert.deepEqual(((await got) as [Buffer])[0], response);
      const pong = once(client, 'data');
      client.write('\r\n\r\n');
      assert.equal(((await pong) as [Buffer])[0].toString(), '\r\n');
    } finally {
      client.destroy();
      await h.stop();
    }
  });

  it('counts connections per IP before the TLS handshake', async () => {
    const cert = testCert();
    const h = await startHarness([{ transport: 'tls' }], { tls: cert, limits: { maxConnectionsPerIp: 1 } });
    const first = connect({ host: '127.0.0.1', port: portOf(h.layer, 'tls'), ca: cert.cert });
    first.on('error', () => {});
    await once(first, 'secureConnect');
    const second = netConnect({ host: '127.0.0.1', port: portOf(h.layer, 'tls') });
    second.on('error', () => {});
    try {
      // The second never starts a handshake; it is refused for the count alone.
      await once(second, 'close');
      first.write(sipRequest('tls-first'));
      assert.equal((await h.nextMessage()).msg.callId, 'tls-first');
    } finally {
      first.destroy();
      second.destroy();
      await h.stop();
    }
  });

  it('connect() dials a TLS backend with a self-signed certificate', async () => {
    const cert = testCert();
    const h = await startHarness([{ transport: 'tls' }], { tls: cert });
    const accepted: TLSSocket[] = [];
    const backend = createTlsServer({ cert: cert.cert, key: cert.key }, (s) => accepted.push(s));
    backend.listen(0, '127.0.0.1');
    await once(backend, 'listening');
    const port = (backend.address() as { port: number }).port;
    try {
      const flow = await h.layer.connect({ transport: 'tls', address: 'localhost', port });
      assert.equal(flow.transport, 'tls');
      assert.equal(flow.secure, true);
      assert.equal(await h.layer.connect({ transport: 'tls', address: 'localhost', port }), flow, 'a host name reuses its connection too');
      while (accepted.length === 0) await new Promise((r) => setImmediate(r));
      const server = accepted[0]!;
      const got = once(server, 'data');
      flow.send(sipRequest('tls-out'));
      assert.match(((await got) as [Buffer])[0].toString(), /Call-ID: tls-out/);
    } finally {
      for (const s of accepted) s.destroy();
      backend.close();
      await h.stop();
    }
  });
});
