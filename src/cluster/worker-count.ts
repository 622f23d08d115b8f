import { availableParallelism } from 'node:os';

/** `workers` as a number of processes: `auto` is one per core the process may use. */
export function workerCount(setting: number | 'auto'): number {
  return setting === 'auto' ? Math.max(1, availableParallelism()) : setting;
}
