/**
 * Honest backend health over real sockets: a backend whose answers wait
 * behind our own blocked event loop is not marked down (the call fails over
 * and completes), while a backend that is genuinely silent still is.
 * Probes are off, as with SIPp backends: only relayed requests judge.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { rand, request, response, SipPeer } from '../../helpers/sip-peer.js';
import { startSbc, startSbcInProcess, type TestSbc } from '../../helpers/sbc.js';

async function uas(silent: () => boolean): Promise<SipPeer> {
  const peer = await SipPeer.udp();
  peer.onMessage = (r, p) => {
    if (r.msg.kind !== 'request') return;
    const req = r.msg;
    if (req.method === 'INVITE') {
      if (silent()) return;
      p.send(response(req, 100, 'Trying'), r.from);
      p.send(response(req, 200, 'OK', { toTag: 'uas' + rand(3), headers: [`Contact: <sip:uas@127.0.0.1:${peer.address.port}>`] }), r.from);
    } else if (req.method !== 'ACK') p.send(response(req, 200, 'OK', { toTag: 'u' }), r.from);
  };
  return peer;
}

const config = (a: SipPeer, b: SipPeer): Record<string, unknown> => ({
  backends: {
    default: {
      algorithm: 'priority',
      probe: { intervalSeconds: 0, failuresToDown: 1 },
      targets: [a, b].map((p, i) => ({ uri: `sip:127.0.0.1:${p.address.port};transport=udp`, priority: i })),
    },
  },
  timers: { t1Ms: 50 },
  proxy: { failoverTimeoutMs: 300 },
});

/** A backend target as GET /api/backends shows it (with workers, up only where every worker sees it up). */
async function backendTarget(sbc: TestSbc, port: number): Promise<{ up: boolean; reason: string | null }> {
  const res = await fetch(`${sbc.adminUrl}/api/backends`);
  const body = (await res.json()) as { groups: Array<{ targets: Array<{ port: number; up: boolean; reason: string | null }> }> };
  const t = body.groups[0]?.targets.find((x) => x.port === port);
  if (t === undefined) throw new Error(`no target on port ${port} in GET /api/backends: ${JSON.stringify(body)}`);
  return t;
}

/** Keep the whole process busy: our loop (and the in-process backend) cannot read a datagram meanwhile. */
function blockLoop(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end) { /* busy */ }
}

describe('backend health under our own lateness', () => {
  for (const [name, blocked] of [['our loop blocked: the answering backend stays up', true], ['a genuinely silent backend is marked down', false]] as const) {
    test(name, async () => {
      const a = await uas(() => !blocked);
      const b = await uas(() => false);
      // Blocking "our" loop means blocking the gateway's: it must share this process's event loop.
      const sbc = blocked ? await startSbcInProcess(config(a, b)) : await startSbc(config(a, b));
      const client = await SipPeer.udp();
      try {
        const sbcUdp = { address: '127.0.0.1', port: sbc.listener('udp').boundPort };
        await new Promise((r) => setTimeout(r, 400)); // start-up stalls are older than the call
        const call = (id: string): void => client.send(request({ method: 'INVITE', uri: 'sip:bob@example.com', sentBy: `127.0.0.1:${client.address.port}`, callId: id }), sbcUdp);
        const targetA = () => backendTarget(sbc, a.address.port);
        if (!blocked) {
          // A busy test machine may stall us during one call (then it is rightly excused): a few calls, each must complete via B.
          for (let i = 0; i < 5 && (await targetA()).up; i++) {
            const id = rand(8);
            call(id);
            const done = await client.next((r) => r.msg.kind === 'response' && r.msg.callId === id && r.msg.status >= 200, 8000);
            assert.equal(done.msg.kind === 'response' && done.msg.status, 200, 'the call completes through B');
            assert.equal(b.count((r) => r.msg.kind === 'request' && r.msg.method === 'INVITE' && r.msg.callId === id), 1, 'failed over to B');
          }
          const down = await targetA();
          assert.equal(down.up, false, 'silence while we were fine counts');
          assert.match(down.reason ?? '', /request timed out/);
          return;
        }
        const callId = rand(8);
        call(callId);
        // A answers at once, but its answer waits in our receive queue behind the stall: our
        // failover timer fires first (timers run before I/O), the call moves to B.
        await a.nextRequest('INVITE', 3000);
        blockLoop(1000);
        const final = await client.next((r) => r.msg.kind === 'response' && r.msg.callId === callId && r.msg.status >= 200, 8000);
        assert.equal(final.msg.kind === 'response' && final.msg.status, 200, 'the call completes');
        const kept = await targetA();
        assert.equal(kept.up, true, `not blamed for our lateness: ${kept.reason ?? ''}`);
      } finally {
        client.close();
        a.close();
        b.close();
        await sbc.stop();
      }
    });
  }
});
