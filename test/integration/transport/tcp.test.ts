import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { SbcError } from '../../../src/errors.js';
import { portOf, sipRequest, sipResponse, startHarness, type Harness } from './harness.js';

async function tcpClient(port: number, host = '127.0.0.1'): Promise<Socket> {
  const socket = connect({ port, host });
  await once(socket, 'connect');
  socket.on('error', () => {});
  return socket;
}

/** Everything the socket receives until it closes. */
function readUntilClose(socket: Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  return new Promise((resolve) => socket.once('close', () => resolve(Buffer.concat(chunks))));
}

/** Bytes received until at least `n` have arrived. */
function readBytes(socket: Socket, n: number): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let got = 0;
    const onData = (c: Buffer): void => {
      chunks.push(c);
      got += c.length;
      if (got >= n) {
        socket.off('data', onData);
        resolve(Buffer.concat(chunks));
      }
    };
    socket.on('data', onData);
  });
}

describe('TCP listener', { timeout: 20_000 }, () => {
  let h: Harness;
  const clients: Socket[] = [];
  const client = async (): Promise<Socket> => {
    const s = await tcpClient(portOf(h.layer, 'tcp'));
    clients.push(s);
    return s;
  };

  before(async () => {
    h = await startHarness([{ transport: 'tcp' }], { limits: { maxMessageBytes: 2000, handshakeTimeoutMs: 300, maxConnectionsPerIp: 4 } });
  });
  after(async () => {
    for (const c of clients) c.destroy();
    await h.stop();
  });

  it('delivers a message with a TCP flow and sends the reply on the same connection', async () => {
    const c = await client();
    c.write(sipRequest('tcp-1', { transport: 'tcp' }));
    const { msg, flow } = await h.nextMessage();
    assert.equal(msg.callId, 'tcp-1');
    assert.equal(flow.transport, 'tcp');
    assert.equal(flow.reliable, true);
    assert.equal(flow.secure, false);
    assert.deepEqual(flow.remote, { address: '127.0.0.1', port: c.localPort, family: 'IPv4' });
    assert.equal(flow.local.port, portOf(h.layer, 'tcp'));
    const response = sipResponse('tcp-1');
    const got = readBytes(c, response.length);
    assert.equal(flow.send(response), true);
    assert.deepEqual(await got, response);
    c.destroy();
  });

  it('handles a message split across many writes and several messages in one write', async () => {
    const c = await client();
    const one = sipRequest('split', { transport: 'tcp', body: 'v=0\r\n' });
    for (let i = 0; i < one.length; i += 7) {
      c.write(one.subarray(i, i + 7));
      await sleep(1);
    }
    const split = await h.nextMessage();
    assert.equal(split.msg.callId, 'split');
    assert.equal(split.msg.body.toString(), 'v=0\r\n');
    c.write(Buffer.concat([sipRequest('batch-a'), sipRequest('batch-b'), sipRequest('batch-c')]));
    const ids = [(await h.nextMessage()).msg.callId, (await h.nextMessage()).msg.callId, (await h.nextMessage()).msg.callId];
    assert.deepEqual(ids, ['batch-a', 'batch-b', 'batch-c']);
    c.destroy();
  });

  it('answers a double-CRLF ping with a single CRLF (RFC 5626 §4.4.1)', async () => {
    const c = await client();
    const got = readBytes(c, 2);
    c.write('\r\n\r\n');
    assert.equal((await got).toString(), '\r\n');
    // Still a working SIP connection afterwards.
    c.write(sipRequest('after-ping'));
    assert.equal((await h.nextMessage()).msg.callId, 'after-ping');
    c.destroy();
  });

  it('closes a connection that sends nothing within handshakeTimeoutMs', async () => {
    const c = await client();
    const data = await readUntilClose(c);
    assert.equal(data.length, 0);
  });

  it('keeps a connection that sent SIP past handshakeTimeoutMs', async () => {
    const c = await client();
    c.write(sipRequest('early'));
    assert.equal((await h.nextMessage()).msg.callId, 'early');
    await sleep(600);
    assert.equal(c.destroyed, false);
    c.write(sipRequest('late'));
    assert.equal((await h.nextMessage()).msg.callId, 'late');
    c.destroy();
  });

  it('closes a connection whose message exceeds maxMessageBytes and keeps serving others', async () => {
    const bystander = await client();
    bystander.write(sipRequest('bystander-1'));
    assert.equal((await h.nextMessage()).msg.callId, 'bystander-1');
    const c = await client();
    const closed = readUntilClose(c);
    c.write(sipRequest('huge', { body: 'x'.repeat(3000) }));
    await closed;
    let d = await h.deliveries.next();
    while (d.kind === 'closed') d = await h.deliveries.next();
    assert.equal(d.kind, 'invalid');
    assert.equal(d.kind === 'invalid' && d.error.status, 513);
    bystander.write(sipRequest('bystander-2'));
    assert.equal((await h.nextMessage()).msg.callId, 'bystander-2');
    const fresh = await client();
    fresh.write(sipRequest('fresh'));
    assert.equal((await h.nextMessage()).msg.callId, 'fresh');
    bystander.destroy();
    fresh.destroy();
  });

  it('closes a connection whose message has no Content-Length', async () => {
    const c = await client();
    const closed = readUntilClose(c);
    c.write(sipRequest('no-cl').toString().replace(/Content-Length: 0\r\n/, ''));
    await closed;
    let d = await h.deliveries.next();
    while (d.kind === 'closed') d = await h.deliveries.next();
    assert.equal(d.kind, 'invalid');
    assert.equal(d.kind === 'invalid' && d.error.code, 'bad-content-length');
  });

  it('refuses connections beyond maxConnectionsPerIp', async () => {
    for (const c of clients) c.destroy();
    await waitFor(() => [...h.layer.flows.values()].length === 0);
    const held = [await client(), await client(), await client(), await client()];
    for (const [i, c] of held.entries()) c.write(sipRequest(`held-${i}`));
    for (let i = 0; i < held.length; i++) await h.nextMessage();
    const extra = await client();
    const data = await readUntilClose(extra);
    assert.equal(data.length, 0);
    // The admitted ones still work.
    held[0]?.write(sipRequest('held-again'));
    assert.equal((await h.nextMessage()).msg.callId, 'held-again');
    for (const c of held) c.destroy();
    // Slots come back once the server has seen the connections close.
    await waitFor(() => [...h.layer.flows.values()].length === 0);
  });

  it('connect() reuses the open inbound flow to the same address and port', async () => {
    const c = await client();
    c.write(sipRequest('reuse'));
    const { flow } = await h.nextMessage();
    const again = await h.layer.connect({ transport: 'tcp', address: '127.0.0.1', port: c.localPort ?? 0 });
    assert.equal(again, flow);
    c.destroy();
  });

  it('a closed connection flow is gone for its token', async () => {
    const c = await client();
    c.write(sipRequest('gone'));
    const { flow } = await h.nextMessage();
    const token = h.layer.tokens.issue(flow);
    assert.equal(h.layer.flows.byToken(token).ok, true);
    c.destroy();
    await waitFor(() => flow.closed);
    assert.deepEqual(h.layer.flows.byToken(token), { ok: false, error: 'gone' });
  });
});

