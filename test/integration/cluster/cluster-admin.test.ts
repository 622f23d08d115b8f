/**
 * The supervisor's admin listener with real worker processes (node:cluster)
 * of which one answers and one hangs: /healthz fails fast naming how many
 * are up and silent, lists carry what the answering worker said, /metrics
 * sums what came and marks the silent worker down, and the bearer token
 * guards everything but /healthz.
 */
import assert from 'node:assert/strict';
import cluster, { type Worker } from 'node:cluster';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { startClusterAdmin, type ClusterAdmin } from '../../../src/cluster/cluster-admin.js';
import { workerEnv } from '../../../src/cluster/worker-env.js';
import { silentLogger } from '../../../src/log/logger.js';

const WORKER = fileURLToPath(new URL('../../helpers/cluster/admin-worker.js', import.meta.url));

describe('cluster admin with one worker answering and one silent', () => {
  const workers: Worker[] = [];
  let admin: ClusterAdmin;
  const token = 'admin-token-for-the-test';
  const auth = { authorization: `Bearer ${token}` };

  before(async () => {
    cluster.setupPrimary({ exec: WORKER });
    for (const [id, mute] of [[1, false], [2, true]] as const) {
      const w = cluster.fork({ ...workerEnv(id, 2), ADMIN_WORKER_MUTE: mute ? '1' : '0' });
      workers.push(w);
      await once(w, 'message');
    }
    admin = await startClusterAdmin({ config: { admin: { listen: '127.0.0.1:0', token } }, cluster, workers: 2, logger: silentLogger(), timeoutMs: 500, restarts: () => 3 });
  });
  after(async () => {
    await admin?.stop();
    await Promise.all(workers.map(async (w) => {
      const exited = once(w, 'exit');
      w.process.kill('SIGKILL');
      await exited;
    }));
  });

  it('/healthz is open, and 503 while a worker does not answer', async () => {
    const res = await fetch(`${admin.url()}/healthz`);
    assert.equal(res.status, 503);
    const body = (await res.json()) as { status: string; workers: unknown; perWorker: Array<{ worker: number; status: string }> };
    assert.equal(body.status, 'unavailable');
    assert.deepEqual(body.workers, { expected: 2, up: 1, silent: 1 });
    assert.deepEqual(body.perWorker.map((w) => [w.worker, w.status]), [[1, 'ok']]);
  });

  it('the other routes need the token; a list merges what answered and counts the silent', async () => {
    assert.equal((await fetch(`${admin.url()}/api/flows`)).status, 401);
    assert.equal((await fetch(`${admin.url()}/metrics`)).status, 401);
    const res = await fetch(`${admin.url()}/api/flows`, { headers: auth });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { flows: [{ id: 'flow-of-1', worker: 1 }], workers: [1], silentWorkers: 1 });
  });

  it('/metrics: what answered, the silent worker down, the restarts', async () => {
    const text = await (await fetch(`${admin.url()}/metrics`, { headers: auth })).text();
    assert.match(text, /^sbc_sip_messages_total\{direction="in"\} 10$/m);
    assert.match(text, /^sbc_workers_up 1$/m);
    assert.match(text, /^sbc_worker_up\{worker="1"\} 1$/m);
    assert.match(text, /^sbc_worker_up\{worker="2"\} 0$/m);
    assert.match(text, /^sbc_worker_restarts_total 3$/m);
  });
});
