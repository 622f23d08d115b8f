import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { configSchema, defaultConfig, isAliveResponse, type ConfigInput } from '../../../src/config/index.js';

/** Validate `input` and return the first issue as "path: message", or "ok". */
function firstProblem(input: ConfigInput | Record<string, unknown>): string {
  const result = configSchema.safeParse(input);
  if (result.success) return 'ok';
  const issue = result.error.issues[0];
  return `${issue?.path.join('.')}: ${issue?.message}`;
}

const oneBackend = { default: { targets: [{ uri: 'sip:127.0.0.1:5080;transport=udp' }] } };

describe('config schema defaults (CONTRACT.md)', () => {
  it('listens on udp and tcp 5060, tls 5061 and wss 7443 on all addresses, ws off', () => {
    assert.deepEqual(defaultConfig().listen, [
      { transport: 'udp', address: '0.0.0.0', port: 5060 },
      { transport: 'tcp', address: '0.0.0.0', port: 5060 },
      { transport: 'tls', address: '0.0.0.0', port: 5061 },
      { transport: 'wss', address: '0.0.0.0', port: 7443 },
    ]);
  });

  it('has the contract values for every contract key', () => {
    const c = defaultConfig();
    assert.deepEqual({ cert: c.tls.cert, key: c.tls.key }, { cert: 'certs/server.crt', key: 'certs/server.key' });
    assert.equal(c.mode, 'proxy');
    assert.deepEqual(c.topologyHiding, { enabled: true, maskCallId: false });
    assert.deepEqual(c.trustedSources, []);
    assert.deepEqual(c.backends, {});
    assert.deepEqual(c.routes, []);
    assert.deepEqual({ backend: c.registrar.backend, pathMode: c.registrar.pathMode }, { backend: 'default', pathMode: true });
    // media keys beyond the contract: test/unit/config/media-schema.test.ts
    assert.deepEqual({ mode: c.media.mode, engines: c.media.rtpengine.engines, timeoutMs: c.media.rtpengine.timeoutMs }, { mode: 'auto', engines: [], timeoutMs: 1000 });
    assert.deepEqual(c.state, { store: 'memory', redis: { url: 'redis://127.0.0.1:6379', keyPrefix: 'sbc:' } });
    const { websocket, ...security } = c.security;
    assert.deepEqual({ allowedOrigins: websocket.allowedOrigins, allowMissingOrigin: websocket.allowMissingOrigin, token: { secret: websocket.token.secret } }, { allowedOrigins: [], allowMissingOrigin: true, token: { secret: '' } });
    assert.deepEqual(security, {
      auth: { mode: 'none' },
      rateLimit: { requestsPerSecondPerIp: 50, burst: 100, banSeconds: 300 },
      blockedUserAgents: ['friendly-scanner', 'sipvicious', 'sipcli', 'sip-scan', 'sundayddr', 'iwar', 'sivus', 'smap', 'sipsak'],
      maxCallsPerUser: 0,
      maxMessageBytes: 65535,
    });
    assert.deepEqual(c.admin, { listen: '127.0.0.1:9060', token: '' });
    assert.deepEqual(c.shutdown, { drainSeconds: 30 });
    assert.deepEqual(c.log, { level: 'info' });
  });

  it('has the documented defaults for the keys beyond the contract', () => {
    const c = defaultConfig();
    assert.deepEqual(c.transport, { maxHeaderCount: 128, maxConnectionsPerIp: 100, handshakeTimeoutSeconds: 10, idleTimeoutSeconds: 900, wsPingIntervalSeconds: 30, udpReceiveBufferBytes: 4194304, workerPortBase: 0 });
    assert.equal(c.workers, 1);
    assert.deepEqual(c.flowTokens, { secret: '' });
    assert.deepEqual(c.tls, { cert: 'certs/server.crt', key: 'certs/server.key', watch: true, minVersion: 'TLSv1.2' });
    assert.deepEqual(c.security.websocket.token, { secret: '', param: 'token', userClaim: 'sub', clockToleranceSeconds: 30 });
    assert.deepEqual(c.web, { enabled: true, root: 'web' });
    assert.deepEqual(c.nat, { keepaliveIntervalSeconds: 30, keepaliveMethod: 'OPTIONS', keepaliveFailures: 3 });
    assert.deepEqual({ rewriteWsContact: c.registrar.rewriteWsContact, maxBindingsPerFlow: c.registrar.maxBindingsPerFlow, maxFlows: c.registrar.maxFlows }, { rewriteWsContact: false, maxBindingsPerFlow: 20, maxFlows: 200_000 });
    assert.deepEqual(c.proxy, { flowFailedStatus: 430, failoverTimeoutMs: 4000 });
    assert.deepEqual(c.timers, { t1Ms: 500, t2Ms: 4000, t4Ms: 5000, timerCSeconds: 180 });
  });

  it('returns a fresh object each time', () => {
    const a = defaultConfig();
    a.listen.pop();
    a.security.blockedUserAgents.push('x');
    assert.equal(defaultConfig().listen.length, 4);
    assert.equal(defaultConfig().security.blockedUserAgents.includes('x'), false);
  });

  it('fills a partial section with the defaults of the keys it omits', () => {
    const c = configSchema.parse({ security: { rateLimit: { burst: 7 } }, backends: oneBackend });
    assert.deepEqual(c.security.rateLimit, { requestsPerSecondPerIp: 50, burst: 7, banSeconds: 300 });
    assert.equal(c.security.maxMessageBytes, 65535);
    assert.deepEqual(c.backends['default']?.probe, { method: 'OPTIONS', intervalSeconds: 10, failuresToDown: 3, successesToUp: 1, timeoutMs: 5000 });
    assert.deepEqual(c.backends['default']?.targets, [{ uri: 'sip:127.0.0.1:5080;transport=udp', weight: 1, priority: 0 }]);
    assert.equal(c.backends['default']?.algorithm, 'round-robin');
  });
});

