import type { ChildProcess } from 'node:child_process';

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
