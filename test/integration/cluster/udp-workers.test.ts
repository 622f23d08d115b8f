/**
 * Two and three gateway workers behind one UDP port (the real CLI, `workers: 2|3`):
 * SIP peers call through them both ways. What a user relies on: a client's
 * retransmissions and CANCEL reach the worker holding its transaction (the
 * backend sees one INVITE per call), an in-dialog request sent from another
 * source port still reaches the worker that owns the dialog (the backend sees
 * it from that worker's inside port), requests from inside reach the client,
 * and a worker killed with SIGKILL is replaced while calls keep working.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { SipRequest } from '../../../src/sip/message.js';
import { freePortInRange } from '../../helpers/free-port.js';
import { startClusterSbc, type ClusterSbc } from '../../helpers/sbc-cluster.js';
import { rand, request, response, SipPeer, uacRouteSet, uasRouteSet, type Received } from '../../helpers/sip-peer.js';

interface Backend {
  peer: SipPeer;
  /** Every INVITE received, by Call-ID (retransmissions included). */
  invites: Map<string, Received[]>;
  /** The last new INVITE (a B2BUA gives the backend a Call-ID of its own). */
  last: { invite: Received | undefined };
  close(): void;
}

/** A UAS and registrar: INVITE → 180 + 200 (user `hold`: 180 only, until CANCEL → 487), BYE → 200, REGISTER → 200 with the Path back. */
async function startBackend(): Promise<Backend> {
  const peer = await SipPeer.udp();
  const invites = new Map<string, Received[]>();
  const last: { invite: Received | undefined } = { invite: undefined };
  const pending = new Map<string, SipRequest>();
  peer.onMessage = (r, p) => {
    if (r.msg.kind !== 'request') return;
    const req = r.msg;
    const callId = req.callId ?? '';
    if (req.method === 'INVITE') {
      const list = invites.get(callId) ?? [];
      list.push(r);
      invites.set(callId, list);
      if (list.length > 1) return;
      last.invite = r;
      p.send(response(req, 180, 'Ringing', { toTag: 'uas' }), r.from);
      if (req.uri.startsWith('sip:hold@')) pending.set(callId, req);
      else p.send(response(req, 200, 'OK', { toTag: 'uas', headers: [`Contact: <sip:uas@127.0.0.1:${peer.address.port}>`] }), r.from);
    } else if (req.method === 'CANCEL') {
      p.send(response(req, 200, 'OK'), r.from);
      const invite = pending.get(callId);
      pending.delete(callId);
      if (invite !== undefined) p.send(response(invite, 487, 'Request Terminated', { toTag: 'uas' }), r.from);
    } else if (req.method === 'BYE') {
      p.send(response(req, 200, 'OK'), r.from);
    } else if (req.method === 'REGISTER') {
      const paths = req.headers.values('path');
      p.send(response(req, 200, 'OK', { headers: [...paths.map((v) => `Path: ${v}`), `Contact: ${req.headers.get('contact') ?? ''};expires=300`] }), r.from);
    }
  };
  return { peer, invites, last, close: () => peer.close() };
}

/** host:port of a SIP URI inside a header value (`<sip:tok@127.0.0.1:4000;lr>`). */
function uriAddress(value: string): { address: string; port: number } {
  const m = /sips?:(?:[^@>;]+@)?([0-9.]+):(\d+)/.exec(value);
  if (m === null) throw new Error(`no address in ${value}`);
  return { address: m[1]!, port: Number(m[2]) };
}

function contactUri(msg: Received['msg']): string {
  const c = msg.headers.get('contact') ?? '';
  return /<([^>]+)>/.exec(c)?.[1] ?? c;
}

interface Established {
  callId: string;
  fromTag: string;
  /** The client's view: the route set and remote target from the 200. */
  routeSet: string[];
  target: string;
  /** The To tag of the 200 (the UAS's, or the B2BUA's own). */
  toTag: string;
  /** The backend's view: the INVITE it got. */
  invite: Received;
  client: SipPeer;
}

