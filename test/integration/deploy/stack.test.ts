/**
 * The deployable stack in docker/ and deploy/ is checked without a Docker
 * engine: compose.yaml by structure (services, host networking, files it
 * mounts and builds from) and by `docker compose config` where a compose
 * client is installed; the gateway's configuration by the gateway's own
 * loader, consistent with the addresses the other services listen on; the
 * Kamailio configuration by `kamailio -c`; the systemd unit by
 * `systemd-analyze verify`; the Grafana dashboard against the metric names a
 * running gateway really exports.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse } from 'yaml';
import { loadConfig } from '../../../src/config/load.js';
import { repoRoot } from '../../helpers/paths.js';
import { startSbc, type TestSbc } from '../../helpers/sbc.js';

const dockerDir = join(repoRoot, 'docker');
const deployDir = join(repoRoot, 'deploy');

interface ComposeService {
  build?: { context: string; dockerfile?: string };
  image?: string;
  network_mode?: string;
  ports?: unknown;
  command?: string[];
  volumes?: string[];
  environment?: Record<string, string>;
}
interface ComposeFile { services: Record<string, ComposeService>; volumes?: Record<string, unknown> }

const compose = (): ComposeFile => parse(readFileSync(join(dockerDir, 'compose.yaml'), 'utf8')) as ComposeFile;
const have = (cmd: string, args: string[]): boolean => spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;

describe('docker/compose.yaml', () => {
  test('has the gateway, rtpengine, redis and kamailio, every one on the host network without port mappings', () => {
    const c = compose();
    assert.deepEqual(Object.keys(c.services).sort(), ['gateway', 'kamailio', 'redis', 'rtpengine']);
    for (const [name, s] of Object.entries(c.services)) {
      assert.equal(s.network_mode, 'host', `${name}: host networking (media ports, real addresses)`);
      assert.equal(s.ports, undefined, `${name}: port mappings mean nothing with host networking`);
    }
  });

  test('every bind mount and build context names a file or folder of the repository; named volumes are declared', () => {
    const c = compose();
    for (const [name, s] of Object.entries(c.services)) {
      if (s.build !== undefined) {
        const context = resolve(dockerDir, s.build.context);
        assert.ok(statSync(context).isDirectory(), `${name}: build context ${s.build.context}`);
        const dockerfile = join(context, s.build.dockerfile ?? 'Dockerfile');
        assert.ok(existsSync(dockerfile), `${name}: ${dockerfile} exists`);
      } else assert.ok(s.image, `${name}: an image or a build`);
      for (const v of s.volumes ?? []) {
        const [source = '', target = ''] = v.split(':');
        assert.ok(target.startsWith('/'), `${name}: volume ${v} mounts at an absolute path`);
        if (source.startsWith('.') || source.startsWith('/')) assert.ok(existsSync(resolve(dockerDir, source)), `${name}: ${source} exists in docker/`);
        else assert.ok(c.volumes !== undefined && source in c.volumes, `${name}: named volume ${source} is declared`);
      }
    }
    const gw = c.services.gateway!;
    assert.ok(gw.volumes?.some((v) => v.startsWith('./sbc.yaml:/etc/webrtc-sbc/sbc.yaml')), 'the configuration is mounted');
    assert.deepEqual(gw.command, ['--config', '/etc/webrtc-sbc/sbc.yaml']);
  });

  test('the gateway image builds from the repository with npm ci and npm run build, and runs the package\'s bin', () => {
    const dockerfile = readFileSync(join(dockerDir, 'Dockerfile'), 'utf8');
    assert.match(dockerfile, /^FROM node:20-bookworm/m);
    assert.match(dockerfile, /RUN npm ci\b/);
    assert.match(dockerfile, /npm run build/);
    const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { bin: Record<string, string>; scripts: Record<string, string> };
    assert.ok(pkg.scripts.build);
    const entry = /ENTRYPOINT \["node", "([^"]+)"\]/.exec(dockerfile)?.[1];
    assert.equal(entry, pkg.bin['webrtc-sbc']);
    for (const m of dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)) {
      for (const src of m[1]!.split(' ')) if (src !== '.') assert.ok(existsSync(join(repoRoot, src)), `COPY source ${src}`);
    }
    assert.match(readFileSync(join(dockerDir, 'rtpengine', 'Dockerfile'), 'utf8'), /apt-get install .*rtpengine-daemon/);
    assert.match(readFileSync(join(dockerDir, 'kamailio', 'Dockerfile'), 'utf8'), /apt-get install .*kamailio/);
    assert.match(readFileSync(join(dockerDir, 'Dockerfile.dockerignore'), 'utf8'), /^certs\/\*$/m, 'keys in certs/ stay out of the image');
  });

  test('docker compose config accepts it', (t) => {
    const file = join(dockerDir, 'compose.yaml');
    let run: ReturnType<typeof spawnSync>;
    if (have('docker', ['compose', 'version'])) run = spawnSync('docker', ['compose', '-f', file, 'config', '-q'], { cwd: dockerDir, encoding: 'utf8' });
    else if (have('docker-compose', ['version'])) run = spawnSync('docker-compose', ['-f', file, 'config', '-q'], { cwd: dockerDir, encoding: 'utf8' });
    else {
      t.skip('NOT VALIDATED by a compose client: neither `docker compose` (the v2 plugin) nor `docker-compose` (Debian package docker-compose) is installed; only the structural checks above ran');
      return;
    }
    assert.equal(run.status, 0, `compose config failed:\n${String(run.stderr)}`);
  });

  test('docker/sbc.yaml loads with the gateway\'s own loader and points at the addresses the other services use', async () => {
    const loaded = await loadConfig({ file: join(dockerDir, 'sbc.yaml'), env: {}, cwd: dockerDir });
    assert.ok(loaded.ok, loaded.ok ? '' : JSON.stringify(loaded.error));
    const config = loaded.value.config;
    const c = compose();
    const rtpengine = c.services.rtpengine!.command ?? [];
    const ng = rtpengine.find((a) => a.startsWith('--listen-ng='))?.slice('--listen-ng='.length);
    assert.deepEqual(config.media.rtpengine.engines.map((e) => e.url), [`udp:${ng}`], 'the engine is rtpengine\'s ng socket');
    assert.equal(config.media.mode, 'rtpengine');
    const redis = c.services.redis!.command ?? [];
    const redisPort = redis[redis.indexOf('--port') + 1];
    assert.equal(config.state.store, 'redis');
    assert.equal(new URL(config.state.redis.url).port, redisPort);
    const kamailioCfg = readFileSync(join(dockerDir, 'kamailio', 'kamailio.cfg'), 'utf8');
    const listen = /^listen=udp:([\d.]+):(\d+)$/m.exec(kamailioCfg);
    assert.ok(listen, 'kamailio listens on one UDP address');
    assert.deepEqual(config.backends.default?.targets.map((t) => t.uri), [`sip:${listen[1]}:${listen[2]};transport=udp`]);
    assert.equal(config.registrar.mode, 'path');
  });

  test('the Kamailio registrar configuration passes kamailio -c', (t) => {
    if (!existsSync('/usr/sbin/kamailio')) {
      t.skip('NOT VALIDATED: /usr/sbin/kamailio is missing (Debian package kamailio)');
      return;
    }
    const run = spawnSync('/usr/sbin/kamailio', ['-c', '-f', join(dockerDir, 'kamailio', 'kamailio.cfg')], { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
  });
});

describe('deploy/webrtc-sbc.service', () => {
  const unit = (): string => readFileSync(join(deployDir, 'webrtc-sbc.service'), 'utf8');

  test('runs as its own user, restarts on failure, reloads through the CLI, may bind low ports and open many files', () => {
    const u = unit();
    const value = (key: string): string | undefined => new RegExp(`^${key}=(.*)$`, 'm').exec(u)?.[1];
    assert.equal(value('User'), 'webrtc-sbc');
    assert.equal(value('Restart'), 'on-failure');
    assert.equal(value('RestartPreventExitStatus'), '2', 'a configuration error (exit 2) is not restarted');
    assert.match(value('ExecStart') ?? '', /dist\/src\/main\.js --config \/etc\/webrtc-sbc\/sbc\.yaml/);
    assert.match(value('ExecReload') ?? '', /dist\/src\/main\.js reload --config \/etc\/webrtc-sbc\/sbc\.yaml$/);
    assert.equal(value('AmbientCapabilities'), 'CAP_NET_BIND_SERVICE');
    assert.ok(Number(value('LimitNOFILE')) >= 65536);
    assert.ok(Number(value('TimeoutStopSec')) > 30, 'longer than the default drain');
    const sysusers = readFileSync(join(deployDir, 'webrtc-sbc.sysusers.conf'), 'utf8');
    assert.match(sysusers, /^u webrtc-sbc /m, 'the user is created by systemd-sysusers');
  });

  test('systemd-analyze verify finds nothing to complain about', (t) => {
    if (!have('systemd-analyze', ['--version'])) {
      t.skip('NOT VALIDATED: systemd-analyze is missing (Debian package systemd)');
      return;
    }
    const run = spawnSync('systemd-analyze', ['verify', join(deployDir, 'webrtc-sbc.service')], { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stderr.trim(), '', 'no warnings');
  });
});

/** PromQL functions and keywords: what in an expression is not a metric name. */
const PROMQL_WORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan']);

