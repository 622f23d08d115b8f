/**
 * The contract between the supervisor and its workers (`workers: N`): the
 * supervisor forks each worker with these environment variables; a process
 * that is a node:cluster worker *and* has WEBRTC_SBC_WORKER_ID is a gateway worker.
 *
 * | variable | meaning |
 * | --- | --- |
 * | `WEBRTC_SBC_WORKER_ID` | this worker's id, an integer 1..N (N ≤ 99), kept by the worker that replaces it after a crash |
 * | `WEBRTC_SBC_WORKER_COUNT` | N, the number of workers the supervisor runs (optional; default 1) |
 *
 * Not `SBC_*`: those are configuration overrides (config/overrides.ts).
 * The same names as src/cluster/worker-link.ts (the supervisor's side).
 *
 * In a gateway worker, `state.store: memory` means the store the supervisor
 * serves over IPC (IpcStateStore), and the admin API is answered over IPC
 * for the supervisor's listener instead of a port of its own.
 */
import cluster from 'node:cluster';

export const WORKER_ID_ENV = 'WEBRTC_SBC_WORKER_ID';
export const WORKER_COUNT_ENV = 'WEBRTC_SBC_WORKER_COUNT';

/** The environment a supervisor gives worker `id` of `count` (cluster.fork(workerEnv(id, count))). */
export function workerEnv(id: number, count: number): Record<string, string> {
  return { [WORKER_ID_ENV]: String(id), [WORKER_COUNT_ENV]: String(count) };
}

/** This process's worker id when it is a gateway worker under a supervisor, else undefined. */
export function gatewayWorkerId(env: NodeJS.ProcessEnv = process.env): number | undefined {
  if (!cluster.isWorker) return undefined;
  return positiveInteger(env[WORKER_ID_ENV]);
}

/** How many workers the supervisor runs (1 outside a cluster). */
export function gatewayWorkerCount(env: NodeJS.ProcessEnv = process.env): number {
  if (gatewayWorkerId(env) === undefined) return 1;
  return positiveInteger(env[WORKER_COUNT_ENV]) ?? 1;
}

function positiveInteger(text: string | undefined): number | undefined {
  if (text === undefined || !/^[1-9][0-9]?$/.test(text)) return undefined;
  return Number(text);
}
