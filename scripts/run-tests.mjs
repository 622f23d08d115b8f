// Runs every compiled test file under dist/test with Node's test runner.
// Browser end-to-end tests (dist/test/e2e) run inside a loopback-only network
// namespace (PEERS.md: otherwise Chromium and rtpengine advertise and probe the
// machine's other interfaces). That needs root, as in CI; without it they fail.
// Usage: node scripts/run-tests.mjs [dir-or-file ...]   (default: unit, integration, e2e)
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const roots = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['dist/test/unit', 'dist/test/integration', 'dist/test/e2e'];

function collect(path, out) {
  if (!existsSync(path)) return out;
  if (statSync(path).isFile()) { out.push(path); return out; }
  for (const entry of readdirSync(path).sort()) {
    const p = join(path, entry);
    if (statSync(p).isDirectory()) collect(p, out);
    else if (entry.endsWith('.test.js')) out.push(p);
  }
  return out;
}

const files = roots.flatMap((r) => collect(resolve(root, r), []));
if (files.length === 0) {
  console.error('no test files found; run `npm run build` first');
  process.exit(1);
}
const isE2e = (f) => relative(root, f).split('/').includes('e2e');
const plain = files.filter((f) => !isE2e(f));
const e2e = files.filter(isE2e);

// One node --test run reads as one summary for CI: the e2e files join it
// through a wrapper that enters the namespace, so run them as one batch of
// their own only when there are some.
const args = ['--test', '--test-concurrency=1', '--test-timeout=600000'];
let status = 0;
if (plain.length > 0) {
  const r = spawnSync(process.execPath, [...args, ...plain], { stdio: 'inherit', cwd: root });
  status = r.status ?? 1;
}
if (e2e.length > 0) {
  const quoted = [process.execPath, ...args, ...e2e].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
  const r = spawnSync('unshare', ['-n', 'sh', '-c', `ip link set lo up && exec ${quoted}`], { stdio: 'inherit', cwd: root });
  if (r.error !== undefined) console.error(`cannot enter a network namespace for the browser tests (needs root and unshare from util-linux): ${r.error.message}`);
  if ((r.status ?? 1) !== 0) status = r.status ?? 1;
}
process.exit(status);
