/**
 * The stateful proxy end to end over real sockets: a scripted client outside,
 * the SBC in the middle, scripted UASes as the backend group. Assertions are
 * on what the far ends saw (PROTOCOLS.md §4 must-pass list).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { SipRequest } from '../../../src/sip/message.js';
import { rand, request, response, SipPeer, uacRouteSet, uasRouteSet, type Received } from '../../helpers/sip-peer.js';
import { startSbc, type TestSbc } from '../../helpers/sbc.js';

interface Uas {
  peer: SipPeer;
  uri: string;
  /** What to do with INVITEs: answer flow, or stay silent. */
  mode: 'answer' | 'busy' | 'ring' | 'silent';
}

/** A scripted UAS: OPTIONS 200, INVITE per mode, BYE 200, CANCEL 200 + 487. */
async function uas(mode: Uas['mode'] = 'answer'): Promise<Uas> {
  const peer = await SipPeer.udp();
  const u: Uas = { peer, uri: `sip:127.0.0.1:${peer.address.port};transport=udp`, mode };
  const pending = new Map<string, SipRequest>();
  peer.onMessage = (r, p) => {
    if (r.msg.kind !== 'request') return;
    const req = r.msg;
    const tag = 'uas' + rand(3);
    if (req.method === 'OPTIONS' || req.method === 'BYE' || req.method === 'REGISTER' || req.method === 'MESSAGE') {
      p.send(response(req, 200, 'OK', { toTag: tag }), r.from);
    } else if (req.method === 'INVITE') {
      if (u.mode === 'silent') return;
      p.send(response(req, 100, 'Trying'), r.from);
      if (u.mode === 'busy') { p.send(response(req, 486, 'Busy Here', { toTag: tag }), r.from); return; }
      p.send(response(req, 180, 'Ringing', { toTag: tag }), r.from);
      if (u.mode === 'ring') { pending.set(req.callId ?? '', req); return; }
      p.send(response(req, 200, 'OK', { toTag: tag, headers: [`Contact: <sip:uas@127.0.0.1:${peer.address.port}>`] }), r.from);
    } else if (req.method === 'CANCEL') {
      p.send(response(req, 200, 'OK', { toTag: tag }), r.from);
      const inv = pending.get(req.callId ?? '');
      if (inv !== undefined) p.send(response(inv, 487, 'Request Terminated', { toTag: tag }), r.from);
    }
  };
  return u;
}

const isReq = (m: string) => (r: Received) => r.msg.kind === 'request' && r.msg.method === m;

/** GET /api/backends: with workers, a target is up only where every worker sees it up. */
async function backendsView(sbc: TestSbc): Promise<{ groups: Array<{ targets: Array<{ uri: string; up: boolean }> }> }> {
  const res = await fetch(`${sbc.adminUrl}/api/backends`);
  assert.equal(res.status, 200);
  return (await res.json()) as { groups: Array<{ targets: Array<{ uri: string; up: boolean }> }> };
}

function backends(...targets: Uas[]): Record<string, unknown> {
  return {
    default: {
      algorithm: 'round-robin',
      probe: { method: 'OPTIONS', intervalSeconds: 0.2, failuresToDown: 1, successesToUp: 1, timeoutMs: 150 },
      targets: targets.map((t) => ({ uri: t.uri, weight: 1, priority: 0 })),
    },
  };
}