/** The metric names an expression reads. */
export function metricNames(expr: string): string[] {
  let s = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  s = s.replace(/\{[^}]*\}/g, ' ').replace(/\[[^\]]*\]/g, ' ');
  s = s.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names: string[] = [];
  for (const m of s.matchAll(/(?<![\w.$])([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\()?/g)) {
    if (m[2] !== undefined || PROMQL_WORDS.has(m[1]!.toLowerCase())) continue;
    names.push(m[1]!);
  }
  return names;
}

describe('deploy/grafana-dashboard.json', () => {
  let sbc: TestSbc;
  let exported: Set<string>;

  before(async () => {
    sbc = await startSbc();
    const text = await (await fetch(`${sbc.adminUrl}/metrics`)).text();
    exported = new Set<string>();
    for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
      const [name, type] = [m[1]!, m[2]!];
      exported.add(name);
      if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) exported.add(name + s);
      if (type === 'summary') for (const s of ['_sum', '_count']) exported.add(name + s);
    }
  });
  after(async () => { await sbc.stop(); });

  test('the name extraction reads what a query reads', () => {
    assert.deepEqual(metricNames('histogram_quantile(0.95, sum by (le, command) (rate(sbc_x_bucket{instance=~"$instance"}[$__rate_interval])))'), ['sbc_x_bucket']);
    assert.deepEqual(metricNames('sum(a{b="c d"}) / count(e)'), ['a', 'e']);
  });

  test('every query reads only metrics the gateway exports at /metrics', () => {
    const dash = JSON.parse(readFileSync(join(deployDir, 'grafana-dashboard.json'), 'utf8')) as {
      panels: Array<{ id: number; type: string; title: string; targets?: Array<{ expr: string }> }>;
      templating: { list: Array<{ definition?: string }> };
    };
    const used = new Set<string>();
    const ids = new Set<number>();
    for (const p of dash.panels) {
      assert.ok(!ids.has(p.id), `panel id ${p.id} is unique`);
      ids.add(p.id);
      if (p.type === 'row') continue;
      assert.ok((p.targets ?? []).length > 0, `${p.title}: has a query`);
      for (const t of p.targets ?? []) {
        const names = metricNames(t.expr);
        assert.ok(names.length > 0, `${p.title}: ${t.expr} reads a metric`);
        for (const n of names) {
          assert.ok(exported.has(n), `${p.title}: ${n} is not exported by the gateway`);
          used.add(n);
        }
      }
    }
    for (const v of dash.templating.list) {
      const m = /label_values\((\w+),/.exec(v.definition ?? '');
      if (m) assert.ok(exported.has(m[1]!), `template variable reads ${m[1]}`);
    }
    // The dashboard covers the parts an operator watches, HEP capture included.
    for (const n of ['sbc_sip_messages_total', 'sbc_active_dialogs', 'sbc_backend_up', 'sbc_media_engine_up', 'sbc_request_latency_seconds_bucket', 'sbc_overload_state', 'sbc_hep_dropped_total']) {
      assert.ok(used.has(n), `the dashboard shows ${n}`);
    }
  });
});
