import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { pause, signal, stop } from './child-signals.js';
import { freePortInRange } from './free-port.js';

export interface RtpengineOptions {
  /** Also serve ng over WebSocket (`--listen-http`). */
  ws?: boolean;
  /** `--interface` values; @default ["127.0.0.1"]. Named ones look like "pub/127.0.0.1". */
  interfaces?: string[];
  /** RTP ports to reserve; each call takes about 4. @default 100 */
  ports?: number;
  /** rtpengine --log-level (syslog levels; 6 = info). Benchmarks lower it. @default 6 */
  logLevel?: number;
}

export interface RunningRtpengine {
  pid: number;
  ngPort: number;
  /** `udp:127.0.0.1:<ngPort>` */
  udpUrl: string;
  /** `ws://127.0.0.1:<httpPort>` when started with `ws: true`. */
  wsUrl: string | undefined;
  portMin: number;
  portMax: number;
  /** SIGSTOP: the engine stops answering but keeps its sockets. */
  /** SIGSTOP; resolves once the process is stopped. */
  pause(): Promise<void>;
  /** SIGCONT. */
  resume(): void;
  /** SIGCONT, SIGTERM, SIGKILL after 3 s; resolves when it has exited. Idempotent. */
  stop(): Promise<void>;
  /** The engine's stderr so far (the last 64 kB), for failure messages. */
  logs(): string;
  /** A mark for `logsSince`: how many characters the engine has logged so far. */
  logMark(): number;
  /** What the engine logged after `mark` (what is still within the last 64 kB). */
  logsSince(mark: number): string;
}

const LOG_LIMIT = 64 * 1024;

/**
 * Start a real rtpengine on loopback (PEERS.md "rtpengine"): userspace only,
 * no config file, delete delay 0, on free ports; resolves once it answers an
 * ng ping. Fails naming the Debian package when the binary is missing.
 */
export async function startRtpengine(options: RtpengineOptions = {}): Promise<RunningRtpengine> {
  const ngPort = await freePortInRange(10_000, 19_999);
  const httpPort = options.ws ? await freePortInRange(10_000, 19_999) : undefined;
  const size = options.ports ?? 100;
  const portMin = 30_000 + Math.floor(Math.random() * Math.floor(25_000 / size)) * size;
  const portMax = portMin + size - 1;
  const args = [
    '--config-file=none',
    '--table=-1',
    '--foreground',
    '--log-stderr',
    `--log-level=${options.logLevel ?? 6}`,
    ...(options.interfaces ?? ['127.0.0.1']).map((i) => `--interface=${i}`),
    `--listen-ng=127.0.0.1:${ngPort}`,
    ...(httpPort === undefined ? [] : [`--listen-http=127.0.0.1:${httpPort}`]),
    `--port-min=${portMin}`,
    `--port-max=${portMax}`,
    '--delete-delay=0',
  ];
  const child = spawn('rtpengine', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  let logged = 0;
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    logged += chunk.length;
    log = (log + chunk).slice(-LOG_LIMIT);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const spawned = await new Promise<Error | undefined>((resolve) => {
    child.once('spawn', () => resolve(undefined));
    child.once('error', (error) => resolve(error));
  });
  if (spawned) {
    const missing = (spawned as NodeJS.ErrnoException).code === 'ENOENT';
    throw new Error(missing ? 'rtpengine is not installed: install the Debian package rtpengine-daemon' : `rtpengine did not start: ${spawned.message}`);
  }

  let stopping: Promise<void> | undefined;
  const engine: RunningRtpengine = {
    pid: child.pid!,
    ngPort,
    udpUrl: `udp:127.0.0.1:${ngPort}`,
    wsUrl: httpPort === undefined ? undefined : `ws://127.0.0.1:${httpPort}`,
    portMin,
    portMax,
    pause: () => pause(child),
    resume: () => signal(child, 'SIGCONT'),
    stop: () => (stopping ??= stop(child, exited)),
    logs: () => log,
    logMark: () => logged,
    logsSince: (mark) => log.slice(Math.max(0, log.length - (logged - mark))),
  };

  try {
    await waitForPong(ngPort, child);
  } catch (error) {
    await engine.stop();
    throw new Error(`${(error as Error).message}\nrtpengine ${args.join(' ')}\n${log}`);
  }
  return engine;
}

/** Ping every 100 ms until the engine answers (up to 5 s), failing early if it exits. */
async function waitForPong(port: number, child: ChildProcess): Promise<void> {
  const socket = createSocket('udp4');
  try {
    await new Promise<void>((resolve, reject) => {
      let attempt = 0;
      const cookie = `helper-${process.pid}-${Date.now()}`;
      const timer = setInterval(() => {
        if (child.exitCode !== null || child.signalCode !== null) {
          clearInterval(timer);
          reject(new Error(`rtpengine exited (${child.exitCode ?? child.signalCode}) before answering ping`));
        } else if (++attempt > 50) {
          clearInterval(timer);
          reject(new Error('rtpengine did not answer ng ping within 5 s'));
        } else {
          socket.send(`${cookie}_${attempt} d7:command4:pinge`, port, '127.0.0.1');
        }
      }, 100);
      socket.on('message', (message) => {
        if (message.toString('latin1').includes('4:pong')) {
          clearInterval(timer);
          resolve();
        }
      });
    });
  } finally {
    socket.close();
  }
}
