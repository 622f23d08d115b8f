/**
 * The WS listener's handshake hook (HandshakeCheck) with real sockets: a
 * refusal is an HTTP response with the verdict's status and headers and no
 * flow; a check still pending when the peer gives up or the listener stops
 * opens nothing; refused and abandoned handshakes give their per-IP
 * connection slot back; the user a verdict names is the flow's boundUser;
 * a check that throws is a 500, not a crash.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import WebSocket from 'ws';
import type { HandshakeCheck, HandshakeVerdict } from '../../../src/transport/ws-handshake.js';
import { portOf, sipRequest, startHarness, type Harness } from './harness.js';

type Outcome = { status: number; headers: Record<string, string | string[] | undefined> } | { status: 'open'; ws: WebSocket };

function attempt(port: number): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`, ['sip']);
    ws.once('open', () => resolve({ status: 'open', ws }));
    ws.once('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode ?? 0, headers: res.headers });
      res.resume();
      ws.terminate();
    });
    ws.once('error', reject);
  });
}

/** A check answered by the test: each call waits until the test settles it. */
class ManualCheck implements HandshakeCheck {
  readonly pending: Array<(v: HandshakeVerdict | Error) => void> = [];
  check(): Promise<HandshakeVerdict> {
    return new Promise((resolve, reject) => this.pending.push((v) => (v instanceof Error ? reject(v) : resolve(v))));
  }
  async next(): Promise<(v: HandshakeVerdict | Error) => void> {
    while (this.pending.length === 0) await new Promise((r) => setTimeout(r, 5));
    return this.pending.shift()!;
  }
}

const withHarness = async (check: HandshakeCheck, body: (h: Harness, port: number) => Promise<void>, limits = {}): Promise<void> => {
  const h = await startHarness([{ transport: 'ws' }], { handshake: check, limits });
  try {
    await body(h, portOf(h.layer, 'ws'));
  } finally {
    await h.stop();
  }
};

describe('WS handshake hook', { timeout: 20_000 }, () => {
  it('sends a refusal with the verdict\'s status and headers, and an accepted flow carries the verdict\'s user', async () => {
    let verdict: HandshakeVerdict = { ok: false, status: 401, reason: 'token-missing', headers: { 'WWW-Authenticate': 'Bearer realm="sip"' } };
    await withHarness({ check: () => verdict }, async (h, port) => {
      const refused = await attempt(port);
      assert.equal(refused.status, 401);
      assert.equal((refused as { headers: Record<string, unknown> }).headers['www-authenticate'], 'Bearer realm="sip"');
      verdict = { ok: false, status: 403, reason: 'origin-not-allowed' };
      assert.equal((await attempt(port)).status, 403);
      assert.equal(h.layer.flows.size, 0, 'no flow for a refused handshake');
      verdict = { ok: true, user: 'alice' };
      const open = await attempt(port);
      assert.equal(open.status, 'open');
      if (open.status !== 'open') return;
      open.ws.send(sipRequest('bound', { transport: 'ws' }).toString());
      const { flow } = await h.nextMessage();
      assert.equal(flow.boundUser, 'alice');
      open.ws.terminate();
    });
  });

  it('gives the per-IP slot back for refused handshakes and for peers that leave while their check is pending', async () => {
    const check = new ManualCheck();
    await withHarness(check, async (h, port) => {
      for (let i = 0; i < 4; i++) {
        const a = attempt(port);
        (await check.next())({ ok: false, status: 401, reason: 'token-missing' });
        assert.equal((await a).status, 401);
      }
      // A peer that gives up before its check is answered; the check then says yes.
      const leaving = new WebSocket(`ws://127.0.0.1:${port}/`, ['sip']);
      const gone = new Promise((resolve) => leaving.once('error', resolve));
      const settle = await check.next();
      leaving.terminate();
      await gone;
      // Time for the gateway to see the connection close.
      await new Promise((r) => setTimeout(r, 100));
      settle({ ok: true, user: 'ghost' });
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(h.layer.flows.size, 0, 'nothing opened for a peer that left');
      // With maxConnectionsPerIp 2, two handshakes at once still fit: no slot leaked above.
      const [a, b] = [attempt(port), attempt(port)];
      (await check.next())({ ok: true });
      (await check.next())({ ok: true });
      const both = await Promise.all([a, b]);
      assert.deepEqual(both.map((o) => o.status), ['open', 'open']);
      for (const o of both) if (o.status === 'open') o.ws.terminate();
    }, { maxConnectionsPerIp: 2 });
  });

  it('answers 500 when the check throws, and the listener goes on', async () => {
    const check = new ManualCheck();
    await withHarness(check, async (_h, port) => {
      const a = attempt(port);
      (await check.next())(new Error('key store unreachable'));
      assert.equal((await a).status, 500);
      const b = attempt(port);
      (await check.next())({ ok: true });
      const open = await b;
      assert.equal(open.status, 'open');
      if (open.status === 'open') open.ws.terminate();
    });
  });

  it('opens nothing for a check answered after the listener stopped', async () => {
    const check = new ManualCheck();
    const h = await startHarness([{ transport: 'ws' }], { handshake: check });
    const port = portOf(h.layer, 'ws');
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`, ['sip']);
    const ended = new Promise<string>((resolve) => {
      ws.once('open', () => resolve('open'));
      ws.once('error', () => resolve('error'));
      ws.once('close', () => resolve('closed'));
    });
    const settle = await check.next();
    await h.stop();
    settle({ ok: true, user: 'late' });
    assert.notEqual(await ended, 'open');
    assert.equal(h.layer.flows.size, 0);
  });
});
