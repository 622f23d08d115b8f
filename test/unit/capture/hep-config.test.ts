import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import { configSchema, defaultConfig, printConfig } from '../../../src/config/index.js';

describe('capture.hep configuration', () => {
  test('off by default, agent id 2001, a bounded queue', () => {
    assert.deepEqual(defaultConfig().capture, { hep: { address: '', id: 2001, password: '', maxQueue: 10000 } });
  });

  test('host:port, [IPv6]:port and names are accepted; anything else is refused naming the key', () => {
    for (const address of ['10.0.0.9:9060', '[fd00::9]:9060', 'homer.example.com:9060']) {
      assert.equal(configSchema.safeParse({ capture: { hep: { address } } }).success, true, address);
    }
    for (const address of ['10.0.0.9', 'fd00::9:9060', 'homer:99999']) {
      const r = configSchema.safeParse({ capture: { hep: { address } } });
      assert.equal(r.success, false, address);
      assert.deepEqual(r.error?.issues[0]?.path, ['capture', 'hep', 'address']);
    }
    assert.equal(configSchema.safeParse({ capture: { hep: { maxQueue: 0 } } }).success, false);
    assert.equal(configSchema.safeParse({ capture: { hep: { id: -1 } } }).success, false);
  });

  test('the password never shows in the printed configuration', () => {
    const config = configSchema.parse({ capture: { hep: { address: '10.0.0.9:9060', password: 'homer-secret' } } });
    const text = printConfig(config);
    assert.doesNotMatch(text, /homer-secret/);
    assert.equal((parse(text) as { capture: { hep: { password: string } } }).capture.hep.password, '[redacted]');
  });
});
