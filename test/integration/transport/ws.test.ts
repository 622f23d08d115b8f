import assert from 'node:assert/strict';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { get as httpGet, type IncomingMessage } from 'node:http';
import { get as httpsGet } from 'node:https';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { testCert } from '../../helpers/test-cert.js';
import { portOf, sipRequest, sipResponse, startHarness, type Harness } from './harness.js';

async function open(url: string, protocols: string[] = ['sip'], ca?: string): Promise<WebSocket> {
  const ws = new WebSocket(url, protocols, ca !== undefined ? { ca } : {});
  await once(ws, 'open');
  return ws;
}

function nextFrame(ws: WebSocket): Promise<{ data: Buffer; isBinary: boolean }> {
  return new Promise((resolve) => ws.once('message', (data: Buffer, isBinary: boolean) => resolve({ data, isBinary })));
}

function closed(ws: WebSocket): Promise<number> {
  return new Promise((resolve) => ws.once('close', (code: number) => resolve(code)));
}

for (const transport of ['ws', 'wss'] as const) {
  describe(`${transport.toUpperCase()} listener`, { timeout: 20_000 }, () => {
    const cert = testCert();
    const ca = transport === 'wss' ? cert.cert : undefined;
    const start = (limits = {}): Promise<Harness> => startHarness([{ transport }], {
      tls: cert,
      limits,
      httpHandler: (req, res) => {
        if (req.url === '/') res.writeHead(200, { 'content-type': 'text/html' }).end('<h1>phone</h1>');
        else res.writeHead(404).end();
      },
    });
    const url = (h: Harness): string => `${transport}://127.0.0.1:${portOf(h.layer, transport)}/`;

    it('delivers a text-frame message with a flow and replies on the socket', async () => {
      const h = await start();
      const ws = await open(url(h), ['sip'], ca);
      try {
        assert.equal(ws.protocol, 'sip');
        ws.send(sipRequest(`${transport}-text`, { transport }).toString());
        const { msg, flow } = await h.nextMessage();
        assert.equal(msg.callId, `${transport}-text`);
        assert.equal(flow.transport, transport);
        assert.equal(flow.reliable, true);
        assert.equal(flow.secure, transport === 'wss');
        assert.equal(flow.remote.address, '127.0.0.1');
        assert.equal(flow.local.port, portOf(h.layer, transport));
        const frame = nextFrame(ws);
        flow.send(sipResponse(`${transport}-text`));
        const { data, isBinary } = await frame;
        assert.equal(isBinary, false, 'SIP text goes out as a text frame, as SIP.js expects');
        assert.match(data.toString(), /^SIP\/2\.0 200 OK\r\n/);
      } finally {
        ws.terminate();
        await h.stop();
      }
    });

    it('accepts a SIP message in a binary frame', async () => {
      const h = await start();
      const ws = await open(url(h), ['sip'], ca);
      try {
        ws.send(sipRequest(`${transport}-binary`), { binary: true });
        assert.equal((await h.nextMessage()).msg.callId, `${transport}-binary`);
      } finally {
        ws.terminate();
        await h.stop();
      }
    });

    it('answers a CRLFCRLF keepalive with CRLF (RFC 7118 §6)', async () => {
      const h = await start();
      const ws = await open(url(h), ['sip'], ca);
      try {
        const frame = nextFrame(ws);
        ws.send('\r\n\r\n');
        assert.equal((await frame).data.toString(), '\r\n');
        assert.equal(h.deliveries.length, 0, 'a keepalive is not handed to the SIP layer');
      } finally {
        ws.terminate();
        await h.stop();
      }
    });

    it('refuses an upgrade without the sip subprotocol', async () => {
      const h = await start();
      try {
        for (const protocols of [[], ['chat']]) {
          const ws = new WebSocket(url(h), protocols, ca !== undefined ? { ca } : {});
          ws.on('error', () => {});
          const [, res] = (await once(ws, 'unexpected-response')) as [unknown, IncomingMessage];
          assert.equal(res.statusCode, 400);
          res.resume();
          ws.terminate();
        }
        assert.equal(h.layer.flows.size, 0);
      } finally {
        await h.stop();
      }
    });

    it('closes a WebSocket whose message exceeds maxWsPayloadBytes (1009) and keeps serving', async () => {
      const h = await start({ maxMessageBytes: 1000 });
      const big = await open(url(h), ['sip'], ca);
      big.on('error', () => {});
      const ok = await open(url(h), ['sip'], ca);
      try {
        const code = closed(big);
        big.send(sipRequest('too-big', { body: 'x'.repeat(2000) }).toString());
        assert.equal(await code, 1009);
        ok.send(sipRequest(`${transport}-still`).toString());
        assert.equal((await h.nextMessage()).msg.callId, `${transport}-still`);
      } finally {
        big.terminate();
        ok.terminate();
        await h.stop();
      }
    });

    it('closes a WebSocket that sends no SIP within handshakeTimeoutMs', async () => {
      const h = await start({ handshakeTimeoutMs: 200 });
      const ws = await open(url(h), ['sip'], ca);
      try {
        assert.equal(await closed(ws), 1000);
      } finally {
        ws.terminate();
        await h.stop();
      }
    });

    it('closes a connection that never sends its HTTP request within handshakeTimeoutMs', async () => {
      const h = await start({ handshakeTimeoutMs: 300 });
      const port = portOf(h.layer, transport);
      const socket: Socket = transport === 'wss' ? tlsConnect({ host: '127.0.0.1', port, ca, servername: 'localhost' }) : netConnect({ host: '127.0.0.1', port });
      try {
        await once(socket, transport === 'wss' ? 'secureConnect' : 'connect');
        const started = Date.now();
        await once(socket, 'close');
        assert.ok(Date.now() - started < 5000, 'closed by the SBC, not left open');
      } finally {
        socket.destroy();
        await h.stop();
      }
    });

    it('pings the peer and drops one that stops answering', async () => {
      const h = await start({ wsPingIntervalMs: 50 });
      // A hand-made client that completes the upgrade, sends one SIP message, then never answers a ping.
      const raw = await rawUpgrade(transport, portOf(h.layer, transport), ca);
      try {
        raw.socket.write(maskedTextFrame(sipRequest(`${transport}-mute`)));
        const { flow } = await h.nextMessage();
        await once(raw.socket, 'close');
        let d = await h.deliveries.next();
        while (d.kind !== 'closed') d = await h.deliveries.next();
        assert.equal(d.flow, flow);
        assert.equal(flow.closed, true);
        assert.ok(raw.received().includes(0x89), 'the server sent a ping frame first');
      } finally {
        raw.socket.destroy();
        await h.stop();
      }
    });

    it('serves ordinary HTTP requests through the injected handler', async () => {
      const h = await start();
      try {
        const res = await new Promise<IncomingMessage>((resolve, reject) => {
          const req = httpGetFor(transport)(`${url(h)}`, ca !== undefined ? { ca } : {}, resolve);
          req.on('error', reject);
        });
        const chunks: Buffer[] = [];
        for await (const c of res) chunks.push(c as Buffer);
        assert.equal(res.statusCode, 200);
        assert.equal(Buffer.concat(chunks).toString(), '<h1>phone</h1>');
      } finally {
        await h.stop();
      }
    });
  });
}

