/**
 * The SBC under test as a child process: `node dist/src/main.js --config
 * <tmp yaml>` with listeners on free loopback ports, admin on a free port,
 * one backend (the bench UAS), log level warn. Optionally CPU-profiled
 * (`--cpu-prof`) or with the inspector open for heap measurements.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { freePortInRange } from '../../test/helpers/free-port.js';
import { repoRoot, sbcCommand } from '../../test/helpers/paths.js';
import { stopChild } from './children.js';

export interface SbcOptions {
  /** UDP port of the UAS the backend group points at. */
  uasPort: number;
  /** Also listen for WSS. */
  wss?: boolean;
  /** Inbound connections allowed from one IP (all bench clients are 127.0.0.1). */
  maxConnectionsPerIp?: number;
  /** Write a V8 CPU profile into this directory when the SBC exits. */
  cpuProfileDir?: string;
  /** Open the inspector on this port (for GC and heap figures). */
  inspectPort?: number;
  /**
   * What-if only: preload udp-rcvbuf-preload so the SBC's UDP sockets get this
   * kernel receive buffer. Undefined = the SBC exactly as shipped.
   */
  udpRecvBufferBytes?: number;
  /** Directory for config and certificates; shared between runs so the key is generated once. */
  workDir: string;
  /** Media engine (ng URL) to run calls with a WebRTC side through; none = passthrough. */
  rtpengineUrl?: string;
  /** The `media` config section as a whole (e.g. the embedded relay); wins over rtpengineUrl. */
  media?: Record<string, unknown>;
  /** Also listen for plain WS (SIP over WebSocket without TLS). */
  ws?: boolean;
  /** Address of the UAS. @default 127.0.0.1 */
  uasHost?: string;
  /** probe.intervalSeconds of the backend group (0 = probes off, e.g. for a SIPp UAS, which answers no OPTIONS). @default the SBC's default */
  probeIntervalSeconds?: number;
  /** Extra flags for node itself, e.g. --max-old-space-size=256. */
  nodeFlags?: string[];
  /** Called with every line the SBC prints, as it arrives. */
  onLine?: (line: string) => void;
  /** The `routing` config section (routing.script, routing.http). */
  routing?: Record<string, unknown>;
  /** The `workers` key (1, N or auto). @default the SBC's default */
  workers?: number | 'auto';
  /** The gateway's built main.js to run instead of this checkout's (another build, for A/B comparisons). */
  entry?: string;
}

export interface SbcProcess {
  pid: number;
  udpPort: number;
  wssPort: number | undefined;
  wsPort: number | undefined;
  adminUrl: string;
  /** The last lines the SBC printed, for a failure report. */
  tail(): string[];
  /** How the process ended (`exit 1`, `SIGABRT`), or undefined while it runs. */
  exitStatus(): string | undefined;
  stop(): Promise<void>;
}