async function call(sbc: ClusterSbc, backend: Backend, client: SipPeer, options: { retransmit?: boolean } = {}): Promise<Established> {
  const to = { address: '127.0.0.1', port: sbc.port };
  const callId = rand(8);
  const fromTag = rand(4);
  const sentBy = `127.0.0.1:${client.address.port}`;
  const invite = request({ method: 'INVITE', uri: 'sip:bob@example.com', sentBy, callId, fromTag, contact: `<sip:alice@${sentBy}>`, branch: `z9hG4bK${rand()}` });
  client.send(invite, to);
  // A retransmission right behind it (RFC 3261 §17.1.1.2, as if the first one looked lost).
  if (options.retransmit === true) client.send(invite, to);
  const ok = await client.next((r) => r.msg.kind === 'response' && r.msg.status === 200 && r.msg.callId === callId);
  const routeSet = uacRouteSet(ok.msg);
  const target = contactUri(ok.msg);
  const toTag = ok.msg.to()?.params.get('tag') ?? '';
  client.send(request({ method: 'ACK', uri: target, sentBy, callId, fromTag, toTag, cseq: 1, headers: routeSet.map((r) => `Route: ${r}`) }), to);
  const got = backend.invites.get(callId)?.[0] ?? backend.last.invite;
  assert.ok(got !== undefined, 'the backend got the INVITE');
  return { callId, fromTag, routeSet, target, toTag, invite: got, client };
}

/** BYE from the client side, sent from `from` (another source port than the call's). */
async function byeFromClient(sbc: ClusterSbc, backend: Backend, c: Established, from: SipPeer): Promise<Received> {
  const sentBy = `127.0.0.1:${from.address.port}`;
  from.send(request({ method: 'BYE', uri: c.target, sentBy, callId: c.callId, fromTag: c.fromTag, toTag: c.toTag, cseq: 2, headers: c.routeSet.map((r) => `Route: ${r}`) }), { address: '127.0.0.1', port: sbc.port });
  await from.next((r) => r.msg.kind === 'response' && r.msg.status === 200 && r.msg.callId === c.callId);
  return backend.peer.next((r) => r.msg.kind === 'request' && r.msg.method === 'BYE' && r.msg.callId === c.invite.msg.callId);
}

