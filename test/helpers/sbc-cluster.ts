/**
 * A gateway with `workers` > 1, run as the real CLI in a child process
 * (node:cluster needs its own process): config written to a temp file,
 * stdout read as JSON lines, each worker's pid and inside UDP port learnt from
 * its start-up line. Everything it starts is stopped by `stop()`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stop as stopChild } from './child-signals.js';
import { freePortInRange } from './free-port.js';
import { sbcCommand } from './paths.js';

export interface ClusterWorker {
  id: number;
  pid: number;
  /** The worker's own UDP port (its inside port). */
  insidePort: number;
  /** Every listener as its start-up line gives it (`transport:address:port`, shared and own). */
  listeners: string[];
}

export interface LogLine {
  msg?: string;
  worker?: number;
  [key: string]: unknown;
}

/** The CLI running with workers, whatever its configuration. */
export interface WorkersCli {
  child: ChildProcess;
  /** Live workers by id (a restarted worker replaces its entry). */
  workers: Map<number, ClusterWorker>;
  lines: LogLine[];
  exited: Promise<number | null>;
  /** The next log line (from now on, or already seen after `since`) that matches. */
  waitFor(match: (l: LogLine) => boolean, timeoutMs?: number, since?: number): Promise<LogLine>;
  /** SIGKILL worker `id` (refuses a pid not learnt yet: kill(0) would hit the test's own process group). */
  killWorker(id: number): number;
  /** The worker whose inside port is `port`. */
  workerByInsidePort(port: number): ClusterWorker | undefined;
  /** The supervisor's admin API (http://…), once it said it listens. */
  adminUrl: string | undefined;
  stop(): Promise<void>;
}

export interface ClusterSbc extends WorkersCli {
  /** The shared SIP port (UDP and TCP). */
  port: number;
  /** WS / WSS ports when asked for (0 otherwise). */
  wsPort: number;
  wssPort: number;
  tlsPort: number;
}

/** Starts `webrtc-sbc` with `workers` and the YAML `extra`; resolves when every worker is ready. */
export async function startClusterSbc(workers: number, extra = '', options: { ws?: boolean; wss?: boolean; tls?: boolean; /** The `overload:` line, in place of the tests' own. */ overload?: string } = {}): Promise<ClusterSbc> {
  const dir = mkdtempSync(join(tmpdir(), 'sbc-cluster-'));
  const port = await freePortInRange(20000, 29999);
  const wsPort = options.ws === true ? await freePortInRange(20000, 29999) : 0;
  const wssPort = options.wss === true ? await freePortInRange(20000, 29999) : 0;
  const tlsPort = options.tls === true ? await freePortInRange(20000, 29999) : 0;
  const file = join(dir, 'gateway.yaml');
  writeFileSync(file, `workers: ${workers}
listen:
  - { transport: udp, address: 127.0.0.1, port: ${port} }
  - { transport: tcp, address: 127.0.0.1, port: ${port} }
${wsPort > 0 ? `  - { transport: ws, address: 127.0.0.1, port: ${wsPort} }\n` : ''}${wssPort > 0 ? `  - { transport: wss, address: 127.0.0.1, port: ${wssPort} }\n` : ''}${tlsPort > 0 ? `  - { transport: tls, address: 127.0.0.1, port: ${tlsPort} }\n` : ''}tls: { cert: "${join(dir, 'server.crt')}", key: "${join(dir, 'server.key')}" }
admin: { listen: "127.0.0.1:0" }
web: { enabled: false }
media: { mode: passthrough }
shutdown: { drainSeconds: 0 }
security: { blockedUserAgents: [], rateLimit: { requestsPerSecondPerIp: 0 } }
${options.overload ?? 'overload: { loopDelayMs: 2000 }'}
${extra}`);
  const cli = await runWorkersCli(file, workers, [port], () => rmSync(dir, { recursive: true, force: true }));
  return { ...cli, port, wsPort, wssPort, tlsPort };
}

/**
 * Runs `webrtc-sbc --config FILE` whose configuration has `workers`;
 * resolves when every worker and the admin API are ready. `shared` are the
 * configured UDP ports (a worker's other UDP port is its inside port);
 * `cleanup` runs after the process has exited.
 */
