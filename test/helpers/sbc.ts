/**
 * Starts a real SBC in-process on loopback with ephemeral ports, for
 * integration tests. Everything it starts is stopped by `stop()`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configSchema, type Config } from '../../src/config/schema.js';
import { silentLogger, createLogger } from '../../src/log/logger.js';
import { Server, type ServerOptions } from '../../src/server.js';
import type { ListenerInfo, TransportProtocol } from '../../src/transport/flow.js';
import { startWorkersSbc, testWorkers } from './sbc-workers.js';

export interface TestSbc {
  server: Server;
  config: Config;
  /** The first listener of `transport` (on `address` when given). */
  listener(transport: TransportProtocol, address?: string): ListenerInfo;
  /** `host:port` of a listener. */
  hostPort(transport: TransportProtocol): string;
  /**
   * Every port the gateway has on `transport` (on `address` when given):
   * its listeners' and, with workers, each worker's own (a worker sends from
   * it and names it in its Via, Record-Route, Path and Contact; README
   * "Every core: `workers`").
   */
  ports(transport: TransportProtocol, address?: string): number[];
  /** Workers the gateway runs with (1: a Server in the test's process). */
  workers: number;
  adminUrl: string;
  stop(): Promise<void>;
}

/**
 * Tests send from 127.0.0.1 at rates no phone would, and some use sipsak (a
 * blocked User-Agent by default): unless a test sets them, no rate limit and
 * no blocked User-Agents. A test's own `security` keys win, merged over these.
 */
function testSecurity(own: unknown): Record<string, unknown> {
  const o = isRecord(own) ? own : {};
  return {
    blockedUserAgents: [],
    ...o,
    rateLimit: { requestsPerSecondPerIp: 0, ...(isRecord(o.rateLimit) ? o.rateLimit : {}) },
  };
}

/**
 * An in-process SBC shares its event loop with the test's own peers (werift
 * phones doing DTLS, the browser driver, scripted SIP peers): their work shows
 * up as loop delay that a deployed gateway would not have. Unless a test sets
 * it, admission control judges the loop by a threshold only a real stall
 * reaches; every other signal keeps its default, and the overload tests set
 * the thresholds they exercise.
 */
function testOverload(own: unknown): Record<string, unknown> {
  return { loopDelayMs: 2000, ...(isRecord(own) ? own : {}) };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Config input as YAML would give it; listeners default to udp, tcp, ws on
 * 127.0.0.1:0, media to passthrough. With TEST_GATEWAY_WORKERS=N (the suite at
 * workers N) the gateway is the real CLI with N workers in a child process
 * (test/helpers/sbc-workers.ts); a test that looks inside the gateway's
 * process (`server`) or hands it ServerOptions uses startSbcInProcess.
 */
export async function startSbc(input: Record<string, unknown> = {}): Promise<TestSbc> {
  const workers = testWorkers();
  if (workers === 1) return startSbcInProcess(input);
  const dir = mkdtempSync(join(tmpdir(), 'sbc-test-'));
  const cleanup = (): void => rmSync(dir, { recursive: true, force: true });
  try {
    const running = await startWorkersSbc(withTestDefaults(input, dir), workers, dir, cleanup);
    const config = configSchema.parse(running.input);
    return {
      get server(): Server {
        throw new Error('this test looks inside the gateway process: it starts the gateway with startSbcInProcess');
      },
      config,
      listener: (t, address) => running.listener(t, config, address),
      ports: (t, address) => running.ports(t, config, address),
      hostPort: (t) => `${running.listener(t, config).address}:${running.listener(t, config).boundPort}`,
      workers,
      adminUrl: running.adminUrl,
      stop: () => running.stop(),
    };
  } catch (err) {
    cleanup();
    throw err;
  }
}

/** The configuration input a test gateway starts from, with the test's own keys over it. */
function withTestDefaults(input: Record<string, unknown>, dir: string): Record<string, unknown> {
  return {
    listen: [
      { transport: 'udp', address: '127.0.0.1', port: 0 },
      { transport: 'tcp', address: '127.0.0.1', port: 0 },
      { transport: 'ws', address: '127.0.0.1', port: 0 },
    ],
    tls: { cert: join(dir, 'server.crt'), key: join(dir, 'server.key') },
    admin: { listen: '127.0.0.1:0' },
    web: { enabled: false },
    shutdown: { drainSeconds: 0 },
    // SDP passes unchanged unless a test picks a relay (media.mode auto would start the embedded one).
    media: { mode: 'passthrough' },
    ...input,
    security: testSecurity(input.security),
    overload: testOverload(input.overload),
  };
}

/** The gateway as a Server in the test's own process, whatever TEST_GATEWAY_WORKERS says. */
export async function startSbcInProcess(input: Record<string, unknown> = {}, options: ServerOptions = {}): Promise<TestSbc> {
  const dir = mkdtempSync(join(tmpdir(), 'sbc-test-'));
  const config = configSchema.parse(withTestDefaults(input, dir));
  const logger = process.env.TEST_SBC_LOG ? createLogger('debug') : silentLogger();
  const server = new Server(config, logger, options);
  try {
    await server.start();
  } catch (err) {
    await server.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const listener = (t: TransportProtocol, address?: string): ListenerInfo => {
    const l = server.transport.listeners.find((x) => x.transport === t && (address === undefined || x.address === address));
    if (l === undefined) throw new Error(`no ${t} listener`);
    return l;
  };
  const admin = server.adminAddress();
  return {
    server,
    config,
    listener,
    hostPort: (t) => `${listener(t).address}:${listener(t).boundPort}`,
    ports: (t, address) => server.transport.listeners.filter((x) => x.transport === t && (address === undefined || x.address === address)).map((x) => x.boundPort),
    workers: 1,
    adminUrl: `http://127.0.0.1:${admin?.port ?? 0}`,
    stop: async () => {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Regular-expression source matching any port the gateway has on `transport` (TestSbc.ports). */
export function portPattern(sbc: TestSbc, transport: TransportProtocol): string {
  return `(?:${sbc.ports(transport).join('|')})`;
}

/**
 * Regular-expression source of the `;w=N` a worker puts on the Record-Route,
 * Path and B2BUA Contact URIs it creates (README "Every core: `workers`"):
 * required with workers, matching nothing but the empty string without.
 */
export function workerParamPattern(sbc: TestSbc): string {
  return sbc.workers > 1 ? ';w=[1-9]\\d*' : '';
}

/** Topology records still held for dialogs (GET /api/dialogs `topologyRecords`, summed over workers). */
export async function topologyRecords(sbc: Pick<TestSbc, 'adminUrl'>): Promise<number> {
  const res = await fetch(`${sbc.adminUrl}/api/dialogs`);
  if (res.status !== 200) throw new Error(`GET /api/dialogs: ${res.status}`);
  const n = ((await res.json()) as { topologyRecords?: unknown }).topologyRecords;
  if (typeof n !== 'number') throw new Error('GET /api/dialogs has no topologyRecords: is topology hiding on?');
  return n;
}
