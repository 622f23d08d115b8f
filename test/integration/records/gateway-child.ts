/**
 * The real CLI as a child process for the call-record tests that need a
 * process of its own (SIGHUP, SIPp load): started on a YAML file, its UDP
 * port and admin URL read from its start-up line, stopped by PID.
 */
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startCliGateway } from '../../helpers/cli-gateway.js';

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
  const g = await startCliGateway(file, { cwd: dir });
  if (g.adminUrl === undefined) throw new Error(`no admin URL in the start-up line: ${g.lines.join('\n')}`);
  return { child: g.child, udpPort: g.udpPort, adminUrl: g.adminUrl, lines: g.lines, stop: g.stop };
}
