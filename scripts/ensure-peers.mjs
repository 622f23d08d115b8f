// Makes sure the real peers the test suite talks to are installed.
// As root it installs missing Debian packages with apt-get; otherwise it fails
// with a message naming each missing package (CONTRACT.md: npm test).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** Debian package → a file it installs that the tests run. */
export const PEERS = {
  kamailio: '/usr/sbin/kamailio',
  sipsak: '/usr/bin/sipsak',
  // svmap and svwar: the scanners request screening must stop.
  sipvicious: '/usr/bin/svmap',
  'baresip-core': '/usr/bin/baresip',
  'rtpengine-daemon': '/usr/bin/rtpengine',
  chromium: '/usr/bin/chromium',
  // shared state for several SBC nodes (state.store: redis)
  'redis-server': '/usr/bin/redis-server',
  // SIPp: the bench tools' own tests drive real SIPp calls (bench/overload).
  'sip-tester': '/usr/bin/sipp',
  // ip, to bring up loopback in the network namespace the suite runs in.
  iproute2: '/usr/sbin/ip',
  // `docker-compose config` validates docker/compose.yaml without a Docker engine.
  'docker-compose': '/usr/bin/docker-compose',
};

const missing = Object.entries(PEERS).filter(([, bin]) => !existsSync(bin)).map(([pkg]) => pkg);
if (missing.length === 0) process.exit(0);

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
if (!isRoot) {
  console.error(`missing test peers: ${missing.join(', ')}. Install them with: sudo apt-get install -y ${missing.join(' ')}`);
  process.exit(1);
}
console.error(`installing test peers: ${missing.join(' ')}`);
const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
const update = spawnSync('apt-get', ['update', '-q'], { stdio: 'inherit', env });
const install = update.status === 0
  ? spawnSync('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...missing], { stdio: 'inherit', env })
  : update;
const still = Object.entries(PEERS).filter(([, bin]) => !existsSync(bin)).map(([pkg]) => pkg);
if (install.status !== 0 || still.length > 0) {
  console.error(`could not install test peers: ${still.join(', ') || missing.join(', ')}`);
  process.exit(1);
}
