import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import {
  authScheme,
  computeHa1,
  computeResponse,
  digestAlgorithm,
  formatDigestChallenge,
  parseDigestChallenge,
  parseDigestCredentials,
} from '../../../src/sip/digest.js';

const md5 = (s: string | Buffer): string => createHash('md5').update(s).digest('hex');

test('RFC 2617 §3.5: the Mufasa example gives response 6629fae4…', () => {
  const ha1 = computeHa1('MD5', 'Mufasa', 'testrealm@host.com', 'Circle Of Life');
  const response = computeResponse({
    algorithm: 'MD5', ha1, method: 'GET', uri: '/dir/index.html',
    nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093', qop: 'auth', nc: '00000001', cnonce: '0a4f113b',
  });
  assert.equal(response, '6629fae49393a05397450978507c4ef1');
});

test('RFC 7616 §3.9.1: MD5 and SHA-256 responses of the example', () => {
  const common = {
    method: 'GET', uri: '/dir/index.html', qop: 'auth' as const, nc: '00000001',
    nonce: '7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v',
    cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ',
  };
  const user = 'Mufasa';
  const realm = 'http-auth@example.org';
  const password = 'Circle of Life';
  assert.equal(computeResponse({ ...common, algorithm: 'MD5', ha1: computeHa1('MD5', user, realm, password) }), '8ca523f5e9506fed4657c9700eebdbec');
  assert.equal(
    computeResponse({ ...common, algorithm: 'SHA-256', ha1: computeHa1('SHA-256', user, realm, password) }),
    '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1',
  );
});

test('RFC 7616 §3.9.1: the SHA-256 Authorization of the example parses to what was computed', () => {
  const header = 'Digest username="Mufasa", realm="http-auth@example.org", uri="/dir/index.html", algorithm=SHA-256, '
    + 'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", nc=00000001, cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", '
    + 'qop=auth, response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"';
  const r = parseDigestCredentials(header);
  assert.ok(r.ok, r.ok ? '' : r.error);
  assert.deepEqual(r.value, {
    username: 'Mufasa', realm: 'http-auth@example.org', uri: '/dir/index.html', algorithm: 'SHA-256',
    nonce: '7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v', nc: '00000001', cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ',
    qop: 'auth', response: '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1', opaque: 'FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS',
  });
  assert.equal(digestAlgorithm(r.value.algorithm), 'SHA-256');
});

test('a SIP Authorization: quoted uri, algorithm absent means MD5, scheme and names case-insensitive, quoted-pairs unescaped', () => {
  const r = parseDigestCredentials('digest USERNAME="bob\\"s", Realm="biloxi.com", nonce="dcd98b", uri="sip:bob@biloxi.com", response="ABCDEF0123456789abcdef0123456789"');
  assert.ok(r.ok);
  assert.equal(r.value.username, 'bob"s');
  assert.equal(r.value.realm, 'biloxi.com');
  assert.equal(r.value.uri, 'sip:bob@biloxi.com');
  assert.equal(r.value.algorithm, 'MD5');
  assert.equal(r.value.response, 'abcdef0123456789abcdef0123456789', 'response lower-cased for comparison');
  assert.equal(r.value.qop, undefined);
});

test('without qop the response is H(HA1:nonce:HA2) (RFC 2617 §3.2.2.1)', () => {
  const ha1 = computeHa1('MD5', 'alice', 'atlanta.com', 'pw');
  const got = computeResponse({ algorithm: 'MD5', ha1, method: 'INVITE', uri: 'sip:bob@biloxi.com', nonce: 'n1' });
  assert.equal(got, md5(`${md5('alice:atlanta.com:pw')}:n1:${md5('INVITE:sip:bob@biloxi.com')}`));
});

test('MD5-sess derives the session key from HA1, nonce and cnonce; auth-int hashes the body, "" when empty', () => {
  const ha1 = md5('alice:atlanta.com:pw');
  const sess = computeResponse({ algorithm: 'MD5-sess', ha1, method: 'REGISTER', uri: 'sip:atlanta.com', nonce: 'n', qop: 'auth', nc: '00000002', cnonce: 'c' });
  assert.equal(sess, md5(`${md5(`${ha1}:n:c`)}:n:00000002:c:auth:${md5('REGISTER:sip:atlanta.com')}`));
  const body = Buffer.from('v=0\r\n');
  const int = computeResponse({ algorithm: 'MD5', ha1, method: 'INVITE', uri: 'sip:b@x', nonce: 'n', qop: 'auth-int', nc: '00000001', cnonce: 'c', body });
  assert.equal(int, md5(`${ha1}:n:00000001:c:auth-int:${md5(`INVITE:sip:b@x:${md5(body)}`)}`));
  const empty = computeResponse({ algorithm: 'MD5', ha1, method: 'INVITE', uri: 'sip:b@x', nonce: 'n', qop: 'auth-int', nc: '00000001', cnonce: 'c' });
  assert.equal(empty, md5(`${ha1}:n:00000001:c:auth-int:${md5(`INVITE:sip:b@x:${md5('')}`)}`));
});

