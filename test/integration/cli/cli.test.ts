/**
 * The CLI as users run it: exit codes, check-config, override precedence,
 * certificates generated then reused, SIGTERM drains and exits 0, and the
 * admin commands against a running gateway.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { sbcCommand } from '../../helpers/paths.js';

interface Run { code: number | null; stdout: string; stderr: string }

function run(args: string[], options: { env?: Record<string, string>; cwd?: string } = {}): Promise<Run> {
  const { command, args: base } = sbcCommand();
  return new Promise((resolve) => {
    const child = spawn(command, [...base, ...args], { cwd: options.cwd, env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => { stdout += c.toString(); });
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const dir = mkdtempSync(join(tmpdir(), 'sbc-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const minimal = (extra = ''): string => `listen:
  - { transport: udp, address: 127.0.0.1, port: 0 }
  - { transport: wss, address: 127.0.0.1, port: 0 }
tls: { cert: ${join(dir, 'certs/server.crt')}, key: ${join(dir, 'certs/server.key')} }
admin: { listen: "127.0.0.1:0" }
shutdown: { drainSeconds: 1 }
${extra}`;

describe('webrtc-sbc CLI', () => {
  test('a misspelt key exits 2 and names it', async () => {
    const file = join(dir, 'bad-key.yaml');
    writeFileSync(file, 'listen:\n  - { transprt: udp, port: 5060 }\n');
    const r = await run(['check-config', file]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /listen\[0\]\.transprt/);
  });

  test('a bad value exits 2 and names the key, also when running the gateway', async () => {
    const file = join(dir, 'bad-value.yaml');
    writeFileSync(file, 'mode: sideways\n');
    const r = await run(['--config', file]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /mode/);
    const s = await run(['check-config', join(dir, 'bad-key.yaml'), '--set', 'log.level=loud']);
    assert.equal(s.code, 2);
  });

  test('check-config prints the effective config: env overrides the file, --set overrides env; secrets redacted', async () => {
    const file = join(dir, 'ok.yaml');
    writeFileSync(file, minimal('log: { level: info }\nadmin: { listen: "127.0.0.1:9061", token: "s3cret-token" }\nshutdown: { drainSeconds: 7 }\n').replace(/admin: \{ listen: "127.0.0.1:0" \}\n/, '').replace(/shutdown: \{ drainSeconds: 1 \}\n/, ''));
    const r = await run(['check-config', file, '--set', 'shutdown.drainSeconds=9'], { env: { SBC_LOG__LEVEL: 'debug', SBC_SHUTDOWN__DRAINSECONDS: '8' } });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /level: debug/);
    assert.match(r.stdout, /drainSeconds: 9/);
    assert.doesNotMatch(r.stdout, /s3cret-token/);
  });

  test('runs, generates certificates once and reuses them, answers /healthz, drains on SIGTERM and exits 0', async () => {
    const file = join(dir, 'run.yaml');
    writeFileSync(file, minimal());
    for (let round = 0; round < 2; round++) {
      const before = round === 1 ? readFileSync(join(dir, 'certs/server.crt'), 'utf8') : undefined;
      const { command, args } = sbcCommand();
      const child = spawn(command, [...args, '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
      const lines: string[] = [];
      const started = await new Promise<Record<string, unknown>>((resolve, reject) => {
        let buf = '';
        const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`no start line: ${lines.join('\n')}`)); }, 20_000);
        child.stdout.on('data', (c: Buffer) => {
          buf += c.toString();
          let i;
          while ((i = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, i);
            buf = buf.slice(i + 1);
            lines.push(line);
            const obj = JSON.parse(line) as Record<string, unknown>;
            assert.equal(typeof obj.level, 'string', 'every log line is JSON with a level');
            if (obj.msg === 'webrtc-sbc started') { clearTimeout(timer); resolve(obj); }
          }
        });
        child.on('exit', () => reject(new Error(`exited early: ${lines.join('\n')}`)));
      });
      try {
        const generated = lines.some((l) => l.includes('generated self-signed certificate'));
        assert.equal(generated, round === 0, round === 0 ? 'certificate generated on first start' : 'certificate reused on second start');
        assert.equal(statSync(join(dir, 'certs/server.key')).mode & 0o777, 0o600);
        if (before !== undefined) assert.equal(readFileSync(join(dir, 'certs/server.crt'), 'utf8'), before);
        const health = await fetch(`${String(started.admin)}/healthz`);
        assert.equal(health.status, 200);
        if (round === 0) {
          const status = await run(['status', '--admin', String(started.admin)]);
          assert.equal(status.code, 0, status.stderr);
          assert.match(status.stdout, /"status": "ok"/);
          const backends = await run(['backends', '--admin', String(started.admin)]);
          assert.equal(backends.code, 0);
          assert.match(backends.stdout, /"groups"/);

          // Hot reload: a backend group added to the file goes live; a broken file is refused naming the key.
          writeFileSync(file, minimal('backends:\n  pbx: { targets: [{ uri: "sip:127.0.0.1:5999" }] }\nregistrar: { backend: pbx }\n'));
          const reloaded = await run(['reload', '--admin', String(started.admin)]);
          assert.equal(reloaded.code, 0, reloaded.stdout + reloaded.stderr);
          assert.match(reloaded.stdout, /"reloaded"/);
          assert.match((await run(['backends', '--admin', String(started.admin)])).stdout, /"name": "pbx"/);
          writeFileSync(file, minimal('backends:\n  pbx: { targets: [{ uri: "sip:127.0.0.1:99999" }] }\n'));
          const refused = await run(['reload', '--admin', String(started.admin)]);
          assert.equal(refused.code, 1);
          assert.match(refused.stdout + refused.stderr, /backends\.pbx\.targets\[0\]\.uri/);
          writeFileSync(file, minimal());
        }
      } finally {
        const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
        child.kill('SIGTERM');
        assert.equal(await exited, 0, 'SIGTERM → clean exit 0');
      }
    }
  });

  test('an admin command against a closed port exits 1 with a clear message', async () => {
    const r = await run(['flows', '--admin', 'http://127.0.0.1:1']);
    assert.equal(r.code, 1);
    assert.match(r.stdout + r.stderr, /cannot reach admin API/);
  });
});
