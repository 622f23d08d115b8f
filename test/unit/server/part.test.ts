import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Config } from '../../../src/config/index.js';
import { silentLogger } from '../../../src/log/logger.js';
import { reloadParts, startParts, stopParts, type Part, type ReloadOutcome } from '../../../src/server/part.js';

function recorder(): { log: string[]; part(name: string, o?: { failStart?: boolean; failStop?: boolean; reload?: ReloadOutcome }): Part } {
  const log: string[] = [];
  return {
    log,
    part: (name, o = {}) => ({
      name,
      start: async () => {
        log.push(`start ${name}`);
        if (o.failStart === true) throw new Error(`${name} cannot start`);
      },
      stop: () => {
        log.push(`stop ${name}`);
        if (o.failStop === true) throw new Error(`${name} cannot stop`);
      },
      ...(o.reload !== undefined ? { reload: () => { log.push(`reload ${name}`); return o.reload as ReloadOutcome; } } : {}),
    }),
  };
}

const next = {} as Config;

describe('parts of the gateway', () => {
  it('start in list order and stop in reverse', async () => {
    const r = recorder();
    const begun: Part[] = [];
    await startParts([r.part('state'), r.part('transport'), r.part('admin')], begun);
    await stopParts(begun, silentLogger());
    assert.deepEqual(r.log, ['start state', 'start transport', 'start admin', 'stop admin', 'stop transport', 'stop state']);
  });

  it('a failed start stops what has begun, the failing part included, and nothing after it', async () => {
    const r = recorder();
    const begun: Part[] = [];
    await assert.rejects(startParts([r.part('state'), r.part('security', { failStart: true }), r.part('transport')], begun), /security cannot start/);
    await stopParts(begun, silentLogger());
    assert.deepEqual(r.log, ['start state', 'start security', 'stop security', 'stop state']);
  });

  it('a part whose stop fails does not keep the others running', async () => {
    const r = recorder();
    await stopParts([r.part('state'), r.part('media', { failStop: true }), r.part('admin')], silentLogger());
    assert.deepEqual(r.log, ['stop admin', 'stop media', 'stop state']);
  });

  it('reload walks the parts that can reload, in order, and gathers what they applied', async () => {
    const r = recorder();
    const outcome = await reloadParts([
      r.part('state'),
      r.part('security', { reload: { ok: true, applied: ['security.rateLimit'] } }),
      r.part('routing', { reload: { ok: true, applied: ['backends', 'routes'] } }),
    ], next);
    assert.deepEqual(outcome, { ok: true, applied: ['security.rateLimit', 'backends', 'routes'] });
    assert.deepEqual(r.log, ['reload security', 'reload routing']);
  });

  it('a refused reload ends the walk: the parts after it keep their configuration', async () => {
    const r = recorder();
    const outcome = await reloadParts([
      r.part('security', { reload: { ok: false, error: 'users.txt line 3: no password', key: 'security.auth.usersFile' } }),
      r.part('routing', { reload: { ok: true, applied: ['backends', 'routes'] } }),
    ], next);
    assert.deepEqual(outcome, { ok: false, error: 'users.txt line 3: no password', key: 'security.auth.usersFile' });
    assert.deepEqual(r.log, ['reload security']);
  });
});
