/**
 * SIGTERM as users see it, on the real CLI: an idle gateway that has just
 * answered an OPTIONS (its server transaction still in Timer J) exits 0
 * promptly; a call in progress holds the drain until its BYE while new calls
 * get 503 + Retry-After; a second signal exits at once.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { startCliGateway } from '../../helpers/cli-gateway.js';
import { rand, request, response, SipPeer } from '../../helpers/sip-peer.js';
import type { SipRequest } from '../../../src/sip/message.js';

const dir = mkdtempSync(join(tmpdir(), 'sbc-drain-'));
after(() => rmSync(dir, { recursive: true, force: true }));

interface Gateway { child: ChildProcess; udpPort: number; exited: Promise<{ code: number | null; at: number }>; lines: string[] }

async function startGateway(name: string, extra: string): Promise<Gateway> {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, `listen:
  - { transport: udp, address: 127.0.0.1, port: 0 }
admin: { listen: "127.0.0.1:0" }
web: { enabled: false }
security: { blockedUserAgents: [], rateLimit: { requestsPerSecondPerIp: 0 } }
${extra}`);
  const g = await startCliGateway(file);
  return { child: g.child, udpPort: g.udpPort, exited: g.exited, lines: g.lines };
}

/** Resolves with the exit if it comes within `ms`, else undefined (the process keeps running). */
const exitWithin = (g: Gateway, ms: number): Promise<{ code: number | null; at: number } | undefined> =>
  Promise.race([g.exited, new Promise<undefined>((r) => setTimeout(() => r(undefined), ms))]);

describe('drain on SIGTERM (real CLI)', () => {
  test('an idle gateway that answered one OPTIONS exits 0 right away, not after Timer J', async () => {
    const g = await startGateway('idle', 'shutdown: { drainSeconds: 30 }\n');
    const client = await SipPeer.udp();
    try {
      const to = { address: '127.0.0.1', port: g.udpPort };
      client.send(request({ method: 'OPTIONS', uri: `sip:127.0.0.1:${g.udpPort}`, sentBy: `127.0.0.1:${client.address.port}` }), to);
      await client.nextResponse(200, 'OPTIONS');
      const sent = Date.now();
      g.child.kill('SIGTERM');
      // Generous but meaningful: before the fix it took 32 s (Timer J), the config allows 30.
      const exit = await exitWithin(g, 5000);
      assert.ok(exit !== undefined, `still running 5 s after SIGTERM: ${g.lines.slice(-3).join('\n')}`);
      assert.equal(exit.code, 0);
      assert.ok(exit.at - sent < 5000);
    } finally {
      client.close();
      g.child.kill('SIGKILL');
    }
  });

  test('a call in progress holds the drain until its BYE; new calls get 503 meanwhile; then exit 0', async () => {
    const backend = await SipPeer.udp();
    let invite: { req: SipRequest; from: { address: string; port: number } } | undefined;
    backend.onMessage = (r, p) => {
      if (r.msg.kind !== 'request') return;
      if (r.msg.method === 'INVITE') {
        invite = { req: r.msg, from: r.from };
        p.send(response(r.msg, 180, 'Ringing', { toTag: 'uas1' }), r.from);
      } else if (r.msg.method === 'BYE') p.send(response(r.msg, 200, 'OK'), r.from);
    };
    const g = await startGateway('call', `shutdown: { drainSeconds: 30 }
backends:
  default: { probe: { intervalSeconds: 0 }, targets: [{ uri: "sip:127.0.0.1:${backend.address.port};transport=udp" }] }
`);
    const client = await SipPeer.udp();
    try {
      const to = { address: '127.0.0.1', port: g.udpPort };
      const callId = rand(8);
      const sentBy = `127.0.0.1:${client.address.port}`;
      client.send(request({ method: 'INVITE', uri: 'sip:bob@example.com', sentBy, callId, fromTag: 'a1', contact: `<sip:alice@${sentBy}>` }), to);
      await client.nextResponse(180, 'INVITE');
      g.child.kill('SIGTERM');
      assert.equal(await exitWithin(g, 1500), undefined, 'a ringing call (pending INVITE) holds the drain');

      const other = rand(8);
      client.send(request({ method: 'INVITE', uri: 'sip:bob@example.com', sentBy, callId: other }), to);
      const refused = await client.next((r) => r.msg.kind === 'response' && r.msg.callId === other && r.msg.status >= 200);
      assert.equal(refused.msg.kind === 'response' && refused.msg.status, 503);
      assert.ok(refused.msg.headers.get('retry-after') !== undefined, 'with Retry-After');

      // The call is answered: now the established dialog holds the drain.
      backend.send(response(invite!.req, 200, 'OK', { toTag: 'uas1', headers: [`Contact: <sip:uas@127.0.0.1:${backend.address.port}>`] }), invite!.from);
      const ok = await client.nextResponse(200, 'INVITE');
      const routeSet = ok.msg.headers.values('record-route').reverse();
      const inDialog = (method: string, cseq: number): string => request({
        method, uri: `sip:uas@127.0.0.1:${backend.address.port}`, sentBy, callId, fromTag: 'a1', toTag: 'uas1', cseq,
        headers: routeSet.map((r) => `Route: ${r}`),
      });
      client.send(inDialog('ACK', 1), to);
      assert.equal(await exitWithin(g, 1500), undefined, 'an established call holds the drain');

      const byeAt = Date.now();
      client.send(inDialog('BYE', 2), to);
      await client.nextResponse(200, 'BYE');
      const exit = await exitWithin(g, 5000);
      assert.ok(exit !== undefined, 'exits once the call has ended');
      assert.equal(exit.code, 0);
      assert.ok(exit.at >= byeAt);
    } finally {
      client.close();
      backend.close();
      g.child.kill('SIGKILL');
    }
  });

  test('a second signal exits at once, calls or not', async () => {
    const backend = await SipPeer.udp();
    backend.onMessage = (r, p) => {
      if (r.msg.kind === 'request' && r.msg.method === 'INVITE') p.send(response(r.msg, 180, 'Ringing', { toTag: 'uas1' }), r.from);
    };
    const g = await startGateway('twice', `shutdown: { drainSeconds: 60 }
backends:
  default: { probe: { intervalSeconds: 0 }, targets: [{ uri: "sip:127.0.0.1:${backend.address.port};transport=udp" }] }
`);
    const client = await SipPeer.udp();
    try {
      const sentBy = `127.0.0.1:${client.address.port}`;
      client.send(request({ method: 'INVITE', uri: 'sip:bob@example.com', sentBy }), { address: '127.0.0.1', port: g.udpPort });
      await client.nextResponse(180, 'INVITE');
      g.child.kill('SIGTERM');
      assert.equal(await exitWithin(g, 1000), undefined, 'the first signal drains');
      g.child.kill('SIGINT');
      const exit = await exitWithin(g, 5000);
      assert.ok(exit !== undefined, 'the second signal does not wait for the call');
      assert.equal(exit.code, 0);
    } finally {
      client.close();
      backend.close();
      g.child.kill('SIGKILL');
    }
  });
});