describe('proxy core over UDP', () => {
  let sbc: TestSbc;
  let backend: Uas;
  let client: SipPeer;
  let sbcUdp: { address: string; port: number };

  before(async () => {
    backend = await uas();
    sbc = await startSbc({ backends: backends(backend), timers: { t1Ms: 50 }, proxy: { failoverTimeoutMs: 300 } });
    sbcUdp = { address: '127.0.0.1', port: sbc.listener('udp').boundPort };
    client = await SipPeer.udp();
  });
  after(async () => {
    client.close();
    backend.peer.close();
    await sbc.stop();
  });

  const invite = (callId: string, branch: string, extra: Partial<Parameters<typeof request>[0]> = {}): string =>
    request({ method: 'INVITE', uri: 'sip:bob@example.com', sentBy: `127.0.0.1:${client.address.port}`, branch, callId, fromTag: 'a1', contact: `<sip:alice@127.0.0.1:${client.address.port}>`, ...extra });

  test('INVITE: 100 Trying, retransmission absorbed, forwarded with our Via, Max-Forwards − 1 and Record-Route', async () => {
    // The backend holds its answer until the retransmission was seen: a retransmission that crosses the
    // backend's 180 or 200 gets the 180 back, or nothing once the 2xx passed (RFC 6026 Accepted).
    backend.mode = 'silent';
    const callId = rand(8);
    const branch = `z9hG4bK${rand()}`;
    client.send(invite(callId, branch), sbcUdp);
    const trying = await client.nextResponse(100, 'INVITE');
    assert.equal(trying.msg.callId, callId);
    const inv = await backend.peer.next((r) => isReq('INVITE')(r) && r.msg.callId === callId);
    client.send(invite(callId, branch), sbcUdp); // retransmission
    const again = await client.nextResponse(100, 'INVITE');
    assert.equal(again.msg.callId, callId, '100 resent to the retransmission');
    const top = inv.msg.topVia()!;
    assert.equal(top.host, sbc.listener('udp').address, 'our Via');
    assert.ok(sbc.ports('udp').includes(top.port ?? 0), `our Via names a UDP port of ours (${top.port})`);
    assert.match(top.params.get('branch') ?? '', /^z9hG4bK/);
    assert.notEqual(top.params.get('branch'), branch);
    assert.equal(inv.msg.vias()!.length, 2);
    assert.equal(inv.msg.vias()![1]!.params.get('received'), '127.0.0.1', 'rport/received forced on the client Via');
    assert.equal(inv.msg.vias()![1]!.params.get('rport'), String(client.address.port));
    assert.equal(inv.msg.maxForwards(), 69);
    const rr = inv.msg.recordRoutes()!;
    if (sbc.workers === 1) assert.equal(rr.length, 1, 'one Record-Route when the request stays on one listener');
    else {
      // A worker sends to backends from its own port, another listener than the shared one the client
      // sent to: one entry for each (RFC 5658), the upper one (toward the backend) naming the worker's port.
      assert.equal(rr.length, 2, 'two Record-Routes: the request left from the worker\'s own port');
      assert.equal(rr[1]!.uri.port, sbcUdp.port, 'the lower entry names the listener the client used');
      assert.ok(rr[0]!.uri.port !== sbcUdp.port && sbc.ports('udp').includes(rr[0]!.uri.port ?? 0), `the upper entry names the worker's own port (${rr[0]!.uri.port})`);
    }

    const uasTag = 'uas' + rand(3);
    backend.peer.send(response(inv.msg as SipRequest, 180, 'Ringing', { toTag: uasTag }), inv.from);
    backend.peer.send(response(inv.msg as SipRequest, 200, 'OK', { toTag: uasTag, headers: [`Contact: <sip:uas@127.0.0.1:${backend.peer.address.port}>`] }), inv.from);
    const ok = await client.nextResponse(200, 'INVITE');
    assert.equal(ok.msg.vias()!.length, 1, 'our Via is stripped from responses');
    await new Promise((r) => setTimeout(r, 100));
    // The backend may have heard our own Timer A retransmissions (T1 50 ms here, one branch: ours); a forwarded
    // retransmission of the client's would be a second client transaction, with a branch of its own.
    const ourBranch = top.params.get('branch');
    const invites = backend.peer.received.filter((r) => isReq('INVITE')(r) && r.msg.callId === callId);
    assert.deepEqual([...new Set(invites.map((r) => r.msg.topVia()?.params.get('branch')))], [ourBranch], 'retransmission not forwarded');

    // ACK for the 2xx: end to end with its own branch, through our Record-Route.
    const routes = uacRouteSet(ok.msg);
    const toTag = ok.msg.to()!.params.get('tag')!;
    const ackBranch = `z9hG4bK${rand()}`;
    client.send(request({ method: 'ACK', uri: `sip:uas@127.0.0.1:${backend.peer.address.port}`, sentBy: `127.0.0.1:${client.address.port}`, branch: ackBranch, callId, fromTag: 'a1', toTag, headers: routes.map((r) => `Route: ${r}`) }), sbcUdp);
    const ack = await backend.peer.next((r) => isReq('ACK')(r) && r.msg.callId === callId);
    assert.notEqual(ack.msg.topVia()!.params.get('branch'), inv.msg.topVia()!.params.get('branch'));
    assert.equal(ack.msg.routes()!.length, 0, 'our Route popped');

    // BYE from the backend follows the Record-Route back to the client's 5-tuple.
    const uasRoutes = uasRouteSet(inv.msg);
    backend.peer.send(request({ method: 'BYE', uri: `sip:alice@10.255.255.1:5060`, sentBy: `127.0.0.1:${backend.peer.address.port}`, callId, from: '<sip:bob@example.com>', fromTag: toTag, to: '<sip:alice@example.com>', toTag: 'a1', cseq: 1, headers: uasRoutes.map((r) => `Route: ${r}`) }), sbcUdp);
    const bye = await client.next((r) => isReq('BYE')(r) && r.msg.callId === callId);
    client.send(response(bye.msg as SipRequest, 200, 'OK'), sbcUdp);
    const byeOk = await backend.peer.nextResponse(200, 'BYE');
    assert.equal(byeOk.msg.vias()!.length, 1);
  });

  test('non-2xx: hop-by-hop ACK downstream, upstream ACK absorbed', async () => {
    backend.mode = 'busy';
    const callId = rand(8);
    const branch = `z9hG4bK${rand()}`;
    client.send(invite(callId, branch), sbcUdp);
    const busy = await client.nextResponse(486, 'INVITE');
    const inv = backend.peer.received.find((r) => isReq('INVITE')(r) && r.msg.callId === callId)!;
    const ack = await backend.peer.next((r) => isReq('ACK')(r) && r.msg.callId === callId);
    assert.equal(ack.msg.topVia()!.params.get('branch'), inv.msg.topVia()!.params.get('branch'), 'ACK for non-2xx reuses the INVITE branch');
    assert.equal(ack.msg.to()!.params.get('tag'), busy.msg.to()!.params.get('tag'));
    client.send(request({ method: 'ACK', uri: 'sip:bob@example.com', sentBy: `127.0.0.1:${client.address.port}`, branch, callId, fromTag: 'a1', toTag: busy.msg.to()!.params.get('tag')! }), sbcUdp);
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(backend.peer.count((r) => isReq('ACK')(r) && r.msg.callId === callId), 1, 'the client ACK is absorbed');
  });

  test('CANCEL after 180: 200 upstream, CANCEL downstream with the INVITE branch, 487 upstream', async () => {
    backend.mode = 'ring';
    const callId = rand(8);
    const branch = `z9hG4bK${rand()}`;
    client.send(invite(callId, branch), sbcUdp);
    await client.nextResponse(180, 'INVITE');
    client.send(request({ method: 'CANCEL', uri: 'sip:bob@example.com', sentBy: `127.0.0.1:${client.address.port}`, branch, callId, fromTag: 'a1' }), sbcUdp);
    await client.nextResponse(200, 'CANCEL');
    const cancel = await backend.peer.next((r) => isReq('CANCEL')(r) && r.msg.callId === callId);
    const inv = backend.peer.received.find((r) => isReq('INVITE')(r) && r.msg.callId === callId)!;
    assert.equal(cancel.msg.topVia()!.params.get('branch'), inv.msg.topVia()!.params.get('branch'));
    await client.nextResponse(487, 'INVITE');
  });

  test('CANCEL before any provisional is held until one arrives', async () => {
    backend.mode = 'silent';
    const callId = rand(8);
    const branch = `z9hG4bK${rand()}`;
    client.send(invite(callId, branch), sbcUdp);
    const inv = await backend.peer.next((r) => isReq('INVITE')(r) && r.msg.callId === callId);
    client.send(request({ method: 'CANCEL', uri: 'sip:bob@example.com', sentBy: `127.0.0.1:${client.address.port}`, branch, callId, fromTag: 'a1' }), sbcUdp);
    await client.nextResponse(200, 'CANCEL');
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(backend.peer.count((r) => isReq('CANCEL')(r) && r.msg.callId === callId), 0, 'no CANCEL before a provisional');
    backend.peer.send(response(inv.msg as SipRequest, 180, 'Ringing', { toTag: 'x1' }), inv.from);
    const cancel = await backend.peer.next((r) => isReq('CANCEL')(r) && r.msg.callId === callId);
    backend.peer.send(response(cancel.msg as SipRequest, 200, 'OK', { toTag: 'x1' }), inv.from);
    backend.peer.send(response(inv.msg as SipRequest, 487, 'Request Terminated', { toTag: 'x1' }), inv.from);
    await client.nextResponse(487, 'INVITE');
  });

  test('Max-Forwards 0 → 483; OPTIONS to the SBC itself → 200', async () => {
    client.send(request({ method: 'MESSAGE', uri: 'sip:bob@example.com', sentBy: `127.0.0.1:${client.address.port}`, maxForwards: 0 }), sbcUdp);
    await client.nextResponse(483, 'MESSAGE');
    client.send(request({ method: 'OPTIONS', uri: `sip:${sbc.hostPort('udp')}`, sentBy: `127.0.0.1:${client.address.port}`, maxForwards: 0 }), sbcUdp);
    const ok = await client.nextResponse(200, 'OPTIONS');
    assert.match(ok.msg.headers.get('allow') ?? '', /INVITE/);
  });

  test('malformed request → 400 naming the problem', async () => {
    const text = request({ method: 'INVITE', uri: 'sip:bob@example.com', sentBy: `127.0.0.1:${client.address.port}` }).replace(/CSeq: 1 INVITE/, 'CSeq: 1 BYE');
    client.send(text, sbcUdp);
    const bad = await client.nextResponse(400);
    assert.match(bad.raw, /CSeq/);
  });

  test('silent backend → 408 after Timer B', async () => {
    backend.mode = 'silent';
    const callId = rand(8);
    client.send(invite(callId, `z9hG4bK${rand()}`), sbcUdp);
    const final = await client.next((r) => r.msg.kind === 'response' && r.msg.callId === callId && r.msg.status >= 300, 10_000);
    assert.equal((final.msg as { status: number }).status, 408);
    assert.ok(backend.peer.count((r) => isReq('INVITE')(r) && r.msg.callId === callId) >= 3, 'Timer A retransmits over UDP');
  });
});