for (const count of [2, 3]) describe(`workers: ${count} over UDP (real CLI, SO_REUSEPORT)`, () => {
  let sbc: ClusterSbc;
  let backend: Backend;
  const peers: SipPeer[] = [];
  const peer = async (): Promise<SipPeer> => {
    const p = await SipPeer.udp();
    peers.push(p);
    return p;
  };

  before(async () => {
    backend = await startBackend();
    sbc = await startClusterSbc(count, `backends:
  default: { probe: { intervalSeconds: 0 }, targets: [{ uri: "sip:127.0.0.1:${backend.peer.address.port};transport=udp" }] }
`);
  });
  after(async () => {
    for (const p of peers) p.close();
    backend?.close();
    await sbc?.stop();
  });

  test('each call stays on one worker: its retransmitted INVITE reaches the backend once; every worker takes calls', async () => {
    const calls: Established[] = [];
    for (let i = 0; i < 12 * count; i++) calls.push(await call(sbc, backend, await peer(), { retransmit: true }));
    for (const c of calls) {
      assert.equal(backend.invites.get(c.callId)?.length, 1, `call ${c.callId}: the retransmission was absorbed by the worker holding the transaction`);
    }
    const insidePorts = new Set(calls.map((c) => c.invite.from.port));
    const workers = new Set([...insidePorts].map((p) => sbc.workerByInsidePort(p)?.id));
    assert.deepEqual([...workers].sort(), Array.from({ length: count }, (_, i) => i + 1), `calls from ${12 * count} source ports went through every worker, each from its own inside port`);
    for (const c of calls) await byeFromClient(sbc, backend, c, c.client);
  });

  test('an in-dialog BYE sent from another source port reaches the worker that owns the dialog', async () => {
    for (let i = 0; i < 12; i++) {
      const c = await call(sbc, backend, await peer());
      const bye = await byeFromClient(sbc, backend, c, await peer());
      assert.equal(bye.from.port, c.invite.from.port, 'the BYE left from the inside port of the worker that relayed the INVITE');
    }
  });

  test('a BYE from inside follows the Record-Route to the owning worker and reaches the client', async () => {
    const c = await call(sbc, backend, await peer());
    const routes = uasRouteSet(c.invite.msg);
    assert.ok(routes.length > 0, 'the INVITE was record-routed');
    const hop = uriAddress(routes[0]!);
    assert.equal(hop.port, c.invite.from.port, 'the inside Record-Route names the inside port of the worker');
    const target = contactUri(c.invite.msg);
    const inv = c.invite.msg as SipRequest;
    backend.peer.send(request({
      method: 'BYE', uri: target, sentBy: `127.0.0.1:${backend.peer.address.port}`, callId: c.callId,
      from: inv.headers.get('to') ?? '', fromTag: 'uas', to: (inv.headers.get('from') ?? '').replace(/;tag=.*/, ''), toTag: c.fromTag,
      cseq: 1, headers: routes.map((r) => `Route: ${r}`),
    }), hop);
    const bye = await c.client.nextRequest('BYE');
    c.client.send(response(bye.msg as SipRequest, 200, 'OK'), bye.from);
    await backend.peer.next((r) => r.msg.kind === 'response' && r.msg.status === 200 && r.msg.callId === c.callId && r.msg.cseq()?.method === 'BYE');
  });

  test('CANCEL reaches the worker holding the INVITE: the backend cancels it and the client gets 487', async () => {
    for (let i = 0; i < 4; i++) {
      const client = await peer();
      const to = { address: '127.0.0.1', port: sbc.port };
      const callId = rand(8);
      const fromTag = rand(4);
      const branch = `z9hG4bK${rand()}`;
      const sentBy = `127.0.0.1:${client.address.port}`;
      client.send(request({ method: 'INVITE', uri: 'sip:hold@example.com', sentBy, callId, fromTag, branch, contact: `<sip:alice@${sentBy}>` }), to);
      await client.next((r) => r.msg.kind === 'response' && r.msg.status === 180 && r.msg.callId === callId);
      client.send(request({ method: 'CANCEL', uri: 'sip:hold@example.com', sentBy, callId, fromTag, branch }), to);
      await client.next((r) => r.msg.kind === 'response' && r.msg.status === 200 && r.msg.cseq()?.method === 'CANCEL' && r.msg.callId === callId);
      const cancel = await backend.peer.next((r) => r.msg.kind === 'request' && r.msg.method === 'CANCEL' && r.msg.callId === callId);
      assert.equal(cancel.from.port, backend.invites.get(callId)?.[0]?.from.port, 'the CANCEL left from the worker that relayed the INVITE');
      await client.next((r) => r.msg.kind === 'response' && r.msg.status === 487 && r.msg.callId === callId);
      client.send(request({ method: 'ACK', uri: 'sip:hold@example.com', sentBy, callId, fromTag, branch, toTag: 'uas' }), to);
    }
  });

  test('inbound calls over Path: the backend reaches the worker that registered the client, the answer from another port is steered to it', async () => {
    for (let i = 0; i < 6; i++) {
      const client = await peer();
      const sentBy = `127.0.0.1:${client.address.port}`;
      const user = `carol${i}`;
      client.send(request({
        method: 'REGISTER', uri: 'sip:example.com', sentBy, from: `<sip:${user}@example.com>`, to: `<sip:${user}@example.com>`,
        contact: `<sip:${user}@${sentBy}>`, headers: ['Expires: 300'],
      }), { address: '127.0.0.1', port: sbc.port });
      await client.nextResponse(200, 'REGISTER');
      const reg = await backend.peer.next((r) => r.msg.kind === 'request' && r.msg.method === 'REGISTER' && (r.msg.headers.get('from') ?? '').includes(user));
      const path = reg.msg.headers.values('path');
      assert.equal(path.length, 1, 'one Path: the gateway');
      const hop = uriAddress(path[0]!);
      assert.equal(hop.port, reg.from.port, 'the Path names the inside port the REGISTER came from');
      assert.match(path[0]!, /;w=[1-9]\b/, 'the Path names its worker');
      assert.equal(Number(/;w=(\d+)/.exec(path[0]!)?.[1]), sbc.workerByInsidePort(hop.port)?.id, 'the worker whose inside port it names');

      const callId = rand(8);
      const bsentBy = `127.0.0.1:${backend.peer.address.port}`;
      backend.peer.send(request({
        method: 'INVITE', uri: `sip:${user}@${sentBy}`, sentBy: bsentBy, callId, fromTag: 'b1', from: '<sip:fs@example.com>', to: `<sip:${user}@example.com>`,
        contact: `<sip:fs@${bsentBy}>`, headers: [`Route: ${path[0]}`],
      }), hop);
      const inv = await client.nextRequest('INVITE');
      // The client answers from another socket: the 200 may land on the other worker, which must pass it on.
      const answerer = await peer();
      answerer.send(response(inv.msg as SipRequest, 200, 'OK', { toTag: `c${i}`, headers: [`Contact: <sip:${user}@${sentBy}>`] }), { address: '127.0.0.1', port: sbc.port });
      const ok = await backend.peer.next((r) => r.msg.kind === 'response' && r.msg.status === 200 && r.msg.callId === callId);
      assert.equal(ok.from.port, hop.port, 'the 200 reached the backend from the worker the INVITE went through');
    }
  });
});

