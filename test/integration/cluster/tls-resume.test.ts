/**
 * workers: 2 with TLS and WSS listeners: connections are spread round-robin
 * over the workers, and the session-ticket keys are the supervisor's, so a
 * client that reconnects with its session resumes it at whichever worker it
 * reaches (no full handshake).
 */
import assert from 'node:assert/strict';
import { connect, type TLSSocket } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { startClusterSbc, type ClusterSbc } from '../../helpers/sbc-cluster.js';

/** One TLS connection: resumed or not, and the session to resume next time. */
async function handshake(port: number, session: Buffer | undefined): Promise<{ reused: boolean; session: Buffer | undefined }> {
  const socket: TLSSocket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...(session !== undefined ? { session } : {}) });
  let ticket: Buffer | undefined;
  socket.on('session', (s: Buffer) => { ticket = s; });
  await new Promise<void>((resolve, reject) => { socket.once('secureConnect', () => resolve()); socket.once('error', reject); });
  const reused = socket.isSessionReused();
  // TLS 1.3 sends its tickets after the handshake.
  const deadline = Date.now() + 2000;
  while (ticket === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  socket.destroy();
  return { reused, session: ticket ?? session };
}

describe('workers: 2, TLS session resumption', () => {
  let sbc: ClusterSbc;
  before(async () => {
    sbc = await startClusterSbc(2, '', { tls: true, wss: true });
  });
  after(async () => {
    await sbc?.stop();
  });

  for (const listener of ['tls', 'wss'] as const) {
    test(`${listener}: a session resumes on every reconnection, whichever worker takes it`, async () => {
      const port = listener === 'tls' ? sbc.tlsPort : sbc.wssPort;
      let { session } = await handshake(port, undefined);
      assert.ok(session !== undefined, 'the first connection got a session ticket');
      // Round-robin: consecutive connections alternate between the two workers.
      for (let i = 0; i < 6; i++) {
        const next = await handshake(port, session);
        assert.ok(next.reused, `reconnection ${i + 1} resumed its session`);
        session = next.session;
      }
    });
  }
});