/** A scratch directory for the bench; removed by the returned function. */
export function benchWorkDir(): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'sbc-bench-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Start the SBC and wait until /healthz says every listener is up. */
export async function startSbcProcess(o: SbcOptions): Promise<SbcProcess> {
  // Ports below the kernel's ephemeral range, so the generators' sockets cannot take them.
  const udpPort = await freePortInRange(20000, 32000);
  const wssPort = o.wss ? await freePortInRange(20000, 32000) : undefined;
  const wsPort = o.ws ? await freePortInRange(20000, 32000) : undefined;
  const adminPort = await freePortInRange(20000, 32000);
  const config = {
    listen: [
      { transport: 'udp', address: '127.0.0.1', port: udpPort },
      ...(wssPort !== undefined ? [{ transport: 'wss', address: '127.0.0.1', port: wssPort }] : []),
      ...(wsPort !== undefined ? [{ transport: 'ws', address: '127.0.0.1', port: wsPort }] : []),
    ],
    tls: { cert: join(o.workDir, 'server.crt'), key: join(o.workDir, 'server.key') },
    backends: {
      default: {
        targets: [{ uri: `sip:${o.uasHost ?? '127.0.0.1'}:${o.uasPort};transport=udp` }],
        ...(o.probeIntervalSeconds !== undefined ? { probe: { intervalSeconds: o.probeIntervalSeconds } } : {}),
      },
    },
    // Signalling only unless an engine is given: then offer/answer/delete through it.
    media: o.media ?? (o.rtpengineUrl === undefined ? { mode: 'passthrough' } : { mode: 'rtpengine', rtpengine: { engines: [{ url: o.rtpengineUrl }] } }),
    // Every generator shares 127.0.0.1: per-IP limits would measure the limiter.
    security: { rateLimit: { requestsPerSecondPerIp: 0 } },
    transport: { maxConnectionsPerIp: o.maxConnectionsPerIp ?? 100 },
    admin: { listen: `127.0.0.1:${adminPort}` },
    web: { enabled: false },
    shutdown: { drainSeconds: 0 },
    log: { level: 'warn' },
    ...(o.routing !== undefined ? { routing: o.routing } : {}),
    ...(o.workers !== undefined ? { workers: o.workers } : {}),
  };
  // JSON is YAML.
  const file = join(o.workDir, `sbc-${udpPort}.yaml`);
  writeFileSync(file, JSON.stringify(config, null, 2));

  const { command, args } = o.entry !== undefined ? { command: process.execPath, args: [o.entry] } : sbcCommand();
  const nodeFlags: string[] = [...(o.nodeFlags ?? [])];
  if (o.cpuProfileDir !== undefined) nodeFlags.push('--cpu-prof', `--cpu-prof-dir=${o.cpuProfileDir}`);
  if (o.inspectPort !== undefined) nodeFlags.push(`--inspect=127.0.0.1:${o.inspectPort}`);
  const script = args.slice(-1);
  const preload: string[] = [];
  const env = { ...process.env };
  if (o.udpRecvBufferBytes !== undefined) {
    const fromSource = import.meta.url.endsWith('.ts');
    preload.push('--import', pathToFileURL(join(dirname(fileURLToPath(import.meta.url)), `udp-rcvbuf-preload${fromSource ? '.ts' : '.js'}`)).href);
    env['BENCH_UDP_RCVBUF'] = String(o.udpRecvBufferBytes);
  }
  // Preloads go after the loader flags (tsx) and before the entry point.
  const argv = [...nodeFlags, ...args.slice(0, -1), ...preload, ...script, '--config', file];
  const child = spawn(command, argv, { stdio: ['ignore', 'pipe', 'pipe'], cwd: repoRoot, env });
  const lines: string[] = [];
  const keep = (chunk: Buffer): void => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (line.trim() === '') continue;
      lines.push(line);
      if (lines.length > 50) lines.shift();
      o.onLine?.(line);
    }
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);

  const adminUrl = `http://127.0.0.1:${adminPort}`;
  const sbc: SbcProcess = {
    pid: child.pid ?? 0,
    udpPort,
    wssPort,
    wsPort,
    adminUrl,
    tail: () => [...lines],
    exitStatus: () => (child.signalCode !== null ? child.signalCode : child.exitCode !== null ? `exit ${child.exitCode}` : undefined),
    stop: () => stopChild(child, 10_000),
  };
  try {
    await waitHealthy(child, adminUrl, 120_000);
    // /healthz answers as soon as one worker is up: wait until every worker has bound its socket on the shared port.
    const workers = o.workers === 'auto' ? availableParallelism() : o.workers ?? 1;
    if (workers > 1) await waitUdpSockets(udpPort, workers, 60_000);
  } catch (err) {
    await sbc.stop();
    throw new Error(`SBC did not start: ${(err as Error).message}\n${lines.join('\n')}`);
  }
  return sbc;
}

async function waitUdpSockets(port: number, count: number, timeoutMs: number): Promise<void> {
  const hexPort = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const text = await readFile('/proc/net/udp', 'utf8').catch(() => '');
    const bound = text.split('\n').filter((line) => line.trim().split(/\s+/)[1]?.endsWith(hexPort)).length;
    if (bound >= count) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`fewer than ${count} sockets on UDP port ${port} after ${timeoutMs} ms`);
}

async function waitHealthy(child: ChildProcess, adminUrl: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`exited with ${child.signalCode ?? child.exitCode}`);
    try {
      const res = await fetch(`${adminUrl}/healthz`, { signal: AbortSignal.timeout(1000) });
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no 200 from ${adminUrl}/healthz within ${timeoutMs} ms`);
}