describe('forks and Timer C', () => {
  test('every 2xx from a forking downstream reaches the client; each gets its own ACK path', async () => {
    const fork = await SipPeer.udp();
    fork.onMessage = (r, p) => {
      if (r.msg.kind !== 'request') return;
      if (r.msg.method === 'OPTIONS') p.send(response(r.msg, 200, 'OK', { toTag: 'o' }), r.from);
      if (r.msg.method === 'INVITE') {
        // A forking proxy behind us: two branches ring and both answer.
        p.send(response(r.msg, 180, 'Ringing', { toTag: 'fork1' }), r.from);
        p.send(response(r.msg, 180, 'Ringing', { toTag: 'fork2' }), r.from);
        p.send(response(r.msg, 200, 'OK', { toTag: 'fork1', headers: ['Contact: <sip:one@127.0.0.1:1>'] }), r.from);
        p.send(response(r.msg, 200, 'OK', { toTag: 'fork2', headers: ['Contact: <sip:two@127.0.0.1:2>'] }), r.from);
      }
    };
    const sbc = await startSbc({ backends: backends({ peer: fork, uri: `sip:127.0.0.1:${fork.address.port};transport=udp`, mode: 'answer' }), timers: { t1Ms: 50 } });
    const client = await SipPeer.udp();
    try {
      const callId = rand(8);
      client.send(request({ method: 'INVITE', uri: 'sip:bob@example.com', sentBy: `127.0.0.1:${client.address.port}`, callId }), { address: '127.0.0.1', port: sbc.listener('udp').boundPort });
      await client.next((r) => r.msg.kind === 'response' && r.msg.status === 200 && r.msg.to()?.params.get('tag') === 'fork1');
      await client.next((r) => r.msg.kind === 'response' && r.msg.status === 200 && r.msg.to()?.params.get('tag') === 'fork2');
      assert.equal(client.count((r) => r.msg.kind === 'response' && r.msg.status === 180), 2, 'both provisionals forwarded');
    } finally {
      client.close();
      fork.close();
      await sbc.stop();
    }
  });

  test('Timer C: a call that rings too long is cancelled downstream and ends upstream', async () => {
    const ringer = await uas('ring');
    const sbc = await startSbc({ backends: backends(ringer), timers: { t1Ms: 50, timerCSeconds: 1 } });
    const client = await SipPeer.udp();
    try {
      const callId = rand(8);
      client.send(request({ method: 'INVITE', uri: 'sip:bob@example.com', sentBy: `127.0.0.1:${client.address.port}`, callId }), { address: '127.0.0.1', port: sbc.listener('udp').boundPort });
      await client.nextResponse(180, 'INVITE');
      const cancel = await ringer.peer.next((r) => r.msg.kind === 'request' && r.msg.method === 'CANCEL' && r.msg.callId === callId, 4000);
      assert.equal(cancel.msg.cseq()?.method, 'CANCEL');
      const final = await client.next((r) => r.msg.kind === 'response' && r.msg.callId === callId && r.msg.status >= 300, 4000);
      assert.ok([408, 487].includes((final.msg as { status: number }).status), 'the caller learns the call ended');
      assert.equal(client.count((r) => r.msg.kind === 'request' && r.msg.method === 'CANCEL'), 0, 'the CANCEL went downstream only');
    } finally {
      client.close();
      ringer.peer.close();
      await sbc.stop();
    }
  });
});

