#!/usr/bin/env node
/**
 * npm install / npm ci: builds native/reuseport (the SO_REUSEPORT UDP socket
 * that `workers` > 1 needs) from source with the machine's C compiler and
 * Node's own headers. Never fails the install: without the addon the gateway
 * runs one worker and says so in its log.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const source = join(root, 'native', 'reuseport', 'reuseport.c');
const out = join(root, 'native', 'reuseport', 'build', 'reuseport.node');

function note(text) {
  process.stderr.write(`webrtc-sbc: ${text}\n`);
}

if (process.platform !== 'linux') {
  note(`SO_REUSEPORT addon not built (${process.platform}): workers > 1 will run as one worker`);
  process.exit(0);
}

const prefix = dirname(dirname(process.execPath));
const candidates = [
  join(prefix, 'include', 'node'),
  '/usr/include/node',
  '/usr/local/include/node',
  join(homedir(), '.cache', 'node-gyp', process.versions.node, 'include', 'node'),
];
const headers = candidates.find((dir) => existsSync(join(dir, 'node_api.h')));
if (headers === undefined) {
  note(`SO_REUSEPORT addon not built: node_api.h not found (looked in ${candidates.join(', ')}); workers > 1 will run as one worker`);
  process.exit(0);
}

mkdirSync(dirname(out), { recursive: true });
const args = ['-O2', '-shared', '-fPIC', '-Wall', '-std=gnu11', '-I', headers, '-o', out, source];
for (const cc of [process.env.CC, 'cc', 'gcc', 'clang'].filter(Boolean)) {
  const run = spawnSync(cc, args, { encoding: 'utf8' });
  if (run.error !== undefined) continue; // not installed: try the next one
  if (run.status === 0) {
    note(`SO_REUSEPORT addon built (${cc}): ${out}`);
    process.exit(0);
  }
  note(`SO_REUSEPORT addon did not compile with ${cc}:\n${run.stderr}`);
  break;
}
note('SO_REUSEPORT addon not built (no working C compiler): workers > 1 will run as one worker');
process.exit(0);
