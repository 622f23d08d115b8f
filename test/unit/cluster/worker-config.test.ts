import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { describe, test } from 'node:test';
import { workerConfig } from '../../../src/cluster/worker-config.js';
import { workerCount } from '../../../src/cluster/worker-count.js';
import { configSchema } from '../../../src/config/schema.js';
import { parsePortRange } from '../../../src/config/schema.js';

describe('workerConfig', () => {
  test('cuts the embedded media port range into one even-aligned slice per worker, without overlap', () => {
    const config = configSchema.parse({ media: { embedded: { ports: '30000-39999' } } });
    const slices = [1, 2, 3].map((id) => parsePortRange(workerConfig(config, id, 3).media.embedded.ports)!);
    for (const s of slices) {
      assert.equal(s.min % 2, 0, 'RTP on an even port');
      assert.ok(s.max - s.min + 1 >= 2, 'room for a pair');
      assert.ok(s.min >= 30000 && s.max <= 39999);
    }
    for (let i = 1; i < slices.length; i++) assert.ok(slices[i]!.min > slices[i - 1]!.max, 'slices do not overlap');
    assert.equal(workerConfig(config, 1, 1), config, 'one worker keeps the configuration as it is');
  });

  test('shares media.embedded.maxSessions out between the workers, rounded up', () => {
    const config = configSchema.parse({ media: { embedded: { maxSessions: 1000 } } });
    assert.deepEqual([1, 2, 3].map((id) => workerConfig(config, id, 3).media.embedded.maxSessions), [334, 334, 334]);
    assert.equal(workerConfig(configSchema.parse({ media: { embedded: { maxSessions: 1 } } }), 2, 2).media.embedded.maxSessions, 1, 'at least one each');
  });

  test('a range too small to share is left whole', () => {
    const config = configSchema.parse({ media: { embedded: { ports: '30000-30001' } } });
    assert.equal(workerConfig(config, 2, 4).media.embedded.ports, '30000-30001');
  });
});

describe('workers key', () => {
  test('auto is one per core; a number is itself; 0, 65 and words are config errors naming the key', () => {
    assert.equal(workerCount('auto'), availableParallelism());
    assert.equal(workerCount(3), 3);
    assert.equal(configSchema.parse({}).workers, 1);
    for (const bad of [0, 65, 'many', 1.5]) {
      const r = configSchema.safeParse({ workers: bad });
      assert.ok(!r.success && r.error.issues.some((i) => i.path[0] === 'workers'), String(bad));
    }
  });

  test('above 1, a UDP listener on port 0 is refused (each worker would get another port)', () => {
    const r = configSchema.safeParse({ workers: 2, listen: [{ transport: 'udp', address: '127.0.0.1', port: 0 }] });
    assert.ok(!r.success);
    assert.deepEqual(r.error.issues[0]?.path, ['listen', 0, 'port']);
    assert.ok(configSchema.safeParse({ workers: 2, listen: [{ transport: 'tcp', address: '127.0.0.1', port: 0 }] }).success, 'TCP is shared by the cluster: port 0 is fine');
  });
});
