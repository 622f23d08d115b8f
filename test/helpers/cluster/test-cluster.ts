/**
 * Real gateway workers under node:cluster with the test process as their
 * supervisor: it serves the shared store (state.store memory) and the admin
 * API of the whole gateway, as src/cluster's supervisor does. Each worker
 * listens on ports of its own here (no SO_REUSEPORT), so a test can pick the
 * worker a message reaches. Everything is stopped by stop().
 */
import assert from 'node:assert/strict';
import cluster, { type Worker } from 'node:cluster';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { startClusterAdmin, type ClusterAdmin } from '../../../src/cluster/cluster-admin.js';
import { serveSharedStore, type SharedStore } from '../../../src/cluster/shared-store-server.js';
import { workerEnv } from '../../../src/cluster/worker-env.js';
import { silentLogger } from '../../../src/log/logger.js';
import { freePortInRange } from '../free-port.js';

const WORKER = fileURLToPath(new URL('./gateway-worker.js', import.meta.url));

export interface RunningWorker {
  worker: Worker;
  id: number;
  udp: { address: string; port: number };
}

export interface TestCluster {
  workers: RunningWorker[];
  admin: ClusterAdmin;
  stop(): Promise<void>;
}

export interface TestClusterOptions {
  count: number;
  /** Serve the store to the workers (their config says state.store memory). */
  serveStore: boolean;
  /** The configuration input of worker `id`, whose UDP listener must be on 127.0.0.1:`udpPort`. */
  config: (id: number, udpPort: number) => Record<string, unknown>;
}

/** The configuration every test worker starts from (quiet, loopback, no media relay). */
export function baseWorkerConfig(udpPort: number): Record<string, unknown> {
  return {
    listen: [{ transport: 'udp', address: '127.0.0.1', port: udpPort }],
    admin: { listen: '127.0.0.1:0' },
    web: { enabled: false },
    shutdown: { drainSeconds: 0 },
    media: { mode: 'passthrough' },
    overload: { loopDelayMs: 2000 },
    security: { rateLimit: { requestsPerSecondPerIp: 0 }, blockedUserAgents: [] },
  };
}

export async function startTestCluster(o: TestClusterOptions): Promise<TestCluster> {
  const logger = silentLogger();
  const workers: RunningWorker[] = [];
  let shared: SharedStore | undefined;
  let admin: ClusterAdmin | undefined;
  const stop = async (): Promise<void> => {
    await admin?.stop();
    await Promise.all(workers.map(async ({ worker }) => {
      if (worker.isDead()) return;
      const exited = once(worker, 'exit');
      worker.send({ fixture: 'stop' });
      const timer = setTimeout(() => worker.process.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }));
    await shared?.close();
  };
  try {
    if (o.serveStore) shared = serveSharedStore(cluster, { logger });
    cluster.setupPrimary({ exec: WORKER });
    for (let id = 1; id <= o.count; id++) {
      const port = await freePortInRange(20_000, 29_999);
      const worker = cluster.fork({ ...workerEnv(id, o.count), SBC_TEST_CONFIG: JSON.stringify(o.config(id, port)) });
      workers.push({ worker, id, udp: { address: '127.0.0.1', port } });
      const ready = await fixtureMessage(worker);
      assert.equal(ready.fixture, 'ready', ready.error);
    }
    admin = await startClusterAdmin({ config: { admin: { listen: '127.0.0.1:0', token: '' } }, cluster, workers: o.count, logger });
  } catch (err) {
    await stop();
    throw err;
  }
  return { workers, admin, stop };
}

/** The worker's next fixture message (its state and admin messages go by). */
function fixtureMessage(worker: Worker): Promise<{ fixture: string; error?: string }> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: unknown): void => {
      if (typeof (m as { fixture?: unknown }).fixture !== 'string') return;
      worker.off('message', onMessage);
      resolve(m as { fixture: string; error?: string });
    };
    worker.on('message', onMessage);
    worker.once('exit', (code) => reject(new Error(`worker exited (${code}) before it was ready`)));
  });
}
