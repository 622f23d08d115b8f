// Runs every compiled test file under dist/test with Node's test runner.
// Usage: node scripts/run-tests.mjs [--workers N] [dir-or-file ...]   (default: unit, integration, e2e, and the bench tools' own tests)
// --workers N: every gateway a test starts through test/helpers/sbc.ts runs as the real CLI with N workers (TEST_GATEWAY_WORKERS);
// with no paths it runs the integration (but cluster) and e2e tests.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const argv = process.argv.slice(2);
const w = argv.indexOf('--workers');
if (w >= 0) {
  const n = Number(argv[w + 1]);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`--workers needs a whole number of workers, not ${argv[w + 1] ?? 'nothing'}`);
    process.exit(2);
  }
  process.env.TEST_GATEWAY_WORKERS = String(n);
  argv.splice(w, 2);
}
// With --workers and no paths: every test that starts a gateway (the unit tests start none; the cluster tests pick their own worker counts).
const workersRoots = () => [...readdirSync(resolve(root, 'dist/test/integration')).filter((d) => d !== 'cluster').map((d) => `dist/test/integration/${d}`), 'dist/test/e2e'];
const roots = argv.length > 0 ? argv : w >= 0 ? workersRoots() : ['dist/test/unit', 'dist/test/integration', 'dist/test/e2e', 'dist/bench'];

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
// TAP for the log, then one line per failed test at its end (scripts/failure-summary.mjs).
const reporters = ['--test-reporter=tap', '--test-reporter-destination=stdout', `--test-reporter=${resolve(root, 'scripts/failure-summary.mjs')}`, '--test-reporter-destination=stdout'];
const args = ['--test', '--test-concurrency=1', '--test-timeout=600000', ...reporters, ...files];

// Every test talks only to loopback; running the whole suite in a fresh
// network namespace makes that a fact, and the browser tests need it
// (PEERS.md: otherwise Chromium and rtpengine use the machine's other
// interfaces). One runner process keeps one summary for CI to read.
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const probe = isRoot ? spawnSync('unshare', ['-n', 'true']) : undefined;
if (probe !== undefined && probe.status === 0) {
  const quoted = [process.execPath, ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
  const r = spawnSync('unshare', ['-n', 'sh', '-c', `ip link set lo up && exec ${quoted}`], { stdio: 'inherit', cwd: root, env: { ...process.env, TEST_IN_NETNS: '1' } });
  process.exit(r.status ?? 1);
}
console.error('note: not running in a loopback-only network namespace (needs root and unshare); browser media tests require it');
const r = spawnSync(process.execPath, args, { stdio: 'inherit', cwd: root });
process.exit(r.status ?? 1);
