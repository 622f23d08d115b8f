/**
 * Two real gateway workers under node:cluster, the test process being their
 * supervisor: it serves the shared state store (serveSharedStore) and the
 * admin API of the whole gateway (startClusterAdmin), as src/cluster's
 * supervisor does. Each worker listens on a UDP port of its own here, so a
 * test can pick the worker a message reaches. What one worker learns, the
 * other knows: a ban, a rate spread over both, a flow token it minted.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import type { ClusterAdmin } from '../../../src/cluster/cluster-admin.js';
import type { SipRequest, SipResponse } from '../../../src/sip/message.js';
import { baseWorkerConfig, startTestCluster, type RunningWorker as Running, type TestCluster } from '../../helpers/cluster/test-cluster.js';
import { startRedis, type RunningRedis } from '../../helpers/redis.js';
import { rand, request, response, SipPeer, uacRouteSet } from '../../helpers/sip-peer.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The per-worker counter value of `name{labels}` as the worker itself reports it. */
async function workerCounter(admin: ClusterAdmin, worker: number, name: string, labels: Record<string, string>): Promise<number> {
  const { answers } = await admin.ask({ kind: 'metrics' });
  const metrics = answers.find((a) => a.worker === worker)?.message.metrics as Array<{ name: string; values: Array<{ value: number; labels: Record<string, string> }> }> | undefined;
  const metric = metrics?.find((m) => m.name === name);
  const value = metric?.values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l));
  return value?.value ?? 0;
}

/** The value of one series in Prometheus text. */
function seriesValue(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

async function eventually(condition: () => Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) assert.fail(`not within ${timeoutMs} ms: ${what}`);
    await sleep(50);
  }
}

/** OPTIONS to the gateway itself from `peer` to `to`; resolves with the status, or undefined when nothing came back in `waitMs`. */
async function options(peer: SipPeer, to: { address: string; port: number }, waitMs = 1000, userAgent = 'test-phone/1.0'): Promise<number | undefined> {
  const callId = rand(8);
  peer.send(request({ method: 'OPTIONS', uri: `sip:${to.address}:${to.port}`, sentBy: `${peer.address.address}:${peer.address.port}`, callId, headers: [`User-Agent: ${userAgent}`] }), to);
  try {
    const r = await peer.next((m) => m.msg.kind === 'response' && m.msg.callId === callId, waitMs);
    return r.msg.kind === 'response' ? r.msg.status : undefined;
  } catch {
    return undefined;
  }
}

describeSharedWorkers('memory');
describeSharedWorkers('redis');

/**
 * memory: the supervisor serves the store (IpcStateStore in each worker);
 * redis: each worker uses Redis itself and the supervisor serves none — the
 * same code above the StateStore interface either way.
 */