describe('config schema listeners', () => {
  it('gives a listener without port the default port of its transport (ws: 5066)', () => {
    const c = configSchema.parse({ listen: [{ transport: 'ws' }, { transport: 'tls', address: '::' }] });
    assert.deepEqual(c.listen, [
      { transport: 'ws', address: '0.0.0.0', port: 5066 },
      { transport: 'tls', address: '::', port: 5061 },
    ]);
  });

  it('refuses an unknown transport, a port above 65535 and a host name as bind address', () => {
    assert.match(firstProblem({ listen: [{ transport: 'sctp' }] }), /^listen\.0\.transport: /);
    assert.match(firstProblem({ listen: [{ transport: 'udp', port: 70000 }] }), /^listen\.0\.port: /);
    assert.match(firstProblem({ listen: [{ transport: 'udp', address: 'example.com' }] }), /^listen\.0\.address: must be an IPv4 or IPv6 address/);
  });

  it('refuses two listeners on the same transport, address and port', () => {
    const listen = [
      { transport: 'udp', port: 5060 },
      { transport: 'udp', port: 5060 },
    ];
    assert.equal(firstProblem({ listen }), 'listen.1.port: 0.0.0.0:5060 is already used by listen[0] (udp)');
  });

  it('refuses tcp and tls on one port (both bind TCP) but allows udp and tcp on one port', () => {
    assert.match(firstProblem({ listen: [{ transport: 'tcp', port: 5060 }, { transport: 'tls', port: 5060 }] }), /^listen\.1\.port: .*listen\[0\] \(tcp\)/);
    assert.equal(firstProblem({ listen: [{ transport: 'udp', port: 5060 }, { transport: 'tcp', port: 5060 }] }), 'ok');
    assert.equal(firstProblem({ listen: [{ transport: 'udp', port: 0 }, { transport: 'udp', port: 0 }] }), 'ok');
  });

  it('requires at least one listener', () => {
    assert.equal(firstProblem({ listen: [] }), 'listen: at least one listener is required');
  });

  it('accepts an advertised host name or IP and refuses garbage', () => {
    assert.equal(firstProblem({ listen: [{ transport: 'wss', advertise: 'sbc.example.com' }] }), 'ok');
    assert.equal(firstProblem({ listen: [{ transport: 'wss', advertise: '2001:db8::1' }] }), 'ok');
    assert.match(firstProblem({ listen: [{ transport: 'wss', advertise: 'not a host' }] }), /^listen\.0\.advertise: /);
  });
});

describe('config schema values', () => {
  it('accepts IPv4 and IPv6 CIDRs and bare addresses as trusted sources, refuses bad prefixes', () => {
    assert.equal(firstProblem({ trustedSources: ['10.0.0.0/8', '192.0.2.1', 'fd00::/8', '::1/128'] }), 'ok');
    assert.match(firstProblem({ trustedSources: ['10.0.0.0/33'] }), /^trustedSources\.0: must be a CIDR/);
    assert.match(firstProblem({ trustedSources: ['fd00::/129'] }), /^trustedSources\.0: /);
    assert.match(firstProblem({ trustedSources: ['10.0.0/8'] }), /^trustedSources\.0: /);
  });

  it('requires backend target URIs to be sip:/sips: URIs with a known transport', () => {
    const withUri = (uri: string) => ({ backends: { default: { targets: [{ uri }] } } });
    assert.equal(firstProblem(withUri('sips:fs.example.com')), 'ok');
    assert.equal(firstProblem(withUri('sip:[2001:db8::5]:5080;transport=tcp')), 'ok');
    assert.match(firstProblem(withUri('http://10.0.0.5')), /^backends\.default\.targets\.0\.uri: must be a sip: or sips: URI/);
    assert.match(firstProblem(withUri('sip:10.0.0.5;transport=sctp')), /^backends\.default\.targets\.0\.uri: transport must be one of/);
    assert.match(firstProblem(withUri('not a uri')), /^backends\.default\.targets\.0\.uri: /);
  });

  it('requires at least one target per backend group', () => {
    assert.match(firstProblem({ backends: { default: { targets: [] } } }), /^backends\.default\.targets: /);
  });

  it('refuses a stateful probe method', () => {
    const group = { probe: { method: 'INVITE' }, targets: [{ uri: 'sip:10.0.0.5' }] };
    assert.match(firstProblem({ backends: { default: group } }), /^backends\.default\.probe\.method: must not be a method that creates state/);
  });

  it('validates engine URLs, Redis URLs and the admin host:port', () => {
    assert.match(firstProblem({ media: { rtpengine: { engines: [{ url: 'tcp:1.2.3.4:22222' }] } } }), /^media\.rtpengine\.engines\.0\.url: /);
    assert.match(firstProblem({ state: { redis: { url: 'http://127.0.0.1' } } }), /^state\.redis\.url: /);
    assert.match(firstProblem({ admin: { listen: '9060' } }), /^admin\.listen: /);
    assert.equal(firstProblem({ admin: { listen: '[::1]:0' } }), 'ok');
  });

  it('only allows 430 or 480 for a failed flow', () => {
    assert.equal(configSchema.parse({ proxy: { flowFailedStatus: 480 } }).proxy.flowFailedStatus, 480);
    assert.match(firstProblem({ proxy: { flowFailedStatus: 404 } }), /^proxy\.flowFailedStatus: /);
  });

  it('lower-cases route domains so matching can compare directly', () => {
    const c = configSchema.parse({ backends: oneBackend, routes: [{ domain: 'Tenant-A.Example.COM', backend: 'default' }] });
    assert.equal(c.routes[0]?.domain, 'tenant-a.example.com');
  });
});

