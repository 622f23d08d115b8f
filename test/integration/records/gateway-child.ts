/**
 * The real CLI as a child process for the call-record tests that need a
 * process of its own (SIGHUP, SIPp load): started on a YAML file, its UDP
 * port and admin URL read from its start-up line, stopped by PID.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sbcCommand } from '../../helpers/paths.js';
import { stop } from '../../helpers/child-signals.js';

export interface GatewayChild {
  child: ChildProcess;
  udpPort: number;
  adminUrl: string;
  lines: string[];
  stop(): Promise<void>;
}

export async function startGatewayChild(dir: string, name: string, yaml: string): Promise<GatewayChild> {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, `listen:
  - { transport: udp, address: 127.0.0.1, port: 0 }
admin: { listen: "127.0.0.1:0" }
web: { enabled: false }
media: { mode: passthrough }
overload: { loopDelayMs: 2000 }
security: { blockedUserAgents: [], rateLimit: { requestsPerSecondPerIp: 0 } }
${yaml}`);
  const { command, args } = sbcCommand();
  const child = spawn(command, [...args, '--config', file], { stdio: ['ignore', 'pipe', 'pipe'], cwd: dir });
  const lines: string[] = [];
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  child.stderr!.on('data', (c: Buffer) => lines.push(c.toString()));
  const started = await new Promise<{ udpPort: number; adminUrl: string }>((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`no start line: ${lines.join('\n')}`)), 20_000);
    child.stdout!.on('data', (c: Buffer) => {
      buf += c.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        lines.push(line);
        if (lines.length > 2000) lines.splice(0, 1000);
        let obj: { msg?: string; listeners?: string[]; admin?: string };
        try {
          obj = JSON.parse(line) as typeof obj;
        } catch {
          continue;
        }
        const udp = obj.listeners?.find((l) => l.startsWith('udp:'));
        if (obj.msg === 'webrtc-sbc started' && udp !== undefined && obj.admin !== undefined) {
          clearTimeout(timer);
          resolve({ udpPort: Number(udp.split(':').pop()), adminUrl: obj.admin });
        }
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited early (${code}): ${lines.join('\n')}`));
    });
  });
  return { child, ...started, lines, stop: () => stop(child, exited) };
}