function describeSharedWorkers(store: 'memory' | 'redis'): void {
  describe(`two gateway workers sharing state (state.store ${store})`, () => {
    let cluster: TestCluster;
    let workers: Running[];
    let redis: RunningRedis | undefined;
    let admin: ClusterAdmin;
    let backend: SipPeer;

    before(async () => {
      backend = await SipPeer.udp('127.0.0.1');
      // The backend answers probes, REGISTERs and calls like a registrar and a UAS.
      backend.onMessage = (r, p) => {
        if (r.msg.kind !== 'request') return;
        const req = r.msg as SipRequest;
        if (req.method === 'OPTIONS' || req.method === 'REGISTER' || req.method === 'BYE') p.send(response(req, 200, 'OK', { toTag: rand(4) }), r.from);
        else if (req.method === 'INVITE') p.send(response(req, 200, 'OK', { toTag: rand(4), headers: [`Contact: <sip:uas@127.0.0.1:${p.address.port}>`] }), r.from);
      };
      if (store === 'redis') redis = await startRedis();
      cluster = await startTestCluster({
        count: 2,
        serveStore: store === 'memory',
        config: (_id, port) => ({
          ...baseWorkerConfig(port),
          ...(redis !== undefined ? { state: { store: 'redis', redis: { url: redis.url, keyPrefix: 'sbc-workers:' } } } : {}),
          backends: { default: { targets: [{ uri: `sip:127.0.0.1:${backend.address.port};transport=udp` }] } },
          security: { rateLimit: { requestsPerSecondPerIp: 10, burst: 30, banSeconds: 60 }, blockedUserAgents: ['friendly-scanner'], maxCallsPerUser: 1 },
        }),
      });
      workers = cluster.workers;
      admin = cluster.admin;
    });

    after(async () => {
      await cluster?.stop();
      await redis?.stop();
      backend?.close();
    });

    it('a source banned on one worker (scanner User-Agent) is dropped by the other', async (t) => {
      const scanner = await SipPeer.udp('127.0.0.3');
      t.after(() => scanner.close());
      const [one, two] = workers as [Running, Running];
      assert.equal(await options(scanner, two.udp), 200, 'worker 2 answers the source before the ban');
      assert.equal(await options(scanner, one.udp, 500, 'friendly-scanner'), undefined, 'worker 1 drops the scanner');
      // A few requests a second, far under the rate limit (10/s, burst 30): only the shared ban can silence worker 2.
      await eventually(async () => {
        await sleep(250);
        return (await options(scanner, two.udp, 250)) === undefined;
      }, 'worker 2 stops answering the source');
      assert.equal(await options(scanner, two.udp, 500), undefined, 'worker 2 keeps dropping it');
      assert.ok((await workerCounter(admin, 2, 'sbc_rejected_requests_total', { reason: 'banned' })) > 0, 'worker 2 counts the drops as banned');
      assert.equal(await workerCounter(admin, 2, 'sbc_rejected_requests_total', { reason: 'blocked-user-agent' }), 0, 'worker 2 never saw the scanner User-Agent itself');
      assert.equal(await workerCounter(admin, 2, 'sbc_rejected_requests_total', { reason: 'rate-limited' }), 0, 'nor did it limit the source itself');
    });

    it('a rate spread over both workers, under each one\'s own limit, is banned on both', async (t) => {
      const flood = await SipPeer.udp('127.0.0.4');
      t.after(() => flood.close());
      const [one, two] = workers as [Running, Running];
      // 10/s with a burst of 30: 24 at once per worker pass each worker's own bucket; 48 within a second are over the gateway's.
      const banned = async (): Promise<boolean> => (await workerCounter(admin, 1, 'sbc_rejected_requests_total', { reason: 'banned' })) + (await workerCounter(admin, 2, 'sbc_rejected_requests_total', { reason: 'banned' })) > 0;
      const before1 = await workerCounter(admin, 1, 'sbc_rejected_requests_total', { reason: 'banned' });
      const before2 = await workerCounter(admin, 2, 'sbc_rejected_requests_total', { reason: 'banned' });
      for (let round = 0; round < 3; round++) {
        for (let i = 0; i < 24; i++) {
          for (const w of [one, two]) flood.send(request({ method: 'OPTIONS', uri: `sip:${w.udp.address}:${w.udp.port}`, sentBy: `127.0.0.4:${flood.address.port}` }), w.udp);
        }
        await sleep(500);
        if (await options(flood, one.udp, 300) === undefined) break;
        // Let both buckets refill before the next round (a round must never trip a worker's own bucket).
        await sleep(2500);
      }
      assert.equal(await options(flood, one.udp, 500), undefined, 'worker 1 drops the source');
      assert.equal(await options(flood, two.udp, 500), undefined, 'worker 2 drops the source');
      await eventually(async () => (await workerCounter(admin, 1, 'sbc_rejected_requests_total', { reason: 'banned' })) > before1 && (await workerCounter(admin, 2, 'sbc_rejected_requests_total', { reason: 'banned' })) > before2, 'both count the drops as banned');
      assert.ok(await banned());
      for (const w of [1, 2]) assert.equal(await workerCounter(admin, w, 'sbc_rejected_requests_total', { reason: 'rate-limited' }), 0, `worker ${w}'s own bucket never refused the source: the shared count banned it`);
    });

    it('a flow token minted by worker 1 (Path of a REGISTER) leads worker 2 to the client', async (t) => {
      const phone = await SipPeer.udp('127.0.0.5');
      t.after(() => phone.close());
      const [one, two] = workers as [Running, Running];
      const me = `127.0.0.5:${phone.address.port}`;
      phone.send(request({ method: 'REGISTER', uri: 'sip:example.com', sentBy: me, from: '<sip:carol@example.com>', to: '<sip:carol@example.com>', contact: `<sip:carol@${me}>`, headers: ['Expires: 300'] }), one.udp);
      const register = await backend.nextRequest('REGISTER');
      await phone.nextResponse(200, 'REGISTER');
      const path = register.msg.headers.get('path');
      const token = path === undefined ? undefined : /<sip:([A-Za-z0-9_-]+)@/.exec(path)?.[1];
      assert.ok(token !== undefined, `worker 1 added a Path with a token: ${path}`);

      // The backend calls the user through worker 2, with the Path worker 1 gave it.
      const callId = rand(8);
      const from = `127.0.0.1:${backend.address.port}`;
      backend.send(request({ method: 'INVITE', uri: `sip:carol@${me}`, sentBy: from, callId, from: '<sip:bob@example.com>', to: '<sip:carol@example.com>', contact: `<sip:bob@${from}>`, headers: [`Route: <sip:${token}@${two.udp.address}:${two.udp.port};lr>`] }), two.udp);
      const invite = await phone.nextRequest('INVITE');
      assert.equal(invite.msg.callId, callId);
      assert.deepEqual(invite.from, two.udp, 'worker 2 sent it, from its own port');
      phone.send(response(invite.msg as SipRequest, 486, 'Busy Here', { toTag: rand(4) }), invite.from);
      await backend.nextResponse(486, 'INVITE');
    });

    it('maxCallsPerUser holds across workers: a call up on worker 1 makes worker 2 refuse the next; after BYE worker 2 lets it through', async (t) => {
      const phone = await SipPeer.udp('127.0.0.7');
      t.after(() => phone.close());
      const [one, two] = workers as [Running, Running];
      const me = `127.0.0.7:${phone.address.port}`;
      const caller = { from: '<sip:dave@example.com>', to: '<sip:1000@example.com>', sentBy: me, contact: `<sip:dave@${me}>` };
      const invite = async (to: Running, callId: string): Promise<SipResponse> => {
        phone.send(request({ ...caller, method: 'INVITE', uri: 'sip:1000@example.com', callId, fromTag: `f${callId}` }), to.udp);
        return (await phone.next((r) => r.msg.kind === 'response' && r.msg.callId === callId && r.msg.status >= 200)).msg as SipResponse;
      };
      const inDialog = (method: 'ACK' | 'BYE', to: Running, callId: string, ok: SipResponse, cseq: number): void => {
        const target = /<([^>]+)>/.exec(ok.headers.get('contact') ?? '')?.[1] ?? '';
        phone.send(request({ ...caller, method, uri: target, callId, fromTag: `f${callId}`, toTag: ok.to()!.params.get('tag')!, cseq, headers: uacRouteSet(ok).map((r) => `Route: ${r}`) }), to.udp);
      };

      const first = rand(8);
      const ok = await invite(one, first);
      assert.equal(ok.status, 200);
      inDialog('ACK', one, first, ok, 1);
      // Worker 1 tells the others of an admitted call at the end of that turn of its event loop, one hop
      // through the shared store: a caller's next INVITE within a millisecond of the answer can overtake it
      // (the limit may be passed by one per worker, as documented). A person's next call is later than that.
      await new Promise((r) => setTimeout(r, 50));
      const refused = await invite(two, rand(8));
      assert.equal(refused.status, 403);
      assert.equal(refused.reason, 'Too Many Calls');

      inDialog('BYE', one, first, ok, 2);
      await phone.nextResponse(200, 'BYE');
      let next: SipResponse | undefined;
      let nextId = '';
      await eventually(async () => {
        nextId = rand(8);
        next = await invite(two, nextId);
        return next.status === 200;
      }, 'worker 2 admits the caller once the first call ended');
      inDialog('ACK', two, nextId, next!, 1);
      inDialog('BYE', two, nextId, next!, 2);
      await phone.nextResponse(200, 'BYE');
    });

    it('a topology record written by worker 1 serves the client\'s BYE that reaches worker 2', async (t) => {
      const phone = await SipPeer.udp('127.0.0.11');
      t.after(() => phone.close());
      const [one, two] = workers as [Running, Running];
      const me = `127.0.0.11:${phone.address.port}`;
      const callId = rand(8);
      const call = { from: '<sip:frank@example.com>', fromTag: 'ff', to: '<sip:1000@example.com>', sentBy: me, callId };
      phone.send(request({ ...call, method: 'INVITE', uri: 'sip:1000@example.com', contact: `<sip:frank@${me}>` }), one.udp);
      const ok = (await phone.next((r) => r.msg.kind === 'response' && r.msg.callId === callId && r.msg.status === 200)).msg as SipResponse;
      const target = /<([^>]+)>/.exec(ok.headers.get('contact') ?? '')?.[1] ?? '';
      const backendContact = `sip:uas@127.0.0.1:${backend.address.port}`;
      assert.ok(!target.includes(String(backend.address.port)), `the phone sees our Contact, not the backend's: ${target}`);
      const inDialog = { ...call, toTag: ok.to()!.params.get('tag')! };
      phone.send(request({ ...inDialog, method: 'ACK', uri: target, headers: uacRouteSet(ok).map((r) => `Route: ${r}`) }), one.udp);

      // The phone's BYE reaches worker 2 (as after a worker restart): only the record worker 1 stored knows the backend's Contact.
      // A worker keeps its records and mirrors them to the shared store within 100 ms; a restart takes longer than that.
      await new Promise((r) => setTimeout(r, 300));
      const onWorker2 = (uri: string): string => uri.replaceAll(`${one.udp.address}:${one.udp.port}`, `${two.udp.address}:${two.udp.port}`);
      const routes = uacRouteSet(ok).map(onWorker2);
      phone.send(request({ ...inDialog, method: 'BYE', uri: onWorker2(target), cseq: 2, headers: routes.map((r) => `Route: ${r}`) }), two.udp);
      const bye = await backend.next((r) => r.msg.kind === 'request' && r.msg.method === 'BYE' && r.msg.callId === callId);
      assert.equal((bye.msg as SipRequest).uri, backendContact, 'worker 2 restored the backend\'s Contact');
      assert.equal(bye.from.port, two.udp.port, 'worker 2 relayed it');
      await phone.next((r) => r.msg.kind === 'response' && r.msg.callId === callId && r.msg.cseq()?.method === 'BYE' && r.msg.status === 200);
    });

    it('/metrics sums the workers, with per-worker process series and worker up gauges', async () => {
      const [one, two] = workers as [Running, Running];
      const peer = await SipPeer.udp('127.0.0.6');
      try {
        assert.equal(await options(peer, one.udp), 200);
        assert.equal(await options(peer, two.udp), 200);
        assert.equal(await options(peer, two.udp), 200);
      } finally {
        peer.close();
      }
      const labels = { direction: 'in', transport: 'udp', method: 'OPTIONS' };
      const perWorker = (await workerCounter(admin, 1, 'sbc_sip_messages_total', labels)) + (await workerCounter(admin, 2, 'sbc_sip_messages_total', labels));
      const res = await fetch(`${admin.url()}/metrics`);
      assert.equal(res.status, 200);
      const text = await res.text();
      const total = seriesValue(text, 'sbc_sip_messages_total{direction="in",transport="udp",method="OPTIONS"}');
      assert.ok(perWorker >= 3);
      // Probes and traffic of the other tests keep counting; the sum can only have grown since the per-worker read.
      assert.ok(total !== undefined && total >= perWorker, `aggregated ${total} vs per-worker sum ${perWorker}`);
      assert.equal(seriesValue(text, 'sbc_workers_up'), 2);
      assert.equal(seriesValue(text, 'sbc_worker_up{worker="1"}'), 1);
      assert.equal(seriesValue(text, 'sbc_worker_up{worker="2"}'), 1);
      assert.match(text, /process_resident_memory_bytes\{worker="1"\} \d+/);
      assert.match(text, /process_resident_memory_bytes\{worker="2"\} \d+/);
    });

    it('the admin API answers for the whole gateway: flows of both workers, health of both', async () => {
      const flows = (await (await fetch(`${admin.url()}/api/flows`)).json()) as { flows: Array<{ worker: number; remote: string }>; workers: number[] };
      assert.deepEqual(flows.workers, [1, 2]);
      assert.ok(flows.flows.some((f) => f.worker === 1) && flows.flows.some((f) => f.worker === 2), JSON.stringify(flows));
      const backends = (await (await fetch(`${admin.url()}/api/backends`)).json()) as { groups: unknown[]; workers: Array<{ worker: number }> };
      assert.equal(backends.groups.length, 1);
      assert.deepEqual(backends.workers.map((w) => w.worker), [1, 2]);
      const reload = await fetch(`${admin.url()}/api/reload`, { method: 'POST' });
      const reloaded = (await reload.json()) as { workers: Array<{ worker: number; status: number }> };
      assert.equal(reload.status, 409, 'these workers have no configuration file to re-read');
      assert.deepEqual(reloaded.workers.map((w) => [w.worker, w.status]), [[1, 409], [2, 409]], 'every worker was asked');
      const health = await fetch(`${admin.url()}/healthz`);
      assert.equal(health.status, 200);
      assert.deepEqual(((await health.json()) as { workers: unknown }).workers, { expected: 2, up: 2, silent: 0 });
    });

    it('/healthz fails when a worker is gone', async () => {
      const two = workers[1]!;
      const exited = once(two.worker, 'exit');
      two.worker.process.kill('SIGKILL');
      await exited;
      const health = await fetch(`${admin.url()}/healthz`);
      assert.equal(health.status, 503);
      const body = (await health.json()) as { status: string; workers: { up: number; expected: number } };
      assert.equal(body.status, 'unavailable');
      assert.deepEqual(body.workers, { expected: 2, up: 1, silent: 0 });
      const metrics = await (await fetch(`${admin.url()}/metrics`)).text();
      assert.equal(seriesValue(metrics, 'sbc_worker_up{worker="2"}'), 0);
    });
  });
}
