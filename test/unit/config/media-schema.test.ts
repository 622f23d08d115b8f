import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { configSchema, defaultConfig } from '../../../src/config/index.js';

function firstProblem(input: Record<string, unknown>): string {
  const result = configSchema.safeParse(input);
  if (result.success) return 'ok';
  const issue = result.error.issues[0];
  return `${issue?.path.join('.')}: ${issue?.message}`;
}

describe('config media.rtpengine', () => {
  it('has the documented defaults for the engine pool keys', () => {
    const r = defaultConfig().media.rtpengine;
    assert.deepEqual(r, { anchorPlainCalls: true, engines: [], timeoutMs: 1000, tries: 3, pingIntervalSeconds: 5, failuresToDown: 2, successesToUp: 1, flags: {} });
  });

  it('accepts udp, udp6 and ws engine URLs and refuses tcp', () => {
    const engines = [{ url: 'udp:127.0.0.1:22222' }, { url: 'udp6:[::1]:22222', weight: 2 }, { url: 'ws://127.0.0.1:8080' }];
    const c = configSchema.parse({ media: { rtpengine: { engines } } });
    assert.deepEqual(
      c.media.rtpengine.engines.map((e) => [e.url, e.weight]),
      [['udp:127.0.0.1:22222', 1], ['udp6:[::1]:22222', 2], ['ws://127.0.0.1:8080', 1]],
    );
    assert.match(firstProblem({ media: { rtpengine: { engines: [{ url: 'tcp:127.0.0.1:22222' }] } } }), /^media\.rtpengine\.engines\.0\.url: must be udp:HOST:PORT/);
    assert.match(firstProblem({ media: { rtpengine: { engines: [{ url: 'udp:127.0.0.1' }] } } }), /^media\.rtpengine\.engines\.0\.url: /);
  });

  it('takes free-form flag overrides per direction, with null to remove a default key', () => {
    const c = configSchema.parse({
      media: { rtpengine: { flags: { webrtcToRtp: { ICE: 'force', 'DTLS-reverse': null, flags: ['trust-address', 'strict-source'], codec: { strip: ['all'] } }, rtpToWebrtc: { 'delete delay': 0 } } } },
    });
    assert.deepEqual(c.media.rtpengine.flags, {
      webrtcToRtp: { ICE: 'force', 'DTLS-reverse': null, flags: ['trust-address', 'strict-source'], codec: { strip: ['all'] } },
      rtpToWebrtc: { 'delete delay': 0 },
    });
  });

  it('refuses flag values bencode cannot carry and unknown directions', () => {
    assert.match(firstProblem({ media: { rtpengine: { flags: { webrtcToRtp: { ICE: true } } } } }), /^media\.rtpengine\.flags\.webrtcToRtp\.ICE: /);
    assert.match(firstProblem({ media: { rtpengine: { flags: { browserToSip: {} } } } }), /^media\.rtpengine\.flags: /);
  });

  it('takes interface labels as a pair', () => {
    const c = configSchema.parse({ media: { rtpengine: { interfaces: { webrtc: 'pub', rtp: 'priv' } } } });
    assert.deepEqual(c.media.rtpengine.interfaces, { webrtc: 'pub', rtp: 'priv' });
    assert.match(firstProblem({ media: { rtpengine: { interfaces: { webrtc: 'pub' } } } }), /^media\.rtpengine\.interfaces\.rtp: /);
  });

  it('refuses zero tries and a non-positive ping interval', () => {
    assert.match(firstProblem({ media: { rtpengine: { tries: 0 } } }), /^media\.rtpengine\.tries: /);
    assert.match(firstProblem({ media: { rtpengine: { pingIntervalSeconds: 0 } } }), /^media\.rtpengine\.pingIntervalSeconds: /);
  });
});

describe('config media.embedded', () => {
  it('has the documented defaults, and auto picks embedded when no engine is listed', async () => {
    const c = defaultConfig();
    assert.deepEqual(
      { ...c.media.embedded },
      { address: '0.0.0.0', advertise: '', ports: '30000-39999', maxSessions: 1000, inactivitySeconds: 60, holdInactivitySeconds: 3600, maxCallSeconds: 86400 },
    );
    const { activeMediaMode } = await import('../../../src/media/media-from-config.js');
    assert.equal(activeMediaMode(c.media), 'embedded');
    assert.equal(activeMediaMode(configSchema.parse({ media: { rtpengine: { engines: [{ url: 'udp:127.0.0.1:22222' }] } } }).media), 'rtpengine');
    assert.equal(activeMediaMode(configSchema.parse({ media: { mode: 'passthrough' } }).media), 'passthrough');
  });

  it('refuses a bad port range, address or advertise naming the key', () => {
    for (const ports of ['30000', '40000-30000', '1000-2000', '30000-70000', '30001-30001', 'a-b']) {
      assert.match(firstProblem({ media: { embedded: { ports } } }), /^media\.embedded\.ports: must be LOW-HIGH/, ports);
    }
    assert.equal(firstProblem({ media: { embedded: { ports: '30000-30001' } } }), 'ok');
    assert.match(firstProblem({ media: { embedded: { address: '::' } } }), /^media\.embedded\.address: /);
    assert.match(firstProblem({ media: { embedded: { advertise: 'media.example.com' } } }), /^media\.embedded\.advertise: /);
    assert.match(firstProblem({ media: { embedded: { maxSessions: 0 } } }), /^media\.embedded\.maxSessions: /);
  });
});
