import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { formatConfigError, loadConfig, type Config, type ConfigError, type LoadConfigOptions } from '../../../src/config/index.js';
import { fixturesDir } from '../../helpers/paths.js';

const fixtures = join(fixturesDir, 'config');

let emptyDir: string;
before(async () => {
  emptyDir = await mkdtemp(join(tmpdir(), 'sbc-config-'));
});
after(async () => {
  await rm(emptyDir, { recursive: true, force: true });
});

/** Load with no ambient environment and no ./sbc.yaml unless the test gives them. */
async function load(options: LoadConfigOptions): Promise<Config> {
  const result = await loadConfig({ env: {}, cwd: emptyDir, ...options });
  if (!result.ok) assert.fail(formatConfigError(result.error));
  return result.value.config;
}

async function loadError(options: LoadConfigOptions): Promise<ConfigError> {
  const result = await loadConfig({ env: {}, cwd: emptyDir, ...options });
  if (result.ok) assert.fail('expected a configuration error');
  return result.error;
}

describe('loadConfig sources', () => {
  it('uses the embedded defaults when there is no file', async () => {
    const result = await loadConfig({ env: {}, cwd: emptyDir });
    assert.ok(result.ok);
    assert.equal(result.value.source, 'embedded defaults');
    assert.equal(result.value.config.listen.length, 4);
    assert.equal(result.value.config.mode, 'proxy');
  });

  it('reads ./sbc.yaml from the working directory when no --config is given', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sbc-config-'));
    try {
      await writeFile(join(dir, 'sbc.yaml'), 'mode: b2bua\n');
      const result = await loadConfig({ env: {}, cwd: dir });
      assert.ok(result.ok);
      assert.equal(result.value.config.mode, 'b2bua');
      assert.equal(result.value.source, join(dir, 'sbc.yaml'));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('overrides the defaults with every key of a full YAML file', async () => {
    const c = await load({ file: join(fixtures, 'full.yaml') });
    assert.deepEqual(c.listen, [
      { transport: 'udp', address: '10.0.0.2', port: 5070, interface: 'inside' },
      { transport: 'wss', address: '0.0.0.0', port: 8443, advertise: 'sbc.example.com', interface: 'outside' },
      { transport: 'ws', address: '127.0.0.1', port: 5066 },
    ]);
    assert.equal(c.mode, 'b2bua');
    assert.deepEqual(c.trustedSources, ['10.0.0.0/8', 'fd00::/8', '192.0.2.7']);
    assert.equal(c.backends['default']?.algorithm, 'weighted');
    assert.equal(c.backends['default']?.targets[1]?.priority, 1);
    assert.equal(c.backends['tenant-a']?.probe.intervalSeconds, 10);
    assert.deepEqual(c.routes, [{ domain: 'tenant-a.example.com', backend: 'tenant-a' }]);
    assert.equal(c.media.rtpengine.engines[1]?.weight, 1);
    assert.equal(c.state.redis.keyPrefix, 'edge1:');
    assert.equal(c.security.rateLimit.burst, 20);
    assert.equal(c.admin.listen, '[::1]:9061');
    assert.equal(c.log.level, 'debug');
    // Keys the file leaves out keep their defaults.
    assert.equal(c.timers.t1Ms, 500);
    assert.equal(c.web.enabled, true);
  });

  it('resolves --config against the working directory', async () => {
    const result = await loadConfig({ env: {}, cwd: fixtures, file: 'full.yaml' });
    assert.ok(result.ok);
    assert.equal(result.value.source, join(fixtures, 'full.yaml'));
  });

  it('treats an empty file as all defaults', async () => {
    const file = join(emptyDir, 'empty.yaml');
    await writeFile(file, '# nothing here\n');
    assert.equal((await load({ file })).listen.length, 4);
  });
});

describe('loadConfig precedence', () => {
  const file = join(fixtures, 'full.yaml');

  it('lets the environment override the file', async () => {
    const c = await load({ file, env: { SBC_LOG__LEVEL: 'warn', SBC_MEDIA__MODE: 'embedded' } });
    assert.equal(c.log.level, 'warn');
    assert.equal(c.media.mode, 'embedded');
    assert.equal(c.mode, 'b2bua');
  });

  it('lets --set override the environment', async () => {
    const c = await load({ file, env: { SBC_LOG__LEVEL: 'warn' }, sets: ['log.level=error'] });
    assert.equal(c.log.level, 'error');
  });

  it('applies --set arguments in order, the last one winning', async () => {
    const c = await load({ sets: ['shutdown.drainSeconds=1', 'shutdown.drainSeconds=2'] });
    assert.equal(c.shutdown.drainSeconds, 2);
  });

  it('matches env path segments to camelCase keys case-insensitively', async () => {
    const c = await load({ env: { SBC_SECURITY__MAXMESSAGEBYTES: '4096', SBC_TOPOLOGYHIDING__MASKCALLID: 'true' } });
    assert.equal(c.security.maxMessageBytes, 4096);
    assert.equal(c.topologyHiding.maskCallId, true);
  });

  it('changes one field of a default listener and keeps the other default listeners', async () => {
    const c = await load({ env: { SBC_LISTEN__0__PORT: '5070' }, sets: ['listen[3].port=8443'] });
    assert.deepEqual(
      c.listen.map((l) => `${l.transport}:${l.port}`),
      ['udp:5070', 'tcp:5060', 'tls:5061', 'wss:8443'],
    );
  });

  it('changes one field of a listener from the file', async () => {
    const c = await load({ file, sets: ['listen.1.advertise=203.0.113.9'] });
    assert.equal(c.listen[1]?.advertise, '203.0.113.9');
    assert.equal(c.listen[1]?.port, 8443);
  });

  it('appends a list entry at the index just past the end', async () => {
    const c = await load({ sets: ['listen.4={"transport":"ws"}'] });
    assert.deepEqual(c.listen[4], { transport: 'ws', address: '0.0.0.0', port: 5066 });
  });

  it('ignores environment variables without the SBC_ prefix', async () => {
    const c = await load({ env: { PATH: '/usr/bin', LOG__LEVEL: 'debug' } });
    assert.equal(c.log.level, 'info');
  });
});

describe('loadConfig coercion of env and --set strings', () => {
  it('turns numbers and booleans into their types', async () => {
    const c = await load({ sets: ['security.rateLimit.requestsPerSecondPerIp=2.5', 'web.enabled=false', 'registrar.pathMode=TRUE', 'proxy.flowFailedStatus=480'] });
    assert.equal(c.security.rateLimit.requestsPerSecondPerIp, 2.5);
    assert.equal(c.web.enabled, false);
    assert.equal(c.registrar.pathMode, true);
    assert.equal(c.proxy.flowFailedStatus, 480);
  });

  it('reads JSON for lists and objects, and comma-separated plain lists', async () => {
    const c = await load({
      env: {
        SBC_LISTEN: '[{"transport":"udp","port":5090}]',
        SBC_BACKENDS__DEFAULT: '{"targets":[{"uri":"sip:10.0.0.5:5080"}]}',
      },
      sets: ['trustedSources=10.0.0.0/8, 192.168.0.0/16', 'security.blockedUserAgents=["scanner-x"]'],
    });
    assert.deepEqual(c.listen, [{ transport: 'udp', address: '0.0.0.0', port: 5090 }]);
    assert.equal(c.backends['default']?.targets[0]?.uri, 'sip:10.0.0.5:5080');
    assert.deepEqual(c.trustedSources, ['10.0.0.0/8', '192.168.0.0/16']);
    assert.deepEqual(c.security.blockedUserAgents, ['scanner-x']);
  });

  it('lower-cases a new backend group name given in an env variable', async () => {
    const c = await load({ env: { SBC_BACKENDS__DEFAULT__TARGETS: '[{"uri":"sip:10.0.0.5"}]' } });
    assert.deepEqual(Object.keys(c.backends), ['default']);
  });

  it('refuses a non-numeric value for a number', async () => {
    const e = await loadError({ env: { SBC_LISTEN__0__PORT: 'abc' } });
    assert.equal(e.key, 'listen[0].port');
    assert.match(e.message, /expected a number.*SBC_LISTEN__0__PORT/);
  });

  it('refuses anything but true/false for a boolean', async () => {
    const e = await loadError({ sets: ['web.enabled=yes'] });
    assert.equal(e.key, 'web.enabled');
    assert.match(e.message, /expected true or false/);
  });

  it('refuses invalid JSON for a list', async () => {
    const e = await loadError({ sets: ['listen=[{"transport":'] });
    assert.equal(e.key, 'listen');
    assert.match(e.message, /invalid JSON/);
  });
});

describe('loadConfig errors name the key', () => {
  it('reports a misspelt key in the file with its path and a suggestion', async () => {
    const e = await loadError({ cwd: fixtures, file: 'typo.yaml' });
    assert.equal(e.key, 'listen[1].transprt');
    assert.match(e.message, /^unknown key; did you mean "transport"\?/);
    assert.match(e.message, /typo\.yaml line 4/);
  });

  it('reports a misspelt key from --set', async () => {
    const e = await loadError({ sets: ['listen[0].transprt=udp'] });
    assert.equal(e.key, 'listen[0].transprt');
    assert.match(e.message, /unknown key; did you mean "transport"\?/);
  });

  it('reports an unknown env variable by its path', async () => {
    const e = await loadError({ env: { SBC_MEDIA__MODDE: 'embedded' } });
    assert.equal(e.key, 'media.MODDE');
    assert.match(e.message, /unknown key; did you mean "mode"\? \(from SBC_MEDIA__MODDE\)/);
  });

  it('reports an out-of-range port with the limit and the file line', async () => {
    const e = await loadError({ cwd: fixtures, file: 'bad-port.yaml' });
    assert.equal(e.key, 'listen[0].port');
    assert.equal(formatConfigError(e), 'config error: listen[0].port: must be less than or equal to 65535 (got 70000); bad-port.yaml line 3');
  });

  it('reports an invalid enum value with the allowed values', async () => {
    const e = await loadError({ cwd: fixtures, file: 'bad-mode.yaml' });
    assert.equal(e.key, 'mode');
    assert.match(e.message, /^must be one of proxy, b2bua \(got "foo"\)/);
  });

  it('says which override set a bad value', async () => {
    const e = await loadError({ file: join(fixtures, 'full.yaml'), sets: ['mode=foo'] });
    assert.equal(e.key, 'mode');
    assert.match(e.message, /set by --set mode$/);
  });

  it('reports a YAML syntax error as (file) with its line and column', async () => {
    const e = await loadError({ cwd: fixtures, file: 'syntax-error.yaml' });
    assert.equal(e.key, '(file)');
    assert.match(e.message, /^syntax-error\.yaml:5:\d+: /);
  });

  it('reports a missing --config file', async () => {
    const e = await loadError({ file: 'nope.yaml' });
    assert.equal(e.key, '(file)');
    assert.match(e.message, /cannot read nope\.yaml: ENOENT/);
  });

  it('refuses a file whose top level is not a mapping', async () => {
    const file = join(emptyDir, 'list.yaml');
    await writeFile(file, '- a\n- b\n');
    const e = await loadError({ file });
    assert.equal(e.key, '(file)');
    assert.match(e.message, /top level must be a mapping/);
  });

  it('names the route that points at a missing backend group', async () => {
    const e = await loadError({ cwd: fixtures, file: 'unknown-backend.yaml' });
    assert.equal(formatConfigError(e), 'config error: routes[1].backend: no backend group "x" (groups: default); unknown-backend.yaml line 7');
  });

  it('refuses a key below a single value', async () => {
    const e = await loadError({ sets: ['log.level.x=1'] });
    assert.equal(e.key, 'log.level');
    assert.match(e.message, /is a single value/);
  });

  it('refuses a list index beyond the end', async () => {
    const e = await loadError({ sets: ['listen.9.port=1'] });
    assert.equal(e.key, 'listen[9]');
  });

  it('refuses a --set argument without "="', async () => {
    const e = await loadError({ sets: ['log.level'] });
    assert.equal(e.key, 'log.level');
    assert.match(e.message, /expected --set key\.path=value/);
  });

  it('does not echo secrets in error messages', async () => {
    const e = await loadError({ sets: ['state.redis.url=http://user:hunter2@redis'] });
    assert.equal(e.key, 'state.redis.url');
    assert.doesNotMatch(e.message, /hunter2/);
  });
});
