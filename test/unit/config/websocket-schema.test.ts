import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { configSchema } from '../../../src/config/schema.js';

function problems(input: Record<string, unknown>): string[] {
  const r = configSchema.safeParse(input);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}
const ws = (websocket: Record<string, unknown>): Record<string, unknown> => ({ security: { websocket } });
const pem = (type: 'ec' | 'ed25519' | 'rsa'): string => {
  const { publicKey } = type === 'ec' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : type === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ed25519');
  return publicKey.export({ type: 'spki', format: 'pem' }).toString();
};

describe('security.websocket and tls settings in the schema', () => {
  it('takes exact origins, wildcard patterns and null', () => {
    assert.deepEqual(problems(ws({ allowedOrigins: ['https://app.example.com', 'http://127.0.0.1:8080', '*.example.com', 'https://*.example.org:8443', 'null'] })), []);
  });

  it('names the entry of an origin that is not one', () => {
    assert.match(problems(ws({ allowedOrigins: ['https://app.example.com', 'https://app.example.com/page'] }))[0] ?? '', /^security\.websocket\.allowedOrigins\.1: must be an origin/);
    assert.match(problems(ws({ allowedOrigins: ['app.example.com'] }))[0] ?? '', /^security\.websocket\.allowedOrigins\.0:/);
    assert.match(problems(ws({ allowedOrigins: ['*example.com'] }))[0] ?? '', /^security\.websocket\.allowedOrigins\.0:/);
  });

  it('refuses a secret and a public key together', () => {
    assert.deepEqual(problems(ws({ token: { secret: 'x'.repeat(32), publicKey: pem('ec') } })), ['security.websocket.token.publicKey: set either security.websocket.token.secret or publicKey, not both']);
  });

  it('refuses a secret shorter than its algorithm needs', () => {
    assert.deepEqual(problems(ws({ token: { secret: 'x'.repeat(31) } })), ['security.websocket.token.secret: HS256 needs a secret of at least 32 bytes (RFC 7518 §3.2), got 31']);
    assert.deepEqual(problems(ws({ token: { secret: 'x'.repeat(48), algorithms: ['HS384'] } })), []);
  });

  it('refuses algorithms that do not fit the key', () => {
    assert.deepEqual(problems(ws({ token: { secret: 'x'.repeat(32), algorithms: ['RS256'] } })), ['security.websocket.token.algorithms: RS256 needs a publicKey; a secret verifies HS256, HS384, HS512']);
    assert.deepEqual(problems(ws({ token: { publicKey: pem('ec'), algorithms: ['RS256'] } })), ['security.websocket.token.algorithms: RS256 does not fit a ec public key (use ES256)']);
    assert.deepEqual(problems(ws({ token: { publicKey: pem('rsa'), algorithms: ['ES256'] } }))[0]?.startsWith('security.websocket.token.algorithms: ES256 does not fit a rsa public key'), true);
    assert.deepEqual(problems(ws({ token: { publicKey: pem('ed25519'), algorithms: ['EdDSA'] } })), []);
    assert.deepEqual(problems(ws({ token: { algorithms: ['HS256'] } })), ['security.websocket.token.algorithms: no security.websocket.token.secret or publicKey is set']);
    assert.match(problems(ws({ token: { secret: 'x'.repeat(32), algorithms: ['none'] } }))[0] ?? '', /^security\.websocket\.token\.algorithms\.0:/);
  });

  it('takes empty publicKey, audience and issuer as unset (an empty environment variable)', () => {
    assert.deepEqual(problems(ws({ token: { secret: 'x'.repeat(32), publicKey: '', audience: '', issuer: '' } })), []);
    const token = configSchema.parse(ws({ token: { publicKey: '', audience: '' } })).security.websocket.token;
    assert.equal(token.publicKey, undefined);
    assert.equal(token.audience, undefined);
  });

  it('refuses a public key that is not PEM', () => {
    assert.match(problems(ws({ token: { publicKey: 'not a key' } }))[0] ?? '', /^security\.websocket\.token\.publicKey: not a PEM public key or certificate/);
  });

  it('checks tls.minVersion and tls.ciphers', () => {
    assert.deepEqual(problems({ tls: { minVersion: 'TLSv1.3', ciphers: 'ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-GCM-SHA256' } }), []);
    assert.match(problems({ tls: { minVersion: 'TLSv1.1' } })[0] ?? '', /^tls\.minVersion:/);
    assert.match(problems({ tls: { ciphers: 'NO-SUCH-CIPHER' } })[0] ?? '', /^tls\.ciphers: not a cipher list OpenSSL accepts/);
  });
});
