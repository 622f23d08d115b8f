/**
 * The admin API of the whole gateway under a supervisor (`workers: N`): the
 * supervisor binds `admin.listen` (the workers open no admin port) and
 * answers every route by asking all workers over IPC and merging:
 *
 * | route | merged answer |
 * | --- | --- |
 * | GET /healthz | 200 only when all `workers` answered 200; per-worker states either way; the registrar's mode and its registrations summed over the workers |
 * | GET /metrics | prom-client AggregatorRegistry: counters, gauges, histograms summed (unless a metric names its own aggregator: the TLS certificate's expiry is the soonest any worker serves, its reloads the most any worker counted); process, event-loop, backend/engine health and overload series per worker (label `worker`); plus `sbc_workers_up` and `sbc_worker_up{worker}` |
 * | GET /api/flows, /api/dialogs, /api/registrations | every worker's list, each entry with its `worker`; counts (`count`, `topologyRecords`) summed |
 * | GET /api/backends, /api/engines | the first worker's view, with `up` true only where every worker sees it up (a target down elsewhere with that worker's `reason`) and the media counts (`sessions`, requests, the embedded relay's `maxSessions`, `portPairsFree`, `portPairsTotal`, `legsOpen`) summed, and each worker's own view under `workers` |
 * | POST /api/reload | sent to every worker; 200 when all reloaded, else the first refusal's status; each worker's answer under `workers` |
 *
 * A worker that does not answer within `timeoutMs` (1 s for /healthz) is
 * reported as such and makes /healthz fail; the other workers' answers
 * still come back.
 *
 * @example
 *   const admin = await startClusterAdmin({ config, cluster, workers: n, logger, restarts: () => supervisor.restarts });
 *   ...
 *   await admin.stop();
 */