describe('config schema cross-field checks', () => {
  it('names the route whose backend group does not exist', () => {
    const problem = firstProblem({ backends: oneBackend, routes: [{ domain: 'a.example.com', backend: 'x' }] });
    assert.equal(problem, 'routes.0.backend: no backend group "x" (groups: default)');
  });

  it('checks registrar.backend against the configured groups', () => {
    const other = { edge: { targets: [{ uri: 'sip:10.0.0.5' }] } };
    assert.equal(firstProblem({ backends: other }), 'registrar.backend: no backend group "default" (groups: edge)');
    assert.equal(firstProblem({ backends: other, registrar: { backend: 'edge' } }), 'ok');
  });

  it('accepts the default registrar backend when no backend is configured at all', () => {
    assert.equal(firstProblem({}), 'ok');
    assert.equal(firstProblem({ routes: [{ domain: 'a.example.com', backend: 'later' }] }), 'ok');
  });

  it('registrar: mode path | local, local refused with mode b2bua naming the key, limits checked', () => {
    assert.equal(firstProblem({ registrar: { mode: 'local', domains: ['Example.COM'] } }), 'ok');
    assert.equal(configSchema.parse({ registrar: { domains: ['Example.COM'] } }).registrar.domains[0], 'example.com');
    assert.equal(configSchema.parse({}).registrar.mode, undefined, 'resolved at start: local without a backend, else path');
    assert.match(firstProblem({ registrar: { mode: 'other' } }), /^registrar\.mode: /);
    assert.match(firstProblem({ mode: 'b2bua', registrar: { mode: 'local' } }), /^registrar\.mode: local is not supported with mode: b2bua/);
    assert.match(firstProblem({ registrar: { minExpires: 600, maxExpires: 60 } }), /^registrar\.maxExpires: must not be less than registrar\.minExpires/);
    assert.match(firstProblem({ registrar: { domains: ['not a domain'] } }), /^registrar\.domains\.0: /);
  });

  it('points at the fix when media.mode is rtpengine without engines', () => {
    assert.equal(
      firstProblem({ media: { mode: 'rtpengine' } }),
      'media.rtpengine.engines: no engine listed while media.mode is rtpengine: set media.rtpengine.engines or media.mode=embedded',
    );
  });

  it('requires a users file for local auth, and refuses sentinels together with cluster', () => {
    assert.match(firstProblem({ security: { auth: { mode: 'local' } } }), /^security\.auth\.usersFile: required/);
    const redis = { sentinels: { name: 'm', nodes: ['10.0.0.1:26379'] }, cluster: { nodes: ['10.0.0.2:6379'] } };
    assert.match(firstProblem({ state: { redis } }), /^state\.redis\.cluster: /);
  });

  it('refuses T2 below T1', () => {
    assert.equal(firstProblem({ timers: { t1Ms: 500, t2Ms: 400 } }), 'timers.t2Ms: must not be less than timers.t1Ms (500)');
  });
});

describe('probe response rule', () => {
  it('counts any final response except 408 and 503 as alive by default', () => {
    const probe = {};
    assert.equal(isAliveResponse(probe, 200), true);
    assert.equal(isAliveResponse(probe, 404), true);
    assert.equal(isAliveResponse(probe, 405), true);
    assert.equal(isAliveResponse(probe, 503), false);
    assert.equal(isAliveResponse(probe, 408), false);
    assert.equal(isAliveResponse(probe, 100), false);
  });

  it('counts only the listed codes when aliveCodes is set', () => {
    const probe = { aliveCodes: [200, 404] };
    assert.equal(isAliveResponse(probe, 200), true);
    assert.equal(isAliveResponse(probe, 404), true);
    assert.equal(isAliveResponse(probe, 405), false);
  });
});
