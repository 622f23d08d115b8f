/**
 * The suite at `workers` N: with TEST_GATEWAY_WORKERS=N (N ≥ 2, set by
 * `node scripts/run-tests.mjs --workers N`) startSbc runs the real CLI with a
 * supervisor and N workers in a child process instead of a Server in the
 * test's own process. Listeners configured on port 0 get a free port picked
 * here first (every worker must bind the same one); the admin URL is the
 * supervisor's, answering for every worker.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../../src/config/schema.js';
import type { ListenerInfo, TransportProtocol } from '../../src/transport/flow.js';
import { freePortInRange } from './free-port.js';
import { runWorkersCli, type WorkersCli } from './sbc-cluster.js';

/** Workers the suite runs the gateway with (1: in the test's own process). */
export function testWorkers(): number {
  const n = Number(process.env.TEST_GATEWAY_WORKERS ?? '1');
  return Number.isInteger(n) && n > 1 ? n : 1;
}

export interface WorkersSbc {
  cli: WorkersCli;
  /** The configuration input as written (free ports in place of 0). */
  input: Record<string, unknown>;
  listener(transport: TransportProtocol, config: Config, address?: string): ListenerInfo;
  /** Every port on `transport` (on `address` when given): the configured listeners' and each worker's own (they send from those). */
  ports(transport: TransportProtocol, config: Config, address?: string): number[];
  adminUrl: string;
  stop(): Promise<void>;
}

/** Starts the CLI with `workers` and the configuration `input` (YAML input shape) written into `dir`. */
export async function startWorkersSbc(input: Record<string, unknown>, workers: number, dir: string, cleanup: () => void): Promise<WorkersSbc> {
  const listen = Array.isArray(input.listen) ? (input.listen as Array<Record<string, unknown>>) : [];
  // TEST_SBC_LOG: the gateway logs at debug, as in-process, and its lines are echoed (runWorkersCli).
  const log = process.env.TEST_SBC_LOG ? { log: { level: 'debug', ...(input.log as Record<string, unknown> | undefined) } } : {};
  const written = { ...input, ...log, workers, listen: await Promise.all(listen.map(async (l) => (l.port === 0 ? { ...l, port: await freePortInRange(20_000, 29_999) } : l))) };
  const file = join(dir, 'gateway.json');
  writeFileSync(file, JSON.stringify(written));
  const shared = written.listen.filter((l) => l.transport === 'udp').map((l) => Number(l.port));
  const cli = await runWorkersCli(file, workers, shared, cleanup);
  const listener = (t: TransportProtocol, config: Config, address?: string): ListenerInfo => {
    const index = config.listen.findIndex((l) => l.transport === t && (address === undefined || l.address === address));
    const spec = config.listen[index];
    if (spec === undefined) throw new Error(`no ${t} listener`);
    return { ...spec, advertise: spec.advertise ?? spec.address, index, boundPort: spec.port, up: true };
  };
  return {
    cli,
    input: written,
    listener,
    ports: (t, config, address) => {
      // On one address: that listener's port and each worker's own there; else every port on the transport.
      const configured = address === undefined ? config.listen.filter((l) => l.transport === t).map((l) => l.port) : [listener(t, config, address).boundPort];
      const prefix = address === undefined ? `${t}:` : `${t}:${address}:`;
      const own = [...cli.workers.values()].flatMap((w) => w.listeners).filter((x) => x.startsWith(prefix)).map((x) => Number(x.slice(x.lastIndexOf(':') + 1)));
      return [...new Set([...configured, ...own])];
    },
    adminUrl: cli.adminUrl ?? '',
    stop: () => cli.stop(),
  };
}
