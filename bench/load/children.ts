/**
 * Forking the bench's own worker scripts (uas, uac, wss-clients, wss-floor) as separate
 * processes, from the TypeScript sources (tsx) or the compiled dist/ files
 * alike, and talking to them over IPC.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const fromSource = import.meta.url.endsWith('.ts');

/**
 * Fork `bench/load/<name>` with `args`; stdout and stderr pass through to ours
 * unless `quiet`. `nodeFlags` go to node itself (e.g. --expose-gc).
 */
export function forkWorker(name: 'uas' | 'uac' | 'wss-clients' | 'wss-floor', args: string[], options: { quiet?: boolean; nodeFlags?: string[] } = {}): ChildProcess {
  const script = join(here, `${name}${fromSource ? '.ts' : '.js'}`);
  return fork(script, args, {
    execArgv: [...(options.nodeFlags ?? []), ...(fromSource ? ['--import', 'tsx'] : [])],
    stdio: options.quiet ? ['ignore', 'ignore', 'inherit', 'ipc'] : ['ignore', 'inherit', 'inherit', 'ipc'],
  });
}

/** The first IPC message from `child` that `pick` maps to a value; rejects when the child exits first or after `timeoutMs`. */
export function nextMessage<T>(child: ChildProcess, pick: (m: unknown) => T | undefined, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => finish(new Error(`no answer from worker ${child.pid} within ${timeoutMs} ms`)), timeoutMs);
    const onMessage = (m: unknown): void => {
      const value = pick(m);
      if (value !== undefined) finish(undefined, value);
    };
    const onExit = (code: number | null, signal: string | null): void => finish(new Error(`worker ${child.pid} exited (${signal ?? code}) before answering`));
    function finish(err: Error | undefined, value?: T): void {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      if (err !== undefined) reject(err);
      else resolve(value as T);
    }
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

/** Ask a child to stop with SIGTERM, SIGKILL after `graceMs`; resolves when it is gone. Idempotent. */
export function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** Read a field of /proc/PID/status in kB (VmRSS, VmHWM); undefined when the process is gone. */
export async function procStatusKb(pid: number, field: 'VmRSS' | 'VmHWM'): Promise<number | undefined> {
  try {
    const text = await readFile(`/proc/${pid}/status`, 'utf8');
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
    return m?.[1] === undefined ? undefined : Number(m[1]);
  } catch {
    return undefined;
  }
}

/** User + system CPU seconds a process has used so far (/proc/PID/stat, 100 ticks per second on Linux). */
export async function procCpuSeconds(pid: number): Promise<number | undefined> {
  try {
    const text = await readFile(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) / 100;
  } catch {
    return undefined;
  }
}

/** Direct children of `pid` (a supervisor's gateway workers); empty when it has none or is gone. */
export async function childPids(pid: number): Promise<number[]> {
  const text = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '');
  return text.split(/\s+/).filter((t) => t !== '').map(Number);
}

/** `pid` and its direct children: the whole gateway when it runs workers (supervisor first). */
export async function withChildren(pid: number): Promise<number[]> {
  return [pid, ...(await childPids(pid))];
}

/** Sum of Pss (kB) over `pids` from /proc/PID/smaps_rollup (shared pages counted once); processes gone meanwhile count 0. */
export async function pssKb(pids: readonly number[]): Promise<number> {
  let total = 0;
  for (const pid of pids) {
    try {
      const text = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8');
      const m = /^Pss:\s+(\d+) kB/m.exec(text);
      total += Number(m?.[1] ?? 0);
    } catch {
      // gone
    }
  }
  return total;
}

/**
 * Datagrams the kernel dropped for the UDP sockets bound to `port` (the
 * `drops` column of /proc/net/udp): a full receive buffer, i.e. the process
 * did not read fast enough.
 */
export async function udpDrops(port: number): Promise<number> {
  const hexPort = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  let drops = 0;
  for (const file of ['/proc/net/udp', '/proc/net/udp6']) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols[1]?.endsWith(hexPort) && cols[2]?.endsWith(':0000')) drops += Number(cols[cols.length - 1] ?? 0);
    }
  }
  return drops;
}
