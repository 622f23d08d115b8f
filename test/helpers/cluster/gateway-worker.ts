/**
 * A gateway worker for cluster tests: run by node:cluster (the test process
 * is the primary and serves the shared store and the admin API). The
 * configuration comes as JSON in SBC_TEST_CONFIG (YAML input shape); the
 * worker reports `{ fixture: 'ready' }` once its Server has started, and
 * stops on `{ fixture: 'stop' }`.
 */
import { configSchema } from '../../../src/config/schema.js';
import { createLogger, silentLogger } from '../../../src/log/logger.js';
import { Server } from '../../../src/server.js';

const input = JSON.parse(process.env.SBC_TEST_CONFIG ?? '{}') as Record<string, unknown>;
const config = configSchema.parse(input);
const logger = process.env.TEST_SBC_LOG ? createLogger('debug') : silentLogger();
const server = new Server(config, logger);

process.on('message', (message: unknown) => {
  if ((message as { fixture?: string }).fixture !== 'stop') return;
  void server.stop().finally(() => process.exit(0));
});

server.start().then(
  () => process.send?.({ fixture: 'ready', worker: Number(process.env.WEBRTC_SBC_WORKER_ID) }),
  (err: unknown) => {
    process.send?.({ fixture: 'failed', error: String(err) });
    process.exit(1);
  },
);
