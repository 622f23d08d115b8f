/** Several gateway workers on one machine (`workers` > 1): the supervisor and each worker's link to it. */
export { Supervisor, type SupervisorOptions } from './supervisor.js';
export { WorkerLink } from './worker-link.js';
export { gatewayWorkerId, gatewayWorkerCount, workerEnv, WORKER_ID_ENV, WORKER_COUNT_ENV } from './worker-env.js';
export { workerCount } from './worker-count.js';
export { workerConfig } from './worker-config.js';
