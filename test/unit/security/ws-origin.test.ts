import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OriginPolicy } from '../../../src/security/ws-origin.js';

const policy = (allowedOrigins: string[], allowMissingOrigin = true): OriginPolicy => new OriginPolicy({ allowedOrigins, allowMissingOrigin });

describe('OriginPolicy (security.websocket.allowedOrigins)', () => {
  it('lets any Origin in when the list is empty', () => {
    assert.equal(policy([]).check('https://evil.example.net'), 'allowed');
  });

  it('matches an exact origin by scheme, host and port, case-insensitively, with the default port implied', () => {
    const p = policy(['https://App.Example.com']);
    assert.equal(p.check('https://app.example.com'), 'allowed');
    assert.equal(p.check('https://app.example.com:443'), 'allowed');
    assert.equal(p.check('http://app.example.com'), 'origin-not-allowed', 'another scheme');
    assert.equal(p.check('https://app.example.com:8443'), 'origin-not-allowed', 'another port');
    assert.equal(p.check('https://app.example.com.evil.net'), 'origin-not-allowed', 'a suffix attack');
    assert.equal(p.check('https://other.example.com'), 'origin-not-allowed');
  });

  it('matches *.example.com against subdomains on any scheme and port, never the bare domain or a look-alike', () => {
    const p = policy(['*.example.com']);
    assert.equal(p.check('https://a.example.com'), 'allowed');
    assert.equal(p.check('http://a.b.example.com:8080'), 'allowed');
    assert.equal(p.check('https://example.com'), 'origin-not-allowed');
    assert.equal(p.check('https://badexample.com'), 'origin-not-allowed');
    assert.equal(p.check('https://example.com.evil.net'), 'origin-not-allowed');
  });

  it('holds a scheme and port given with the wildcard', () => {
    const p = policy(['https://*.example.com:8443']);
    assert.equal(p.check('https://a.example.com:8443'), 'allowed');
    assert.equal(p.check('https://a.example.com'), 'origin-not-allowed');
    assert.equal(p.check('http://a.example.com:8443'), 'origin-not-allowed');
  });

  it('refuses a missing Origin only when allowMissingOrigin is false', () => {
    assert.equal(policy(['https://app.example.com']).check(undefined), 'allowed');
    assert.equal(policy(['https://app.example.com'], false).check(undefined), 'origin-missing');
    assert.equal(policy([], false).check(''), 'origin-missing');
  });

  it('takes the opaque origin "null" only when it is listed, and garbage never', () => {
    assert.equal(policy(['https://app.example.com']).check('null'), 'origin-not-allowed');
    assert.equal(policy(['null']).check('null'), 'allowed');
    assert.equal(policy(['https://app.example.com']).check('not an origin'), 'origin-not-allowed');
    assert.equal(policy(['https://app.example.com']).check(`https://${'a'.repeat(600)}.example.com`), 'origin-not-allowed');
  });

  it('does not let two origins of a non-special scheme match each other through URL.origin being "null"', () => {
    const p = policy(['chrome-extension://abcdef']);
    assert.equal(p.check('chrome-extension://abcdef'), 'allowed');
    assert.equal(p.check('chrome-extension://other'), 'origin-not-allowed');
    assert.equal(p.check('foo://x'), 'origin-not-allowed');
  });
});