export async function runWorkersCli(file: string, workers: number, shared: number[], cleanup: () => void = () => undefined): Promise<WorkersCli> {
  const { command, args } = sbcCommand();
  const child = spawn(command, [...args, '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const lines: LogLine[] = [];
  const waiters: { match: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = [];
  const live = new Map<number, ClusterWorker>();
  let adminUrl: string | undefined;
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => { stderr += c.toString(); });
  createInterface({ input: child.stdout! }).on('line', (text) => {
    // TEST_SBC_LOG: every line the gateway prints, as an in-process gateway's logger would show it.
    if (process.env.TEST_SBC_LOG) process.stdout.write(`${text}\n`);
    let line: LogLine;
    try { line = JSON.parse(text) as LogLine; } catch { return; }
    lines.push(line);
    // A worker's start-up line (its ports) and the supervisor's 'worker ready' (its pid) come from two processes: either may be read first.
    if (typeof line.worker === 'number' && (line.msg === 'webrtc-sbc started' || line.msg === 'worker ready')) {
      const w = live.get(line.worker) ?? { id: line.worker, pid: 0, insidePort: 0, listeners: [] };
      live.set(line.worker, w);
      if (line.msg === 'worker ready' && typeof line.pid === 'number') w.pid = line.pid;
      if (line.msg === 'webrtc-sbc started') {
        const listeners = ((line.listeners as string[] | undefined) ?? []).map((l) => l.replace(/ \(advertised as .*\)$/, ''));
        w.listeners = listeners;
        w.insidePort = listeners.filter((l) => l.startsWith('udp:')).map((l) => Number(l.split(':').pop())).find((p) => !shared.includes(p)) ?? 0;
      }
    }
    if (line.msg === 'admin API listening for every worker' && typeof line.admin === 'string') adminUrl = line.admin;
    for (let k = waiters.length - 1; k >= 0; k--) {
      if (waiters[k]!.match(line)) waiters.splice(k, 1)[0]!.resolve(line);
    }
  });
  const waitFor = (match: (l: LogLine) => boolean, timeoutMs = 20_000, since?: number): Promise<LogLine> => {
    if (since !== undefined) {
      const seen = lines.slice(since).find(match);
      if (seen !== undefined) return Promise.resolve(seen);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no such log line within ${timeoutMs} ms; last lines:\n${lines.slice(-5).map((l) => JSON.stringify(l)).join('\n')}\n${stderr}`)), timeoutMs);
      waiters.push({ match, resolve: (l) => { clearTimeout(timer); resolve(l); } });
    });
  };
  const stop = async (): Promise<void> => {
    // CLUSTER_DEBUG=FILE: every line the gateway printed, written to FILE, to see why a test failed.
    if (process.env.CLUSTER_DEBUG) writeFileSync(process.env.CLUSTER_DEBUG, lines.map((l) => JSON.stringify(l)).join('\n'));
    await stopChild(child, exited.then(() => undefined));
    cleanup();
  };
  try {
    const ready = new Set<number>();
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`workers not ready within 30 s:\n${lines.map((l) => JSON.stringify(l)).join('\n')}\n${stderr}`)), 30_000);
      void exited.then((code) => reject(new Error(`gateway exited (${code}) before its workers were ready:\n${stderr}`)));
      const check = (l: LogLine): boolean => {
        if (l.msg === 'worker ready' && typeof l.worker === 'number') ready.add(l.worker);
        // A worker's own start-up line (its ports) and the supervisor's 'worker ready' come from two processes, in either order: both are needed.
        if (ready.size < workers || adminUrl === undefined || [...ready].some((id) => (live.get(id)?.listeners.length ?? 0) === 0)) return false;
        clearTimeout(timer);
        resolve();
        return true;
      };
      for (const l of lines) if (check(l)) return;
      waiters.push({ match: check, resolve: () => undefined });
    });
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    child,
    workers: live,
    lines,
    exited,
    waitFor,
    killWorker: (id) => {
      const pid = live.get(id)?.pid ?? 0;
      if (!(pid > 1)) throw new Error(`worker ${id} has no known pid`);
      process.kill(pid, 'SIGKILL');
      return pid;
    },
    workerByInsidePort: (p) => [...live.values()].find((w) => w.insidePort === p),
    get adminUrl() { return adminUrl; },
    stop,
  };
}