describe('TCP outbound', { timeout: 20_000 }, () => {
  it('dials a backend, reuses that connection, and receives its requests', async () => {
    const h = await startHarness([{ transport: 'tcp' }]);
    const accepted: Socket[] = [];
    const backend = createServer((s) => accepted.push(s));
    backend.listen(0, '127.0.0.1');
    await once(backend, 'listening');
    const port = (backend.address() as { port: number }).port;
    try {
      const [a, b] = await Promise.all([
        h.layer.connect({ transport: 'tcp', address: '127.0.0.1', port }),
        h.layer.connect({ transport: 'tcp', address: '127.0.0.1', port }),
      ]);
      assert.equal(a, b, 'concurrent connects share one dial');
      assert.equal(a.transport, 'tcp');
      assert.equal(a.remote.port, port);
      assert.equal(await h.layer.connect({ transport: 'tcp', address: '127.0.0.1', port }), a);
      await waitFor(() => accepted.length === 1);
      const server = accepted[0];
      assert.ok(server);
      const out = sipRequest('outbound');
      const got = readBytes(server, out.length);
      a.send(out);
      assert.deepEqual(await got, out);
      server.write(sipRequest('from-backend'));
      const { msg, flow } = await h.nextMessage();
      assert.equal(msg.callId, 'from-backend');
      assert.equal(flow, a);
    } finally {
      for (const s of accepted) s.destroy();
      backend.close();
      await h.stop();
    }
  });

  it('rejects with a typed error when the connection fails', async () => {
    const h = await startHarness([{ transport: 'tcp' }]);
    const probe = createServer();
    probe.listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const deadPort = (probe.address() as { port: number }).port;
    await new Promise<void>((r) => probe.close(() => r()));
    try {
      await assert.rejects(h.layer.connect({ transport: 'tcp', address: '127.0.0.1', port: deadPort }), (err: unknown) => {
        assert.ok(err instanceof SbcError);
        assert.equal(err.code, 'SBC_ERR_TRANSPORT');
        assert.match(err.message, new RegExp(`tcp 127\\.0\\.0\\.1:${deadPort}`));
        return true;
      });
      await assert.rejects(h.layer.connect({ transport: 'tls', address: '127.0.0.1', port: deadPort }), /no tls listener/);
    } finally {
      await h.stop();
    }
  });
});

async function waitFor(cond: () => boolean): Promise<void> {
  while (!cond()) await sleep(5);
}
