/**
 * The supervisor as an operator drives it (`workers: 2`, the real CLI):
 * SIGHUP makes every worker reload its configuration; SIGTERM stops every
 * worker and the supervisor exits 0 with no worker left, also when every
 * worker gets the signal itself as well (systemd); a configuration
 * error a worker finds at start-up (a users file that is not there) stops
 * the gateway with exit 2 instead of a restart loop.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { startClusterSbc } from '../../helpers/sbc-cluster.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('workers: 2, signals', () => {
  test('SIGHUP reloads every worker; SIGTERM stops them all and the supervisor exits 0', async () => {
    const sbc = await startClusterSbc(2);
    try {
      const pids = [...sbc.workers.values()].map((w) => w.pid);
      assert.equal(pids.length, 2);
      const mark = sbc.lines.length;
      sbc.child.kill('SIGHUP');
      const reloaded = new Set<number>();
      await sbc.waitFor((l) => {
        if (l.msg === 'reload on signal' && l.status === 200 && typeof l.worker === 'number') reloaded.add(l.worker);
        return reloaded.size === 2;
      }, 10_000, mark);
      assert.ok(alive(sbc.child.pid!), 'the supervisor is still running after SIGHUP');

      sbc.child.kill('SIGTERM');
      const code = await Promise.race([sbc.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 10_000))]);
      assert.equal(code, 0);
      for (const pid of pids) assert.ok(!alive(pid), `worker ${pid} exited`);
    } finally {
      await sbc.stop();
    }
  });

  test('SIGTERM to the supervisor and every worker at once (systemd, kill of the group) is one drain, not a stop at once', async () => {
    const sbc = await startClusterSbc(2);
    try {
      const mark = sbc.lines.length;
      const pids = [...sbc.workers.values()].map((w) => w.pid);
      sbc.child.kill('SIGTERM');
      for (const pid of pids) process.kill(pid, 'SIGTERM');
      const code = await Promise.race([sbc.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 10_000))]);
      assert.equal(code, 0);
      const after = sbc.lines.slice(mark);
      assert.equal(after.filter((l) => l.msg === 'draining').length, 2, 'each worker drained once');
      assert.equal(after.filter((l) => l.msg === 'second signal: stopping now').length, 0, 'no worker took its own copy for a second signal');
    } finally {
      await sbc.stop();
    }
  });

  test('a configuration error found by the workers at start-up: exit 2, no restart loop', async () => {
    await assert.rejects(
      startClusterSbc(2, 'security: { auth: { mode: local, usersFile: /nonexistent/users } }\n'),
      /gateway exited \(2\)/,
    );
  });
});