describe('proxy core across WebSocket and UDP', () => {
  let sbc: TestSbc;
  let backend: Uas;

  before(async () => {
    backend = await uas('answer');
    sbc = await startSbc({ backends: backends(backend), timers: { t1Ms: 50 } });
  });
  after(async () => {
    backend.peer.close();
    await sbc.stop();
  });

  const wsUrl = (): string => `ws://127.0.0.1:${sbc.listener('ws').boundPort}`;
  const wsInvite = (callId: string): string =>
    request({ method: 'INVITE', uri: 'sip:bob@example.com', sentBy: 'abcdefgh.invalid', viaTransport: 'WS', callId, fromTag: 'w1', contact: '<sip:k3j4h5@abcdefgh.invalid;transport=ws;ob>' });

  test('double Record-Route; BYE from the backend reaches the browser over its WebSocket; BYE from the browser reaches the backend', async () => {
    const ws = await SipPeer.ws(wsUrl());
    try {
      const callId = rand(8);
      ws.send(wsInvite(callId), undefined, { binary: true });
      const inv = await backend.peer.next((r) => isReq('INVITE')(r) && r.msg.callId === callId);
      const rr = inv.msg.recordRoutes()!;
      assert.equal(rr.length, 2, 'two Record-Route entries when crossing WS → UDP');
      assert.equal(rr[0]!.uri.params.get('transport'), 'udp', 'the top entry faces the backend');
      assert.equal(rr[1]!.uri.params.get('transport'), 'ws', 'the second faces the browser');
      assert.ok(rr[1]!.uri.user !== undefined && rr[1]!.uri.user.length > 10, 'the browser-facing entry carries a flow token');
      const ok = await ws.nextResponse(200, 'INVITE');
      const toTag = ok.msg.to()!.params.get('tag')!;

      backend.peer.send(request({ method: 'BYE', uri: 'sip:k3j4h5@abcdefgh.invalid;transport=ws', sentBy: `127.0.0.1:${backend.peer.address.port}`, callId, fromTag: toTag, toTag: 'w1', headers: uasRouteSet(inv.msg).map((r) => `Route: ${r}`) }), { address: '127.0.0.1', port: sbc.listener('udp').boundPort });
      const bye = await ws.nextRequest('BYE');
      assert.equal(bye.msg.routes()!.length, 0, 'both of our Route entries popped');
      assert.equal(bye.msg.topVia()!.transport, 'WS');
      ws.send(response(bye.msg as SipRequest, 200, 'OK'));
      await backend.peer.nextResponse(200, 'BYE');

      // And the other way, from a second call.
      const callId2 = rand(8);
      ws.send(wsInvite(callId2));
      const ok2 = await ws.next((r) => r.msg.kind === 'response' && r.msg.status === 200 && r.msg.callId === callId2);
      ws.send(request({ method: 'BYE', uri: `sip:uas@127.0.0.1:${backend.peer.address.port}`, sentBy: 'abcdefgh.invalid', viaTransport: 'WS', callId: callId2, fromTag: 'w1', toTag: ok2.msg.to()!.params.get('tag')!, cseq: 2, headers: uacRouteSet(ok2.msg).map((r) => `Route: ${r}`) }));
      const bye2 = await backend.peer.next((r) => isReq('BYE')(r) && r.msg.callId === callId2);
      assert.equal(bye2.msg.routes()!.length, 0);
      await ws.nextResponse(200, 'BYE');
    } finally {
      ws.close();
    }
  });

  test('a closed WebSocket flow with a call answers 480 while its client may come back (flowRecovery.graceSeconds, never 430 then); a tampered token 403', async () => {
    const ws = await SipPeer.ws(wsUrl());
    const callId = rand(8);
    ws.send(wsInvite(callId));
    const inv = await backend.peer.next((r) => isReq('INVITE')(r) && r.msg.callId === callId);
    await ws.nextResponse(200, 'INVITE');
    ws.close();
    await new Promise((r) => setTimeout(r, 100));
    const routes = uasRouteSet(inv.msg);
    const sbcUdp = { address: '127.0.0.1', port: sbc.listener('udp').boundPort };
    backend.peer.send(request({ method: 'BYE', uri: 'sip:k3j4h5@abcdefgh.invalid;transport=ws', sentBy: `127.0.0.1:${backend.peer.address.port}`, callId, toTag: 'w1', headers: routes.map((r) => `Route: ${r}`) }), sbcUdp);
    await backend.peer.next((r) => r.msg.kind === 'response' && r.msg.status === 480 && r.msg.callId === callId, 2000);

    const tampered = routes.map((r) => r.replace(/sip:([A-Za-z0-9_-]+)@/, (_m, t: string) => `sip:${t.slice(0, -2)}${t.endsWith('AA') ? 'BB' : 'AA'}@`));
    backend.peer.send(request({ method: 'BYE', uri: 'sip:k3j4h5@abcdefgh.invalid;transport=ws', sentBy: `127.0.0.1:${backend.peer.address.port}`, callId: callId + 'x', toTag: 'w1', headers: tampered.map((r) => `Route: ${r}`) }), sbcUdp);
    await backend.peer.next((r) => r.msg.kind === 'response' && r.msg.status === 403 && r.msg.callId === callId + 'x', 2000);
  });
});