describe('workers: 2 in mode b2bua over UDP', () => {
  test('an in-dialog BYE from another source port reaches the worker that holds the call (named in our Contact)', async () => {
    const backend = await startBackend();
    const sbc = await startClusterSbc(2, `mode: b2bua
backends:
  default: { probe: { intervalSeconds: 0 }, targets: [{ uri: "sip:127.0.0.1:${backend.peer.address.port};transport=udp" }] }
`);
    const peers: SipPeer[] = [];
    const peer = async (): Promise<SipPeer> => {
      const p = await SipPeer.udp();
      peers.push(p);
      return p;
    };
    try {
      for (let i = 0; i < 8; i++) {
        const c = await call(sbc, backend, await peer());
        assert.match(c.target, /;w=[12]\b/, 'our Contact names the worker');
        assert.equal(c.routeSet.length, 0, 'the B2BUA does not record-route');
        const bye = await byeFromClient(sbc, backend, c, await peer());
        assert.equal(bye.from.port, c.invite.from.port, 'the B leg\'s BYE left from the worker that placed the call');
      }
    } finally {
      for (const p of peers) p.close();
      backend.close();
      await sbc.stop();
    }
  });
});

describe('workers: 2, one killed with SIGKILL under load', () => {
  test('the supervisor restarts it on the same inside ports; calls on the other worker go on, the dead one\'s end cleanly through its successor; new calls succeed', async () => {
    const backend = await startBackend();
    // Worker N's own ports: base + 2(N-1) (udp) and base + 2(N-1) + 1 (tcp).
    const base = await freePortInRange(30000, 39000);
    const sbc = await startClusterSbc(2, `backends:
  default: { probe: { intervalSeconds: 0 }, targets: [{ uri: "sip:127.0.0.1:${backend.peer.address.port};transport=udp" }] }
transport: { workerPortBase: ${base} }
`);
    const peers: SipPeer[] = [];
    const peer = async (): Promise<SipPeer> => {
      const p = await SipPeer.udp();
      peers.push(p);
      return p;
    };
    try {
      // Calls up on both workers before the kill.
      const up: Established[] = [];
      for (let i = 0; i < 10; i++) up.push(await call(sbc, backend, await peer()));
      const victim = { ...sbc.workers.get(1)! };
      assert.equal(victim.insidePort, base, 'worker 1 has the first port of the base');
      assert.equal(sbc.workers.get(2)?.insidePort, base + 2, 'worker 2 the next pair');
      const survivors = up.filter((c) => sbc.workerByInsidePort(c.invite.from.port)?.id === 2);
      assert.ok(survivors.length > 0, 'some calls went through worker 2');

      // Load keeps coming while the worker dies.
      let stopLoad = false;
      let loadCalls = 0;
      const load = (async () => {
        while (!stopLoad) {
          const client = await peer();
          try {
            await call(sbc, backend, client);
            loadCalls += 1;
          } catch { /* a call on the dying worker may fail; it is the ones after that must not */ }
        }
      })();
      await new Promise((r) => setTimeout(r, 300));
      const mark = sbc.lines.length;
      assert.ok(victim.pid > 1, 'the victim\'s pid is known');
      sbc.killWorker(1);
      const died = await sbc.waitFor((l) => l.msg === 'worker died; restarting it' && l.worker === 1, 10_000, mark);
      assert.equal(died.signal, 'SIGKILL');
      await sbc.waitFor((l) => l.msg === 'worker ready' && l.worker === 1, 20_000, mark);
      stopLoad = true;
      await load;
      assert.ok(loadCalls > 0, 'calls went through during the kill');

      for (const c of survivors) await byeFromClient(sbc, backend, c, c.client);
      // Proxy mode keeps no state a dialog needs beyond the shared store: the calls the dead worker
      // relayed still end cleanly through its successor (same inside port, same flow-token secret).
      const orphans = up.filter((c) => sbc.workerByInsidePort(c.invite.from.port)?.id === 1);
      for (const c of orphans) {
        const bye = await byeFromClient(sbc, backend, c, c.client);
        assert.equal(bye.from.port, base, 'the BYE left from worker 1\'s inside port, through its successor');
      }
      for (let i = 0; i < 10; i++) {
        const c = await call(sbc, backend, await peer());
        await byeFromClient(sbc, backend, c, c.client);
      }
      assert.ok(sbc.workers.get(1)!.pid !== victim.pid, 'worker 1 is a new process');
      assert.equal(sbc.workers.get(1)!.insidePort, base, 'on the same inside port as before');
    } finally {
      for (const p of peers) p.close();
      backend.close();
      await sbc.stop();
    }
  });
});
