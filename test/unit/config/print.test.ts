import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { configSchema, defaultConfig, loadConfig, printConfig } from '../../../src/config/index.js';
import { fixturesDir } from '../../helpers/paths.js';

describe('printConfig', () => {
  it('prints YAML that loads back to the same configuration', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sbc-print-'));
    try {
      const original = defaultConfig();
      original.listen[0]!.port = 5070;
      original.trustedSources.push('fd00::/8');
      await writeFile(join(dir, 'printed.yaml'), printConfig(original));
      const reloaded = await loadConfig({ env: {}, cwd: dir, file: 'printed.yaml' });
      assert.ok(reloaded.ok);
      assert.deepEqual(reloaded.value.config, original);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('shows secrets that are set as [redacted] and never their values', async () => {
    const loaded = await loadConfig({ env: {}, file: join(fixturesDir, 'config', 'full.yaml') });
    assert.ok(loaded.ok);
    const text = printConfig(loaded.value.config);
    for (const secret of ['admin-secret', 'cluster-shared-secret', 'hunter2']) assert.doesNotMatch(text, new RegExp(secret));
    const printed = parse(text) as { admin: { token: string }; flowTokens: { secret: string }; state: { redis: { url: string } } };
    assert.equal(printed.admin.token, '[redacted]');
    assert.equal(printed.flowTokens.secret, '[redacted]');
    assert.equal(printed.state.redis.url, 'redis://:[redacted]@10.0.0.20:6379/1');
    // The loaded config itself keeps the real values.
    assert.equal(loaded.value.config.admin.token, 'admin-secret');
  });

  it('redacts the handshake token secret', () => {
    const text = printConfig(configSchema.parse({ security: { websocket: { token: { secret: 'ws-token-secret-that-is-32-bytes' } } } }));
    assert.doesNotMatch(text, /ws-token-secret/);
    assert.equal((parse(text) as { security: { websocket: { token: { secret: string } } } }).security.websocket.token.secret, '[redacted]');
  });

  it('leaves unset secrets empty so the reader sees they are unset', () => {
    const printed = parse(printConfig(defaultConfig())) as { admin: { token: string }; flowTokens: { secret: string } };
    assert.equal(printed.admin.token, '');
    assert.equal(printed.flowTokens.secret, '');
  });
});