import type { Cluster, Worker } from 'node:cluster';
import { AggregatorRegistry, Counter, Gauge, Registry, type RegistryContentType, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import type { Config } from '../config/index.js';
import type { Logger } from '../log/logger.js';
import { AdminServer, type AdminReply, type RawReply } from '../admin/server.js';
import { isSbcMessage, sendSafely } from './ipc-endpoint.js';
import { ADMIN_MESSAGE } from './admin-protocol.js';
import { withEngineTotals } from './engine-view.js';
import { gatewayRegistrarSummary } from './health-summary.js';

/** Safe defaults, in one place. */
export const CLUSTER_ADMIN_DEFAULTS = {
  /** How long a worker has to answer one admin request. */
  timeoutMs: 5000,
  /** How long for /healthz: a probe must not wait on a worker that is still starting. */
  healthTimeoutMs: 1000,
  /** Requests waiting for worker answers at once. */
  maxPending: 1000,
} as const;

export interface ClusterAdminOptions {
  /** admin.listen and admin.token are used. */
  config: Pick<Config, 'admin'>;
  cluster: Cluster;
  /** How many workers the gateway runs: /healthz is ok only when that many answer ok. */
  workers: number;
  logger: Logger;
  timeoutMs?: number;
  /** Workers the supervisor restarted after they died, for `sbc_worker_restarts_total`. */
  restarts?: () => number;
}

export interface ClusterAdmin {
  /** The bound address (the real port when 0 was configured). */
  address(): { host: string; port: number };
  url(): string;
  /** Ask every worker (route or metrics), waiting up to `waitMs`; the answers of those that answered, and how many did not. */
  ask(request: Record<string, unknown>, waitMs?: number): Promise<WorkerAnswers>;
  stop(): Promise<void>;
}

export interface WorkerAnswer {
  worker: number;
  message: Record<string, unknown>;
}

export interface WorkerAnswers {
  answers: WorkerAnswer[];
  /** Workers (by cluster id, as their WEBRTC_SBC_WORKER_ID is unknown until they answer) that did not answer in time. */
  silent: number;
}

/** Metric families reported per worker (label `worker`) instead of summed: a sum of them says nothing. */
const PER_WORKER_METRICS = /^(process_|nodejs_|sbc_backend_up$|sbc_media_engine_up$|sbc_overload_state$|sbc_overload_admit_ratio$)/;

const LIST_ROUTES = [
  { path: '/api/flows', lists: ['flows'], sums: [] },
  { path: '/api/dialogs', lists: ['dialogs', 'mediaSessions'], sums: ['topologyRecords'] },
  { path: '/api/registrations', lists: ['registrations'], sums: ['count'] },
] as const;

const VIEW_ROUTES = ['/api/backends', '/api/engines'] as const;

export async function startClusterAdmin(o: ClusterAdminOptions): Promise<ClusterAdmin> {
  const timeoutMs = o.timeoutMs ?? CLUSTER_ADMIN_DEFAULTS.timeoutMs;
  const logger = o.logger.child({ part: 'admin' });
  let nextId = 1;
  const pending = new Map<number, { got: WorkerAnswer[]; expected: number; done: () => void }>();

  const onMessage = (_worker: Worker, message: unknown): void => {
    if (!isSbcMessage(message, ADMIN_MESSAGE) || typeof message.id !== 'number' || typeof message.worker !== 'number') return;
    const p = pending.get(message.id);
    if (p === undefined) return;
    p.got.push({ worker: message.worker, message });
    if (p.got.length >= p.expected) p.done();
  };
  o.cluster.on('message', onMessage);

  const ask = (request: Record<string, unknown>, waitMs = timeoutMs): Promise<WorkerAnswers> => {
    const workers = Object.values(o.cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && w.isConnected());
    if (workers.length === 0 || pending.size >= CLUSTER_ADMIN_DEFAULTS.maxPending) return Promise.resolve({ answers: [], silent: workers.length });
    const id = nextId++;
    return new Promise((resolve) => {
      const got: WorkerAnswer[] = [];
      let sent = 0;
      const done = (): void => {
        clearTimeout(timer);
        pending.delete(id);
        resolve({ answers: got.sort((a, b) => a.worker - b.worker), silent: Math.max(0, sent - got.length) });
      };
      const timer = setTimeout(done, waitMs);
      timer.unref();
      pending.set(id, { got, expected: workers.length, done });
      for (const w of workers) if (sendSafely(w as unknown as Parameters<typeof sendSafely>[0], { sbc: ADMIN_MESSAGE, id, ...request })) sent++;
      pending.get(id)!.expected = sent;
      if (sent === 0) done();
    });
  };

  const askRoute = (method: string, path: string, body?: unknown, waitMs?: number): Promise<WorkerAnswers> =>
    ask({ kind: 'route', method, path, query: '', ...(body !== undefined ? { body } : {}) }, waitMs);

  const server = new AdminServer({
    listen: o.config.admin.listen,
    ...(o.config.admin.token !== '' ? { token: o.config.admin.token } : {}),
    logger,
    health: async () => {
      const { answers, silent } = await askRoute('GET', '/healthz', undefined, CLUSTER_ADMIN_DEFAULTS.healthTimeoutMs);
      const bodies = answers.map((a) => parsedBody(a.message));
      const workers = answers.map((a, i) => ({ worker: a.worker, ...bodies[i] as Record<string, unknown>, status: statusOf(a.message) === 200 ? 'ok' : 'unavailable' }));
      const up = workers.filter((w) => w.status === 'ok').length;
      const registrar = gatewayRegistrarSummary(bodies);
      const summary = { ...(registrar !== undefined ? { registrar } : {}), workers: { expected: o.workers, up, silent }, perWorker: workers };
      return { ok: up >= o.workers && silent === 0, details: summary, summary };
    },
    registry: { contentType: Registry.PROMETHEUS_CONTENT_TYPE, metrics: async () => aggregatedMetrics(await ask({ kind: 'metrics' }), o.workers, o.restarts?.()).metrics() } as Pick<Registry, 'metrics' | 'contentType'>,
  });

  for (const route of LIST_ROUTES) {
    server.route('GET', route.path, async () => mergeLists(await askRoute('GET', route.path), route.lists, route.sums));
  }
  for (const path of VIEW_ROUTES) {
    server.route('GET', path, async () => mergeViews(await askRoute('GET', path), path === '/api/engines' ? withEngineTotals : undefined));
  }
  server.route('POST', '/api/reload', async (req) => mergeReloads(await askRoute('POST', '/api/reload', req.body), o.workers));

  try {
    await server.start();
  } catch (err) {
    o.cluster.off('message', onMessage);
    throw err;
  }
  return {
    address: () => server.address(),
    url: () => server.url(),
    ask,
    stop: async () => {
      o.cluster.off('message', onMessage);
      for (const p of [...pending.values()]) p.done();
      await server.stop();
    },
  };
}

function statusOf(message: Record<string, unknown>): number {
  return typeof message.status === 'number' ? message.status : 500;
}

function parsedBody(message: Record<string, unknown>): unknown {
  if (typeof message.payload !== 'string' || message.payload === '') return undefined;
  try {
    return JSON.parse(message.payload) as unknown;
  } catch {
    return undefined;
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Every worker's entries of the named lists, each marked with its worker; the named numbers summed. */
function mergeLists({ answers, silent }: WorkerAnswers, lists: readonly string[], sums: readonly string[]): AdminReply {
  const out: Record<string, unknown> = {};
  const summed: Record<string, number> = {};
  for (const a of answers) {
    const body = parsedBody(a.message);
    if (statusOf(a.message) !== 200 || !isRecord(body)) continue;
    for (const [key, value] of Object.entries(body)) {
      if (lists.includes(key) && Array.isArray(value)) {
        const list = (out[key] ??= []) as unknown[];
        for (const item of value) list.push(isRecord(item) ? { ...item, worker: a.worker } : item);
      } else if (sums.includes(key) && typeof value === 'number') {
        summed[key] = (summed[key] ?? 0) + value;
      } else if (!(key in out)) {
        out[key] = value;
      }
    }
  }
  Object.assign(out, summed);
  return { status: answers.length > 0 ? 200 : 503, body: { ...out, workers: answers.map((a) => a.worker), ...(silent > 0 ? { silentWorkers: silent } : {}) } };
}

/**
 * The first worker's view (backends, engines) with every `up` it holds made
 * true only where all workers say up; each worker's view under `workers`;
 * `totals` adds up what each worker counts for itself (engines).
 */
function mergeViews({ answers, silent }: WorkerAnswers, totals?: (merged: unknown, views: readonly unknown[]) => unknown): AdminReply {
  const views = answers.map((a) => ({ worker: a.worker, body: parsedBody(a.message) })).filter((v) => statusOf(answers.find((a) => a.worker === v.worker)!.message) === 200);
  if (views.length === 0) return { status: 503, body: { error: 'no worker answered', silentWorkers: silent } };
  const first = views[0]!.body;
  const upAnded = andUp(first, views.slice(1).map((v) => v.body));
  const merged = totals === undefined ? upAnded : totals(upAnded, views.map((v) => v.body));
  return { status: 200, body: { ...(isRecord(merged) ? merged : { view: merged }), workers: views, ...(silent > 0 ? { silentWorkers: silent } : {}) } };
}

/**
 * `base` with each boolean `up` ANDed with the value at the same place in
 * `others`; an entry up in `base` but down in another view takes that
 * view's `reason` too (the worker that saw it fail knows why).
 */
function andUp(base: unknown, others: unknown[]): unknown {
  if (Array.isArray(base)) return base.map((item, i) => andUp(item, others.map((o) => (Array.isArray(o) ? o[i] : undefined))));
  if (!isRecord(base)) return base;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(base)) {
    if (key === 'up' && typeof value === 'boolean') out[key] = value && others.every((o) => !isRecord(o) || o.up !== false);
    else out[key] = andUp(value, others.map((o) => (isRecord(o) ? o[key] : undefined)));
  }
  const downElsewhere = base.up === true ? others.find((o): o is Record<string, unknown> => isRecord(o) && o.up === false) : undefined;
  if (downElsewhere !== undefined && 'reason' in downElsewhere) out.reason = downElsewhere.reason;
  return out;
}

function mergeReloads({ answers, silent }: WorkerAnswers, expected: number): AdminReply {
  const workers = answers.map((a) => ({ worker: a.worker, status: statusOf(a.message), body: parsedBody(a.message) }));
  const refused = workers.find((w) => w.status !== 200);
  const all = refused === undefined && workers.length >= expected && silent === 0;
  return {
    status: all ? 200 : (refused?.status ?? 503),
    body: { status: all ? 'reloaded' : 'not reloaded everywhere', workers, ...(silent > 0 ? { silentWorkers: silent } : {}) },
  };
}

/** The workers' metrics summed into one registry, per-worker families labelled, plus worker up series. */
function aggregatedMetrics({ answers }: WorkerAnswers, expected: number, restarts: number | undefined): Registry<RegistryContentType> {
  const perWorker: MetricObjectWithValues<MetricValue<string>>[][] = [];
  for (const a of answers) {
    if (!Array.isArray(a.message.metrics)) continue;
    const worker = String(a.worker);
    perWorker.push((a.message.metrics as MetricObjectWithValues<MetricValue<string>>[]).map((m) => {
      if (!PER_WORKER_METRICS.test(m.name)) return m;
      // Distinct labels keep the values apart; 'sum' over one value is that value (and 'omit' would drop them).
      return { ...m, aggregator: 'sum', values: m.values.map((v) => ({ ...v, labels: { ...v.labels, worker } })) } as typeof m;
    }));
  }
  const aggregated = AggregatorRegistry.aggregate(perWorker as Parameters<typeof AggregatorRegistry.aggregate>[0]);
  const own = new Registry();
  const answered = new Set(answers.filter((a) => Array.isArray(a.message.metrics)).map((a) => a.worker));
  new Gauge({ name: 'sbc_workers_up', help: 'Workers that answered the metrics request', registers: [own] }).set(answered.size);
  new Gauge({ name: 'sbc_workers_expected', help: 'Workers the supervisor runs', registers: [own] }).set(expected);
  const up = new Gauge({ name: 'sbc_worker_up', help: 'Worker answered the metrics request: 1 yes, 0 no', labelNames: ['worker'] as const, registers: [own] });
  for (let id = 1; id <= Math.max(expected, ...answered); id++) up.set({ worker: String(id) }, answered.has(id) ? 1 : 0);
  if (restarts !== undefined) new Counter({ name: 'sbc_worker_restarts_total', help: 'Workers restarted by the supervisor after they died', registers: [own] }).inc(restarts);
  return Registry.merge([aggregated as Registry, own]);
}
