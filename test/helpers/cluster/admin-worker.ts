/**
 * A stand-in worker for cluster admin tests: answers the supervisor's admin
 * requests with the AdminServer routes of a tiny fake gateway (one flow,
 * a counter), or, with ADMIN_WORKER_MUTE=1, never answers (a worker that
 * hangs or is still starting).
 */
import { Counter, Registry } from 'prom-client';
import { AdminServer } from '../../../src/admin/server.js';
import { parentEndpoint } from '../../../src/cluster/ipc-endpoint.js';
import { serveAdminOverIpc } from '../../../src/cluster/worker-admin.js';
import { gatewayWorkerId } from '../../../src/cluster/worker-env.js';
import { silentLogger } from '../../../src/log/logger.js';

const worker = gatewayWorkerId() ?? 0;
const endpoint = parentEndpoint();
if (process.env.ADMIN_WORKER_MUTE !== '1' && endpoint !== undefined) {
  const registry = new Registry();
  new Counter({ name: 'sbc_sip_messages_total', help: 'test', labelNames: ['direction'], registers: [registry] }).inc({ direction: 'in' }, 10 * worker);
  const admin = new AdminServer({ listen: '127.0.0.1:0', logger: silentLogger(), registry, health: () => ({ ok: true, details: {}, summary: { worker } }) });
  admin.route('GET', '/api/flows', () => ({ status: 200, body: { flows: [{ id: `flow-of-${worker}` }] } }));
  serveAdminOverIpc({ admin, registry, worker, endpoint, logger: silentLogger() });
}
process.send?.({ fixture: 'ready' });
process.on('disconnect', () => process.exit(0));
