import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { pause, signal, stop } from './child-signals.js';
import { freePortInRange } from './free-port.js';

export interface RedisServerOptions {
  /** `--requirepass`: clients must AUTH with it. */
  password?: string;
  /** A config file given first on the command line (Sentinel needs one it can rewrite). */
  configFile?: string;
  /** More options, e.g. `['--sentinel']` or `['--replicaof', '127.0.0.1', '6379']`. */
  args?: string[];
}

export interface RunningRedis {
  /** PID of the current process (changes on restart). */
  readonly pid: number;
  port: number;
  /** `redis://127.0.0.1:<port>` (no credentials). */
  url: string;
  /** SIGSTOP: Redis keeps its sockets open but answers nothing. */
  /** SIGSTOP; resolves once the process is stopped. */
  pause(): Promise<void>;
  /** SIGCONT. */
  resume(): void;
  /** SIGKILL: connections drop at once, like a crashed node; data is gone (no persistence). */
  kill(): Promise<void>;
  /** Start a fresh redis-server on the same port (after kill or stop); resolves once it answers PING. */
  restart(): Promise<void>;
  /** SIGCONT, SIGTERM, SIGKILL after 3 s; resolves when it has exited and its directory is gone. Idempotent. */
  stop(): Promise<void>;
  /** Its stdout and stderr so far (the last 64 kB), for failure messages. */
  logs(): string;
}

const LOG_LIMIT = 64 * 1024;

/**
 * Start a real redis-server on a free loopback port (PEERS.md "Redis"): no
 * persistence, foreground; resolves once it answers PING. Fails naming the
 * Debian package when the binary is missing.
 */
export async function startRedis(options: RedisServerOptions = {}): Promise<RunningRedis> {
  const port = await freePortInRange(20_000, 29_999);
  // A replica saves the RDB of its full sync into --dir even with --save '': keep it out of the checkout.
  const dir = mkdtempSync(join(tmpdir(), 'sbc-redis-'));
  const args = [
    ...(options.configFile !== undefined ? [options.configFile] : []),
    ...['--bind', '127.0.0.1', '--port', String(port), '--dir', dir, '--save', '', '--appendonly', 'no', '--daemonize', 'no'],
    ...(options.password !== undefined ? ['--requirepass', options.password] : []),
    ...(options.args ?? []),
  ];
  let log = '';
  let child: ChildProcess;
  let exited: Promise<void>;
  let stopping: Promise<void> | undefined;

  async function spawnServer(): Promise<void> {
    child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const collect = (chunk: Buffer): void => {
      log = (log + chunk.toString()).slice(-LOG_LIMIT);
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    const current = child;
    exited = new Promise<void>((resolve) => current.once('exit', () => resolve()));
    const spawned = await new Promise<Error | undefined>((resolve) => {
      current.once('spawn', () => resolve(undefined));
      current.once('error', (error) => resolve(error));
    });
    if (spawned) {
      const missing = (spawned as NodeJS.ErrnoException).code === 'ENOENT';
      throw new Error(missing ? 'redis-server is not installed: install the Debian package redis-server' : `redis-server did not start: ${spawned.message}`);
    }
    try {
      await waitForPong(port, current, options.password);
    } catch (error) {
      await stop(current, exited);
      throw new Error(`${(error as Error).message}\nredis-server ${args.join(' ')}\n${log}`);
    }
  }

  try {
    await spawnServer();
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const stopAndClean = async (): Promise<void> => {
    await stop(child, exited);
    rmSync(dir, { recursive: true, force: true });
  };
  return {
    get pid() {
      return child.pid!;
    },
    port,
    url: `redis://127.0.0.1:${port}`,
    pause: () => pause(child),
    resume: () => signal(child, 'SIGCONT'),
    kill: async () => {
      signal(child, 'SIGKILL');
      await exited;
    },
    restart: async () => {
      await stop(child, exited);
      stopping = undefined;
      await spawnServer();
    },
    stop: () => (stopping ??= stopAndClean()),
    logs: () => log,
  };
}

/** PING every 50 ms until +PONG (up to 5 s), failing early if the server exits. */
async function waitForPong(port: number, child: ChildProcess, password: string | undefined): Promise<void> {
  const deadline = Date.now() + 5000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`redis-server exited (${child.exitCode ?? child.signalCode}) before answering PING`);
    if (await pingOnce(port, password)) return;
    if (Date.now() > deadline) throw new Error('redis-server did not answer PING within 5 s');
    await new Promise((r) => setTimeout(r, 50));
  }
}

function pingOnce(port: number, password: string | undefined): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let reply = '';
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('error', () => done(false));
    socket.on('connect', () => socket.write(`${password !== undefined ? `AUTH ${password}\r\n` : ''}PING\r\n`));
    socket.on('data', (chunk) => {
      reply += chunk.toString();
      if (reply.includes('+PONG')) done(true);
      else if (reply.includes('-')) done(false);
    });
  });
}

export interface RunningRedisCluster {
  nodes: RunningRedis[];
  /** `host:port` of every node, for `state.redis.cluster.nodes`. */
  seeds: string[];
  stop(): Promise<void>;
}

/**
 * A Redis Cluster of `size` masters on loopback, no replicas: slots split
 * evenly, nodes introduced to each other with CLUSTER MEET; resolves once
 * every node reports `cluster_state:ok`.
 */
