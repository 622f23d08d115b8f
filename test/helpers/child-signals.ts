import type { ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';

/** Send a signal to a peer process that is still running. */
export function signal(child: ChildProcess, name: NodeJS.Signals): void {
  if (child.exitCode === null && child.signalCode === null) child.kill(name);
}

/** SIGTERM a peer process (continuing it first if it was stopped), SIGKILL after 3 s. */
export async function stop(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  // A stopped process only acts on SIGTERM once continued.
  signal(child, 'SIGCONT');
  signal(child, 'SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const timedOut = await Promise.race([
    exited.then(() => false),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), 3000);
    }),
  ]);
  clearTimeout(timer);
  if (timedOut) {
    signal(child, 'SIGKILL');
    await exited;
  }
}

/**
 * SIGSTOP a peer process and wait until the kernel shows it stopped: the
 * signal is asynchronous, and a request sent right after `kill` can still be
 * answered by a process that has not stopped yet.
 */
export async function pause(child: ChildProcess): Promise<void> {
  signal(child, 'SIGSTOP');
  const pid = child.pid;
  if (pid === undefined) return;
  const deadline = Date.now() + 2000;
  while (Date.now() < deadline) {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    // The state letter follows the command name in parentheses: T = stopped.
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    if (state === 'T' || state === 't' || stat === '') return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`process ${pid} did not stop within 2 s of SIGSTOP`);
}