describe('dispatcher failover', () => {
  test('a dead target is skipped after the first failover and used again when it comes back', async () => {
    const a = await uas('answer');
    const b = await uas('answer');
    const portA = a.peer.address.port;
    const sbc = await startSbc({ backends: backends(a, b), timers: { t1Ms: 50 }, proxy: { failoverTimeoutMs: 300 } });
    const client = await SipPeer.udp();
    const sbcUdp = { address: '127.0.0.1', port: sbc.listener('udp').boundPort };
    let a2: Uas | undefined;
    try {
      const call = async (): Promise<number> => {
        const callId = rand(8);
        client.send(request({ method: 'INVITE', uri: 'sip:bob@example.com', sentBy: `127.0.0.1:${client.address.port}`, callId }), sbcUdp);
        const final = await client.next((r) => r.msg.kind === 'response' && r.msg.callId === callId && r.msg.status >= 200, 5000);
        return (final.msg as { status: number }).status;
      };
      for (let i = 0; i < 4; i++) assert.equal(await call(), 200);
      assert.ok(a.peer.count(isReq('INVITE')) > 0 && b.peer.count(isReq('INVITE')) > 0, 'round-robin uses both');

      a.peer.close();
      const results: number[] = [];
      for (let i = 0; i < 6; i++) results.push(await call());
      assert.deepEqual(results, [200, 200, 200, 200, 200, 200], 'no failed call: failover to the live target');
      const snap = await backendsView(sbc);
      assert.equal(snap.groups[0]!.targets.find((t) => t.uri.includes(String(portA)))!.up, false, 'dead target marked down');

      a2 = await uas('answer');
      a2.peer.close();
      const back = await SipPeer.udp('127.0.0.1', portA);
      a2 = { peer: back, uri: a.uri, mode: 'answer' };
      back.onMessage = (r, p) => {
        if (r.msg.kind === 'request' && r.msg.method === 'OPTIONS') p.send(response(r.msg, 200, 'OK', { toTag: 't' }), r.from);
        if (r.msg.kind === 'request' && r.msg.method === 'INVITE') p.send(response(r.msg, 200, 'OK', { toTag: 't', headers: [`Contact: <sip:uas@127.0.0.1:${portA}>`] }), r.from);
      };
      const deadline = Date.now() + 5000;
      while (!(await backendsView(sbc)).groups[0]!.targets.every((t) => t.up) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      for (let i = 0; i < 4; i++) assert.equal(await call(), 200);
      assert.ok(back.count(isReq('INVITE')) > 0, 'the revived target takes calls again');
    } finally {
      client.close();
      a.peer.close();
      b.peer.close();
      a2?.peer.close();
      await sbc.stop();
    }
  });

  test('no backend configured → 503', async () => {
    const sbc = await startSbc({});
    const client = await SipPeer.udp();
    try {
      client.send(request({ method: 'INVITE', uri: 'sip:bob@example.com', sentBy: `127.0.0.1:${client.address.port}` }), { address: '127.0.0.1', port: sbc.listener('udp').boundPort });
      await client.nextResponse(503, 'INVITE');
    } finally {
      client.close();
      await sbc.stop();
    }
  });
});
