/**
 * A gateway worker's admin API when a supervisor serves the admin listener
 * (`workers: N`): the worker opens no admin port; it answers the
 * supervisor's route and metrics requests over its IPC channel with the same
 * routes its own listener would serve.
 */
import type { Registry } from 'prom-client';
import type { AdminServer } from '../admin/server.js';
import type { Logger } from '../log/logger.js';
import { isSbcMessage, sendSafely, type IpcEndpoint } from './ipc-endpoint.js';
import { ADMIN_MESSAGE } from './admin-protocol.js';

export interface WorkerAdminOptions {
  admin: AdminServer;
  registry: Registry;
  worker: number;
  endpoint: IpcEndpoint;
  logger: Logger;
}

/** Answer the supervisor's admin requests until the returned function is called. */
export function serveAdminOverIpc(o: WorkerAdminOptions): () => void {
  const onMessage = (message: unknown): void => {
    if (!isSbcMessage(message, ADMIN_MESSAGE) || typeof message.id !== 'number' || message.status !== undefined || message.metrics !== undefined) return;
    const id = message.id;
    const reply = (answer: Record<string, unknown>): void => {
      sendSafely(o.endpoint, { sbc: ADMIN_MESSAGE, id, worker: o.worker, ...answer }, (err) => o.logger.debug({ err }, 'admin answer not delivered'));
    };
    if (message.kind === 'metrics') {
      o.registry.getMetricsAsJSON().then(
        (metrics) => reply({ metrics }),
        (err: unknown) => {
          o.logger.error({ err }, 'metrics not collected');
          reply({ metrics: [] });
        },
      );
      return;
    }
    const method = typeof message.method === 'string' ? message.method : 'GET';
    const path = typeof message.path === 'string' ? message.path : '/';
    const query = new URLSearchParams(typeof message.query === 'string' ? message.query : '');
    void o.admin.answer(method, path, query, message.body).then((raw) => reply({ status: raw.status, contentType: raw.contentType, payload: raw.payload }));
  };
  o.endpoint.on('message', onMessage);
  return () => o.endpoint.off('message', onMessage);
}
