import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeOutcome, isAlive, recordHealth } from '../../../src/routing/health.js';
import { createTarget } from '../../../src/routing/target.js';

describe('isAlive', () => {
  it('counts any final response but 503 and 408 as alive by default', () => {
    for (const status of [200, 202, 404, 405, 480, 500, 603]) assert.equal(isAlive({ kind: 'response', status }), true, String(status));
    for (const status of [100, 180, 408, 503]) assert.equal(isAlive({ kind: 'response', status }), false, String(status));
    assert.equal(isAlive({ kind: 'timeout' }), false);
    assert.equal(isAlive({ kind: 'error', message: 'ECONNREFUSED' }), false);
  });

  it('uses aliveCodes when configured', () => {
    assert.equal(isAlive({ kind: 'response', status: 200 }, [200]), true);
    assert.equal(isAlive({ kind: 'response', status: 404 }, [200]), false);
    assert.equal(isAlive({ kind: 'timeout' }, [200]), false);
  });

  it('describes outcomes for the admin API', () => {
    assert.equal(describeOutcome({ kind: 'response', status: 503 }), 'response 503');
    assert.equal(describeOutcome({ kind: 'error', message: 'EHOSTUNREACH' }), 'error: EHOSTUNREACH');
  });
});

describe('recordHealth', () => {
  it('goes down after failuresToDown and up after successesToUp, reporting each crossing once', () => {
    const t = createTarget('g', { uri: 'sip:10.0.0.1', weight: 1, priority: 0 }, { transport: 'udp', host: '10.0.0.1', port: 5060 });
    const th = { failuresToDown: 3, successesToUp: 2 };
    assert.deepEqual([false, false, false, false].map(() => recordHealth(t, false, th, 'probe timeout')), [undefined, undefined, 'down', undefined]);
    assert.equal(t.reason, '3 consecutive failures, last: probe timeout');
    assert.deepEqual([true, false, true, true, true].map((alive) => recordHealth(t, alive, th, 'x')), [undefined, undefined, undefined, 'up', undefined]);
    assert.equal(t.reason, undefined);
  });
});
