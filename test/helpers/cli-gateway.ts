/**
 * The real CLI (`webrtc-sbc --config FILE`) as a child process, for tests
 * that need a process of its own (signals, SIPp load): its UDP port and admin
 * URL read from its start-up line, its output kept (bounded), its exit awaited.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { sbcCommand } from './paths.js';
import { stop } from './child-signals.js';

export interface CliGateway {
  child: ChildProcess;
  udpPort: number;
  /** From the start-up line; undefined when the admin API is off. */
  adminUrl: string | undefined;
  /** stdout lines and stderr chunks, the newest 1,000–2,000. */
  lines: string[];
  /** The exit code and when it came. */
  exited: Promise<{ code: number | null; at: number }>;
  /** SIGTERM, then SIGKILL if it does not go. */
  stop(): Promise<void>;
}

export async function startCliGateway(configFile: string, options: { cwd?: string } = {}): Promise<CliGateway> {
  const { command, args } = sbcCommand();
  const child = spawn(command, [...args, '--config', configFile], { stdio: ['ignore', 'pipe', 'pipe'], ...(options.cwd !== undefined ? { cwd: options.cwd } : {}) });
  const lines: string[] = [];
  const keep = (line: string): void => {
    lines.push(line);
    if (lines.length > 2000) lines.splice(0, 1000);
  };
  const exited = new Promise<{ code: number | null; at: number }>((resolve) => child.on('exit', (code) => resolve({ code, at: Date.now() })));
  child.stderr!.on('data', (c: Buffer) => keep(c.toString()));
  const started = await new Promise<{ udpPort: number; adminUrl: string | undefined }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no start line: ${lines.join('\n')}`)), 20_000);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      keep(line);
      let obj: { msg?: string; listeners?: string[]; admin?: string };
      try {
        obj = JSON.parse(line) as typeof obj;
      } catch {
        return;
      }
      const udp = obj.listeners?.find((l) => l.startsWith('udp:'));
      if (obj.msg === 'webrtc-sbc started' && udp !== undefined) {
        clearTimeout(timer);
        resolve({ udpPort: Number(udp.split(':').pop()), adminUrl: obj.admin });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited early (${code}): ${lines.join('\n')}`));
    });
  });
  return { child, ...started, lines, exited, stop: () => stop(child, exited.then(() => undefined)) };
}