test('malformed credentials fail with a short reason, never throw', () => {
  const cases: Array<[string, RegExp]> = [
    ['', /not Digest/],
    ['Digest', /no parameters/],
    ['Basic YWxhZGRpbjpvcGVuc2VzYW1l', /not Digest/],
    ['Digest username="a", realm="r", nonce="n", uri="sip:x", response="00', /unterminated/],
    ['Digest username="a", username="b", realm="r", nonce="n", uri="sip:x", response="00"', /repeated/],
    ['Digest realm="r", nonce="n", uri="sip:x", response="00"', /username missing/],
    ['Digest username="a", nonce="n", uri="sip:x", response="00"', /realm missing/],
    ['Digest username="a", realm="r", uri="sip:x", response="00"', /nonce missing/],
    ['Digest username="a", realm="r", nonce="n", response="00"', /uri missing/],
    ['Digest username="a", realm="r", nonce="n", uri="sip:x"', /response missing/],
    ['Digest username="a", realm="r", nonce="n", uri="sip:x", response="xyz"', /not hex/],
    ['Digest username="a", realm="r", nonce="n", uri="sip:x", response="00", qop=auth, cnonce="c"', /nc/],
    ['Digest username="a", realm="r", nonce="n", uri="sip:x", response="00", qop=auth, nc=1, cnonce="c"', /nc/],
    ['Digest username="a", realm="r", nonce="n", uri="sip:x", response="00", qop=auth, nc=00000001', /cnonce/],
    ['Digest username="a" realm="r"', /comma/],
    ['Digest username=', /empty value/],
    ['Digest =x', /name/],
    ['Digest username', /no value/],
    [`Digest ${Array.from({ length: 40 }, (_, i) => `p${i}=1`).join(', ')}`, /too many/],
    ['Digest username*=UTF-8\'\'J%C3%A4s, realm="r", nonce="n", uri="sip:x", response="00"', /username\* is not supported/],
  ];
  for (const [value, reason] of cases) {
    const r = parseDigestCredentials(value);
    assert.equal(r.ok, false, value);
    if (!r.ok) {
      assert.match(r.error, reason, value);
      assert.doesNotMatch(r.error, /[\r\n]/, 'fit for a reason phrase');
    }
  }
});

test('random bytes never make the parsers throw', () => {
  const alphabet = 'Digest ,="\\abcnr=:@;\t\r\n\u00e9\u0000';
  for (let i = 0; i < 3000; i++) {
    const bytes = randomBytes(1 + (i % 80));
    const s = i % 2 === 0 ? bytes.toString('latin1') : `Digest ${Array.from(bytes, (b) => alphabet[b % alphabet.length]).join('')}`;
    parseDigestCredentials(s);
    parseDigestChallenge(s);
    authScheme(s);
  }
});

test('a challenge as we write it: MD5, qop="auth", opaque, stale; quotes in the realm escaped; read back the same', () => {
  const text = formatDigestChallenge({ realm: 'Acme "SIP"', nonce: 'abc_-123', opaque: 'op', algorithm: 'MD5', qop: ['auth'], stale: true });
  assert.equal(text, 'Digest realm="Acme \\"SIP\\"", nonce="abc_-123", opaque="op", algorithm=MD5, qop="auth", stale=true');
  const back = parseDigestChallenge(text);
  assert.ok(back.ok);
  assert.deepEqual(back.value, { realm: 'Acme "SIP"', nonce: 'abc_-123', opaque: 'op', algorithm: 'MD5', qop: ['auth'], stale: true });
  const plain = parseDigestChallenge('Digest realm="a.example", nonce="n", qop="auth,auth-int", algorithm=sha-256');
  assert.ok(plain.ok);
  assert.equal(plain.value.algorithm, 'SHA-256');
  assert.deepEqual(plain.value.qop, ['auth', 'auth-int']);
  assert.equal(plain.value.stale, undefined);
  assert.equal(parseDigestChallenge('Digest realm="a", nonce="n", algorithm=SHA-512-256').ok, false, 'an algorithm we cannot compute');
});