export async function startRedisCluster(size = 3): Promise<RunningRedisCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'sbc-redis-cluster-'));
  const nodes: RunningRedis[] = [];
  const busPorts: number[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(nodes.map((n) => n.stop()));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < size; i++) {
      // The cluster bus port would default to port + 10000; choose a free one instead.
      const busPort = await freePortInRange(40_000, 49_999);
      busPorts.push(busPort);
      nodes.push(await startRedis({ args: ['--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${i}.conf`), '--cluster-port', String(busPort)] }));
    }
    const slots = 16_384;
    await withClients(nodes, async (clients) => {
      for (let i = 0; i < size; i++) {
        const first = Math.floor((i * slots) / size);
        const last = Math.floor(((i + 1) * slots) / size) - 1;
        await clients[i]!.call('CLUSTER', 'ADDSLOTSRANGE', String(first), String(last));
      }
      for (let i = 1; i < size; i++) await clients[0]!.call('CLUSTER', 'MEET', '127.0.0.1', String(nodes[i]!.port), String(busPorts[i]!));
      const deadline = Date.now() + 10_000;
      for (;;) {
        const infos = await Promise.all(clients.map((c) => c.call('CLUSTER', 'INFO') as Promise<string>));
        const links = await Promise.all(clients.map((c) => c.call('CLUSTER', 'NODES') as Promise<string>));
        // state ok is not enough: a PUBLISH reaches only nodes whose bus link is up.
        const linked = links.every((text) => text.trim().split('\n').every((line) => line.includes(' connected') && !line.includes('handshake')));
        if (linked && infos.every((info) => info.includes('cluster_state:ok') && info.includes(`cluster_known_nodes:${size}`))) break;
        if (Date.now() > deadline) throw new Error(`Redis Cluster not ok within 10 s:\n${infos.join('\n')}\n${links.join('\n')}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    });
    await untilPublishReachesEveryNode(nodes);
  } catch (error) {
    await stop();
    throw error;
  }
  return { nodes, seeds: nodes.map((n) => `127.0.0.1:${n.port}`), stop };
}

export interface RunningRedisSentinel {
  /** The sentinel itself. */
  sentinel: RunningRedis;
  /** `host:port`, for `state.redis.sentinels.nodes`. */
  address: string;
  name: string;
  /** Where the sentinel says the master is now. */
  masterPort(): Promise<number>;
  stop(): Promise<void>;
}

/**
 * One Sentinel watching `master` under `name`, quorum 1, declaring it down
 * after `downAfterMs` so a failover test does not wait long.
 */
export async function startRedisSentinel(master: RunningRedis, name = 'sbc-master', downAfterMs = 500): Promise<RunningRedisSentinel> {
  const dir = mkdtempSync(join(tmpdir(), 'sbc-redis-sentinel-'));
  const configFile = join(dir, 'sentinel.conf');
  writeFileSync(configFile, [
    `sentinel monitor ${name} 127.0.0.1 ${master.port} 1`,
    `sentinel down-after-milliseconds ${name} ${downAfterMs}`,
    `sentinel failover-timeout ${name} 2000`,
    '',
  ].join('\n'));
  let sentinel: RunningRedis;
  try {
    sentinel = await startRedis({ configFile, args: ['--sentinel'] });
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    sentinel,
    address: `127.0.0.1:${sentinel.port}`,
    name,
    masterPort: () => withClients([sentinel], async ([c]) => {
      const reply = (await c!.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name)) as [string, string] | null;
      return reply === null ? 0 : Number(reply[1]);
    }),
    stop: async () => {
      await sentinel.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Publish from each node until a subscriber on every node has heard from every node (up to 10 s). */
async function untilPublishReachesEveryNode(nodes: RunningRedis[]): Promise<void> {
  const channel = 'cluster-ready-probe';
  const heard = nodes.map(() => new Set<string>());
  const subscribers = nodes.map((n) => new Redis({ host: '127.0.0.1', port: n.port, lazyConnect: true }));
  try {
    await Promise.all(subscribers.map((s) => s.connect()));
    await Promise.all(subscribers.map((s, i) => {
      s.on('message', (_channel: string, from: string) => heard[i]!.add(from));
      return s.subscribe(channel);
    }));
    await withClients(nodes, async (clients) => {
      const deadline = Date.now() + 10_000;
      while (!heard.every((h) => h.size === nodes.length)) {
        if (Date.now() > deadline) throw new Error(`cluster pub/sub not across every node within 10 s: ${heard.map((h) => h.size).join(', ')}`);
        await Promise.all(clients.map((c, i) => c.publish(channel, String(i))));
        await new Promise((r) => setTimeout(r, 50));
      }
    });
  } finally {
    for (const s of subscribers) s.disconnect();
  }
}

/** Plain clients to `servers` for the duration of `use`. */
async function withClients<T>(servers: RunningRedis[], use: (clients: Redis[]) => Promise<T>): Promise<T> {
  const clients = servers.map((s) => new Redis({ host: '127.0.0.1', port: s.port, lazyConnect: true, maxRetriesPerRequest: 1 }));
  try {
    await Promise.all(clients.map((c) => c.connect()));
    return await use(clients);
  } finally {
    for (const c of clients) c.disconnect();
  }
}
