import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { createMetrics } from '../../../src/admin/metrics.js';
import { configSchema } from '../../../src/config/schema.js';
import { createLogger } from '../../../src/log/logger.js';
import { WsHandshakeGate } from '../../../src/security/ws-handshake-gate.js';
import { hmacKey, mintToken } from '../../helpers/handshake-token.js';

const settings = (websocket: Record<string, unknown>) => configSchema.parse({ security: { websocket } }).security.websocket;
const upgrade = (headers: Record<string, string>, url = '/'): never => ({ url, headers, socket: { remoteAddress: '192.0.2.7' } }) as never;

function capture(): { lines: string[]; logger: ReturnType<typeof createLogger> } {
  const lines: string[] = [];
  const sink = new PassThrough();
  sink.on('data', (chunk: Buffer) => lines.push(...chunk.toString().split('\n').filter((l) => l !== '')));
  return { lines, logger: createLogger('info', sink) };
}

describe('WsHandshakeGate', () => {
  it('passes every handshake, synchronously, when nothing is configured', () => {
    const gate = new WsHandshakeGate({ settings: settings({}), logger: capture().logger });
    assert.deepEqual(gate.check(upgrade({ origin: 'https://anywhere.example' })), { ok: true });
    assert.equal(gate.requiresToken, false);
  });

  it('checks the Origin before the token, and names the token user when both pass', async () => {
    const s = hmacKey();
    const gate = new WsHandshakeGate({ settings: settings({ allowedOrigins: ['https://app.example.com'], token: s.config }), logger: capture().logger });
    const token = await mintToken(s, { sub: 'alice' });
    assert.deepEqual(gate.check(upgrade({ origin: 'https://evil.example' }, `/?token=${token}`)), { ok: false, status: 403, reason: 'origin-not-allowed' });
    assert.deepEqual(await gate.check(upgrade({ origin: 'https://app.example.com' }, `/?token=${token}`)), { ok: true, user: 'alice' });
    assert.deepEqual(await gate.check(upgrade({ origin: 'https://app.example.com' })), { ok: false, status: 401, reason: 'token-missing', headers: { 'WWW-Authenticate': 'Bearer realm="sip"' } });
  });

  it('counts every refusal by reason but logs at most one line a second per reason', async () => {
    const { lines, logger } = capture();
    const metrics = createMetrics(new Registry());
    const gate = new WsHandshakeGate({ settings: settings({ allowedOrigins: ['https://app.example.com'], allowMissingOrigin: false }), logger, metrics });
    for (let i = 0; i < 5; i++) gate.check(upgrade({ origin: 'https://evil.example' }));
    gate.check(upgrade({}));
    await new Promise((r) => setImmediate(r));
    const counted = (await metrics.registry.getSingleMetric('sbc_ws_handshakes_rejected_total')!.get()).values.map((v) => [v.labels.reason, v.value]);
    assert.deepEqual(counted, [['origin-not-allowed', 5], ['origin-missing', 1]]);
    assert.equal(lines.length, 2, lines.join('\n'));
    assert.match(lines[0]!, /"reason":"origin-not-allowed","source":"192\.0\.2\.7","origin":"https:\/\/evil\.example"/);
    assert.match(lines[1]!, /"reason":"origin-missing"/);
  });

  it('takes a reconfiguration for the handshakes after it', async () => {
    const gate = new WsHandshakeGate({ settings: settings({}), logger: capture().logger });
    const s = hmacKey();
    gate.reconfigure(settings({ token: s.config }));
    assert.equal(gate.requiresToken, true);
    assert.equal((await gate.check(upgrade({}))).ok, false);
    assert.deepEqual(await gate.check(upgrade({ authorization: `Bearer ${await mintToken(s, { sub: 'bob' })}` })), { ok: true, user: 'bob' });
  });
});
