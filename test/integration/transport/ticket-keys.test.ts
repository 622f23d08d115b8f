/**
 * TLS session resumption across gateways that share the flow-token secret
 * (workers, or nodes): a session ticket one listener issued resumes on the
 * other, over TLS and WSS; with another secret it does not.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type TLSSocket } from 'node:tls';
import { describe, it } from 'node:test';
import type { TransportProtocol } from '../../../src/transport/flow.js';
import { ticketKeys, TICKET_KEY_PERIOD_MS } from '../../../src/transport/ticket-keys.js';
import { testCert } from '../../helpers/test-cert.js';
import { portOf, startHarness } from './harness.js';

/** A TLS 1.3 connection and the session ticket it got. */
async function session(port: number, ca: string | Buffer): Promise<{ socket: TLSSocket; ticket: Buffer }> {
  const socket = connect({ host: '127.0.0.1', port, ca });
  socket.on('error', () => undefined);
  // TLS 1.3 tickets come after the handshake: the socket must be read.
  socket.resume();
  const [ticket] = (await once(socket, 'session')) as [Buffer];
  return { socket, ticket };
}

/** A connection offering `ticket`; resolves once the handshake is done. */
async function resumeWith(port: number, ca: string | Buffer, ticket: Buffer): Promise<TLSSocket> {
  const socket = connect({ host: '127.0.0.1', port, ca, session: ticket });
  socket.on('error', () => undefined);
  await once(socket, 'secureConnect');
  return socket;
}

describe('shared TLS session-ticket keys', { timeout: 20_000 }, () => {
  for (const transport of ['tls', 'wss'] as const satisfies readonly TransportProtocol[]) {
    it(`${transport}: a ticket from one listener resumes on another with the same secret, not on one with another secret`, async (t) => {
      const cert = testCert();
      const a = await startHarness([{ transport }], { tls: cert, flowTokenSecret: 'shared-secret-of-both-workers-0123' });
      const b = await startHarness([{ transport }], { tls: cert, flowTokenSecret: 'shared-secret-of-both-workers-0123' });
      const c = await startHarness([{ transport }], { tls: cert, flowTokenSecret: 'another-secret-entirely-0123456789' });
      t.after(async () => { await a.stop(); await b.stop(); await c.stop(); });
      const first = await session(portOf(a.layer, transport), cert.cert);
      first.socket.destroy();
      const onB = await resumeWith(portOf(b.layer, transport), cert.cert, first.ticket);
      assert.equal(onB.isSessionReused(), true, 'resumed on the other listener');
      onB.destroy();
      const onC = await resumeWith(portOf(c.layer, transport), cert.cert, first.ticket);
      assert.equal(onC.isSessionReused(), false, 'another secret: a full handshake');
      onC.destroy();
    });
  }

  it('keys change from one period to the next and are 48 bytes', () => {
    const key = Buffer.alloc(32, 7);
    const now = ticketKeys(key, 1000);
    assert.equal(now.length, 48);
    assert.deepEqual(ticketKeys(key, 1000), now);
    assert.notDeepEqual(ticketKeys(key, 1001), now);
    assert.ok(TICKET_KEY_PERIOD_MS >= 3600_000);
  });
});
