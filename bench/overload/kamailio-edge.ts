/**
 * Kamailio 5.6 as the reference edge beside the gateway:
 * bench/fixtures/kamailio-edge.cfg (dispatcher with one destination +
 * record_route + t_relay, no pike), run in the foreground in its own process
 * group with -m 512 -M 16 and absolute paths (PEERS.md), stopped by its PID.
 * Also: memory of a process tree as PSS (/proc/PID/smaps_rollup), which
 * counts Kamailio's shared memory once rather than once per worker.
 */
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../../test/helpers/paths.js';
import { kamailioModuleDir } from '../../test/helpers/kamailio.js';

const KAMAILIO = '/usr/sbin/kamailio';

export interface KamailioEdge {
  host: string;
  port: number;
  pid: number;
  /** Lines Kamailio printed (the last few hundred). */
  tail(): string[];
  stop(): Promise<void>;
}

export interface KamailioEdgeOptions {
  host: string;
  port: number;
  /** The one dispatcher destination (the SIPp UAS), host:port. */
  destination: string;
  /** SIP worker processes. */
  children: number;
}

/** Start Kamailio and wait until its workers answer (an OPTIONS with Max-Forwards 0 gets 483). */
export async function startKamailioEdge(o: KamailioEdgeOptions): Promise<KamailioEdge> {
  if (!existsSync(KAMAILIO)) throw new Error(`${KAMAILIO} is missing: install the Debian package "kamailio"`);
  const runDir = mkdtempSync(join(tmpdir(), 'kamailio-edge-'));
  const cfg = readFileSync(join(repoRoot, 'bench', 'fixtures', 'kamailio-edge.cfg'), 'utf8').replace(/@([A-Z]+)@/g, (m, key: string) => {
    const v = ({ ADDR: o.host, PORT: String(o.port), RUNDIR: runDir, MODULES: kamailioModuleDir(), CHILDREN: String(o.children) } as Record<string, string>)[key];
    if (v === undefined) throw new Error(`kamailio-edge.cfg: no value for ${m}`);
    return v;
  });
  const cfgPath = join(runDir, 'kamailio.cfg');
  writeFileSync(cfgPath, cfg);
  // setid 1, destination, flags 0, priority 0.
  writeFileSync(join(runDir, 'dispatcher.list'), `1 sip:${o.destination} 0 0\n`);
  const child = spawn(KAMAILIO, ['-DD', '-E', '-f', cfgPath, '-Y', runDir, '-P', join(runDir, 'kamailio.pid'), '-m', '512', '-M', '16'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group: the SIGKILL fallback reaches the workers too.
    detached: true,
  });
  const lines: string[] = [];
  const keep = (d: Buffer): void => {
    for (const l of d.toString('utf8').split('\n')) {
      if (l.trim() === '') continue;
      lines.push(l);
      if (lines.length > 300) lines.shift();
    }
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => {
          try {
            process.kill(-(child.pid ?? 0), 'SIGKILL');
          } catch {
            // gone already
          }
        }, 3000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(runDir, { recursive: true, force: true });
    })();
    return stopping;
  };
  try {
    await waitAnswer(o.host, o.port, 10_000, () => child.exitCode !== null);
  } catch (err) {
    await stop();
    throw new Error(`kamailio did not start: ${(err as Error).message}\n${lines.slice(-20).join('\n')}`);
  }
  return { host: o.host, port: o.port, pid: child.pid ?? 0, tail: () => [...lines], stop };
}

async function waitAnswer(host: string, port: number, timeoutMs: number, hasExited: () => boolean): Promise<void> {
  const sock = createSocket('udp4');
  sock.on('error', () => undefined);
  await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', () => resolve()));
  const local = sock.address().port;
  const callId = randomBytes(8).toString('hex');
  let answered = false;
  sock.on('message', (buf) => {
    if (buf.includes(callId)) answered = true;
  });
  try {
    const deadline = Date.now() + timeoutMs;
    while (!answered) {
      if (hasExited()) throw new Error('kamailio exited during start-up');
      if (Date.now() > deadline) throw new Error(`no answer on ${host}:${port} within ${timeoutMs} ms`);
      sock.send(
        `OPTIONS sip:${host}:${port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${local};branch=z9hG4bK${randomBytes(6).toString('hex')};rport\r\n` +
          `Max-Forwards: 0\r\nFrom: <sip:probe@127.0.0.1>;tag=${randomBytes(4).toString('hex')}\r\nTo: <sip:${host}:${port}>\r\nCall-ID: ${callId}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`,
        port,
        host,
      );
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    sock.close();
  }
}

/** PIDs whose process group is `pgid` (a detached child and everything it forked). */
export async function processGroup(pgid: number): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      // Fields after "(comm)": state ppid pgrp ...
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(rest[2]) === pgid) pids.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}
