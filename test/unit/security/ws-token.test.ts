import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { describe, it } from 'node:test';
import { configSchema } from '../../../src/config/schema.js';
import { HandshakeTokenVerifier } from '../../../src/security/ws-token.js';
import { ecKey, hmacKey, mintToken, rsaKey, type SigningKey } from '../../helpers/handshake-token.js';

function verifier(token: Record<string, unknown>): HandshakeTokenVerifier {
  return new HandshakeTokenVerifier(configSchema.parse({ security: { websocket: { token } } }).security.websocket.token);
}

const upgrade = (url: string, headers: Record<string, string> = {}): IncomingMessage => ({ url, headers }) as unknown as IncomingMessage;

describe('HandshakeTokenVerifier', () => {
  for (const signing of [hmacKey(), rsaKey(), ecKey()] as SigningKey[]) {
    describe(signing.alg, () => {
      const v = verifier({ ...signing.config });
      it('accepts a valid token and names its sub', async () => {
        assert.deepEqual(await v.verify(await mintToken(signing, { sub: 'alice' })), { ok: true, user: 'alice' });
      });
      it('refuses an expired token', async () => {
        assert.deepEqual(await v.verify(await mintToken(signing, { sub: 'alice', expiresIn: -120 })), { ok: false, reason: 'token-expired' });
      });
      it('refuses a token without exp (it would never expire)', async () => {
        assert.deepEqual(await v.verify(await mintToken(signing, { sub: 'alice', expiresIn: null })), { ok: false, reason: 'token-claims' });
      });
      it('refuses a token signed with another key', async () => {
        const other = signing.alg === 'HS256' ? hmacKey('another-secret-that-is-32-bytes!') : signing.alg === 'RS256' ? rsaKey() : ecKey();
        assert.deepEqual(await v.verify(await mintToken(other, { sub: 'alice' })), { ok: false, reason: 'token-signature' });
      });
    });
  }

  it('refuses a token whose algorithm is not the configured one (no HS256 with an RSA public key as secret)', async () => {
    const v = verifier({ ...rsaKey().config });
    assert.deepEqual(await v.verify(await mintToken(hmacKey(), { sub: 'alice' })), { ok: false, reason: 'token-malformed' });
  });

  it('checks audience and issuer when configured', async () => {
    const s = hmacKey();
    const v = verifier({ ...s.config, audience: 'sbc', issuer: 'https://app.example.com' });
    assert.deepEqual(await v.verify(await mintToken(s, { sub: 'alice', aud: 'sbc', iss: 'https://app.example.com' })), { ok: true, user: 'alice' });
    assert.deepEqual(await v.verify(await mintToken(s, { sub: 'alice', aud: 'other', iss: 'https://app.example.com' })), { ok: false, reason: 'token-claims' });
    assert.deepEqual(await v.verify(await mintToken(s, { sub: 'alice', aud: 'sbc' })), { ok: false, reason: 'token-claims' });
  });

  it('reads the user from the configured claim, and refuses one that is not a usable SIP user', async () => {
    const s = hmacKey();
    const v = verifier({ ...s.config, userClaim: 'sip_user' });
    assert.deepEqual(await v.verify(await mintToken(s, { sub: 'x', extra: { sip_user: 'bob@example.com' } })), { ok: true, user: 'bob@example.com' });
    assert.deepEqual(await v.verify(await mintToken(s, { sub: 'x' })), { ok: false, reason: 'token-claims' });
    assert.deepEqual(await v.verify(await mintToken(s, { sub: 'x', extra: { sip_user: 'bob smith' } })), { ok: false, reason: 'token-claims' });
    assert.deepEqual(await v.verify(await mintToken(s, { sub: 'x', extra: { sip_user: 42 } })), { ok: false, reason: 'token-claims' });
  });

  it('says missing for no token and malformed for garbage', async () => {
    const v = verifier({ ...hmacKey().config });
    assert.deepEqual(await v.verify(undefined), { ok: false, reason: 'token-missing' });
    assert.deepEqual(await v.verify('not.a.jwt'), { ok: false, reason: 'token-malformed' });
    assert.deepEqual(await v.verify('x'.repeat(10_000)), { ok: false, reason: 'token-malformed' });
  });

  it('finds the token in the configured query parameter first, else in Authorization: Bearer', () => {
    const v = verifier({ ...hmacKey().config, param: 'jwt' });
    assert.equal(v.extract(upgrade('/?jwt=abc.def.ghi&x=1')), 'abc.def.ghi');
    assert.equal(v.extract(upgrade('/?token=abc')), undefined, 'another parameter name');
    assert.equal(v.extract(upgrade('/', { authorization: 'Bearer abc.def' })), 'abc.def');
    assert.equal(v.extract(upgrade('/', { authorization: 'bearer  abc.def ' })), 'abc.def');
    assert.equal(v.extract(upgrade('/', { authorization: 'Basic YTpi' })), undefined);
    assert.equal(v.extract(upgrade('/?jwt=', {})), undefined);
  });
});