describe('WS listener without an HTTP handler', { timeout: 20_000 }, () => {
  it('answers plain HTTP requests with 404', async () => {
    const h = await startHarness([{ transport: 'ws' }]);
    try {
      const res = await new Promise<IncomingMessage>((resolve, reject) => {
        httpGet(`http://127.0.0.1:${portOf(h.layer, 'ws')}/`, resolve).on('error', reject);
      });
      res.resume();
      assert.equal(res.statusCode, 404);
    } finally {
      await h.stop();
    }
  });
});

function httpGetFor(transport: 'ws' | 'wss') {
  return (u: string, opts: { ca?: string }, cb: (res: IncomingMessage) => void) => {
    const target = u.replace(/^ws/, 'http');
    if (transport === 'ws') return httpGet(target, cb);
    return httpsGet(target, opts, cb);
  };
}

/** Upgrade by hand so the test controls every byte the client sends. */
async function rawUpgrade(transport: 'ws' | 'wss', port: number, ca?: string): Promise<{ socket: Socket; received: () => Buffer }> {
  const socket: Socket = transport === 'wss' ? tlsConnect({ host: '127.0.0.1', port, ...(ca !== undefined ? { ca } : {}) }) : netConnect({ host: '127.0.0.1', port });
  socket.on('error', () => {});
  await once(socket, transport === 'wss' ? 'secureConnect' : 'connect');
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.write(
    'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: sip\r\n\r\n`,
  );
  while (!Buffer.concat(chunks).includes('\r\n\r\n')) await once(socket, 'data');
  assert.match(Buffer.concat(chunks).toString('latin1'), /^HTTP\/1\.1 101 /);
  return { socket, received: () => Buffer.concat(chunks) };
}

/** One masked text frame (RFC 6455 §5.2), as a client must send it. */
function maskedTextFrame(payload: Buffer): Buffer {
  const mask = randomBytes(4);
  const header = payload.length < 126 ? Buffer.from([0x81, 0x80 | payload.length]) : Buffer.from([0x81, 0x80 | 126, payload.length >> 8, payload.length & 0xff]);
  const body = Buffer.from(payload.map((b, i) => b ^ (mask[i % 4] ?? 0)));
  return Buffer.concat([header, mask, body]);
}
