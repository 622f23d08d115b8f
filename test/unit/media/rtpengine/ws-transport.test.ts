import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { WebSocketServer, type WebSocket } from 'ws';
import { NgClient } from '../../../../src/media/rtpengine/ng-client.js';
import { NG_WS_SUBPROTOCOL } from '../../../../src/media/rtpengine/ws-transport.js';

describe('NgClient over WebSocket (scripted engine)', () => {
  it('offers the ng subprotocol, reconnects after the engine drops the connection, and resends with the same cookie', async (t) => {
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: (protocols) => (protocols.has(NG_WS_SUBPROTOCOL) ? NG_WS_SUBPROTOCOL : false) });
    await once(server, 'listening');
    const port = (server.address() as { port: number }).port;
    const received: string[] = [];
    const protocols: string[] = [];
    server.on('connection', (socket: WebSocket) => {
      protocols.push(socket.protocol);
      socket.on('message', (data: Buffer) => {
        received.push(data.toString('latin1'));
        const cookie = data.toString('latin1', 0, data.indexOf(0x20));
        // The first connection dies on its first message; later ones answer.
        if (protocols.length === 1) socket.terminate();
        else socket.send(Buffer.from(`${cookie} d6:result4:ponge`));
      });
    });
    const client = new NgClient(`ws://127.0.0.1:${port}`, { timeoutMs: 150, tries: 4 });
    t.after(() => {
      client.close();
      server.close();
    });
    await client.ping();
    assert.deepEqual(protocols, [NG_WS_SUBPROTOCOL, NG_WS_SUBPROTOCOL]);
    assert.ok(received.length >= 2);
    assert.ok(received.every((m) => m === received[0]), 'a resend changed the message or its cookie');
  });
});
