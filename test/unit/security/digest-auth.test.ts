import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { AuthDenial } from '../../../src/core/request-checks.js';
import { silentLogger } from '../../../src/log/logger.js';
import { DigestAuthenticator, DigestNonces, type DigestAuthOptions } from '../../../src/security/digest-auth.js';
import { loadUsersFile, UsersFile } from '../../../src/security/users-file.js';
import { computeHa1, computeResponse, parseDigestChallenge, type DigestAlgorithm } from '../../../src/sip/digest.js';
import type { SipRequest } from '../../../src/sip/message.js';
import { parseMessage } from '../../../src/sip/parser.js';
import { FakeFlow } from '../transport/fake-flow.js';

// ── users file ──────────────────────────────────────────────────────────

test('users file: user:password and user:realm:HA1 lines, comments and blank lines ignored', () => {
  const md5Ha1 = computeHa1('MD5', 'bob', 'biloxi.com', 'b0b');
  const shaHa1 = computeHa1('SHA-256', 'bob', 'biloxi.com', 'b0b');
  const text = `\uFEFF# phones\n\nalice:s3cret:with:colons\r\n  bob:biloxi.com:${md5Ha1.toUpperCase()}  \nbob:biloxi.com:${shaHa1}\n   # indented comment\n`;
  const parsed = UsersFile.parse(text, 'users.txt');
  assert.ok(parsed.ok, parsed.ok ? '' : parsed.error);
  const users = parsed.value;
  assert.equal(users.size, 2);
  assert.equal(users.ha1('alice', 'atlanta.com', 'MD5'), computeHa1('MD5', 'alice', 'atlanta.com', 's3cret:with:colons'));
  assert.equal(users.ha1('alice', 'other.example', 'SHA-256'), computeHa1('SHA-256', 'alice', 'other.example', 's3cret:with:colons'), 'a password serves any realm');
  assert.equal(users.ha1('bob', 'biloxi.com', 'MD5'), md5Ha1);
  assert.equal(users.ha1('bob', 'biloxi.com', 'MD5-sess'), md5Ha1, '-sess starts from the same HA1');
  assert.equal(users.ha1('bob', 'biloxi.com', 'SHA-256'), shaHa1);
  assert.equal(users.ha1('bob', 'atlanta.com', 'MD5'), undefined, 'an HA1 is only good for its realm');
  assert.equal(users.ha1('carol', 'biloxi.com', 'MD5'), undefined);
  assert.equal(users.ha1('Alice', 'atlanta.com', 'MD5'), undefined, 'user names are case-sensitive');
});

test('users file: a bad line is an error naming the file and the line, never the password', () => {
  const cases: Array<[string, RegExp]> = [
    ['alice:pw\njustaname\n', /users\.txt line 2: expected user:password or user:realm:HA1/],
    ['# c\n\nalice:\n', /users\.txt line 3: expected/],
    [':hunter2\n', /users\.txt line 1: the user name is empty/],
    ['al ice:hunter2\n', /line 1: the user name .*spaces/],
    ['alice:hunter2\nbob:x\nalice:hunter3\n', /line 3: user alice is already listed on line 1/],
    [`alice:r:${'a'.repeat(32)}\nalice:hunter2\n`, /line 2: user alice is already listed on line 1/],
    [`alice:hunter2\nalice:r:${'a'.repeat(32)}\n`, /line 2: user alice is already listed on line 1/],
    [`alice:r:${'a'.repeat(32)}\nalice:r:${'b'.repeat(32)}\n`, /line 2: user alice is already listed on line 1/],
    ['alice:hun\u0001ter2\n', /line 1: the password contains control characters/],
  ];
  for (const [text, want] of cases) {
    const r = UsersFile.parse(text, 'users.txt');
    assert.equal(r.ok, false, text);
    if (!r.ok) {
      assert.match(r.error, want);
      assert.doesNotMatch(r.error, /hunter|hun/, 'no password in the message');
    }
  }
  assert.ok(UsersFile.parse(`alice:r1:${'a'.repeat(32)}\nalice:r2:${'b'.repeat(32)}\n`, 'u').ok, 'one user, two realms');
});

test('loadUsersFile: an unreadable or bad file is SBC_ERR_CONFIG_KEY naming security.auth.usersFile, the path and the line', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sbc-users-'));
  try {
    const bad = join(dir, 'users');
    writeFileSync(bad, 'alice:topsecret\nbroken line\n');
    await assert.rejects(loadUsersFile(bad), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'SBC_ERR_CONFIG_KEY');
      assert.match(err.message, /^security\.auth\.usersFile: /);
      assert.ok(err.message.includes(`${bad} line 2`), err.message);
      assert.doesNotMatch(err.message, /topsecret/);
      return true;
    });
    await assert.rejects(loadUsersFile(join(dir, 'missing')), /security\.auth\.usersFile: cannot read .*missing \(ENOENT\)/);
    writeFileSync(bad, 'alice:topsecret\n');
    assert.equal((await loadUsersFile(bad)).size, 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ── authenticator ───────────────────────────────────────────────────────

const USERS = UsersFile.parse(
  `alice:wonderland\nbob:biloxi.com:${computeHa1('MD5', 'bob', 'biloxi.com', 'b0b')}\n`,
  'users',
);
assert.ok(USERS.ok);

interface Bed {
  auth: DigestAuthenticator;
  clock: { now: number };
}

function bed(options: Partial<DigestAuthOptions> = {}): Bed {
  const clock = { now: 1_700_000_000_000 };
  const auth = new DigestAuthenticator({ users: USERS.ok ? USERS.value : (undefined as never), secret: 'flow-secret', logger: silentLogger(), now: () => clock.now, ...options });
  return { auth, clock };
}

const flow = new FakeFlow('f1', 'udp', { address: '192.0.2.10', port: 5062 });
const otherFlow = new FakeFlow('f2', 'udp', { address: '192.0.2.20', port: 5062 });

interface Req {
  method?: string;
  uri?: string;
  from?: string;
  to?: string;
  headers?: string[];
}

function sipRequest(r: Req = {}): SipRequest {
  const method = r.method ?? 'REGISTER';
  const text = [
    `${method} ${r.uri ?? 'sip:atlanta.com'} SIP/2.0`,
    'Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK776asdhds',
    'Max-Forwards: 70',
    `From: ${r.from ?? '<sip:alice@atlanta.com>'};tag=1928301774`,
    `To: ${r.to ?? '<sip:alice@atlanta.com>'}`,
    'Call-ID: a84b4c76e66710',
    `CSeq: 1 ${method}`,
    ...(r.headers ?? []),
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  const parsed = parseMessage(Buffer.from(text));
  assert.ok(parsed.ok && parsed.value.kind === 'request');
  return parsed.value as SipRequest;
}

function challengeOf(denial: AuthDenial | undefined): { header: string; realm: string; nonce: string; opaque?: string; stale?: boolean; algorithm: DigestAlgorithm; qop?: readonly string[] } {
  assert.ok(denial !== undefined, 'a challenge');
  const entries = Object.entries(denial.headers ?? {});
  assert.equal(entries.length, 1);
  const [header, value] = entries[0]!;
  const parsed = parseDigestChallenge(value);
  assert.ok(parsed.ok, value);
  return { header, ...parsed.value };
}

interface Answer {
  user?: string;
  password?: string;
  realm: string;
  nonce: string;
  opaque?: string;
  nc?: number;
  method?: string;
  uri?: string;
  algorithm?: 'MD5' | 'SHA-256';
}

/** Credentials as a UAC computes them (RFC 7616 §3.4). */
function credentials(a: Answer): string {
  const user = a.user ?? 'alice';
  const algorithm = a.algorithm ?? 'MD5';
  const uri = a.uri ?? 'sip:atlanta.com';
  const nc = (a.nc ?? 1).toString(16).padStart(8, '0');
  const cnonce = 'f00dcafe';
  const ha1 = computeHa1(algorithm, user, a.realm, a.password ?? 'wonderland');
  const response = computeResponse({ algorithm, ha1, method: a.method ?? 'REGISTER', uri, nonce: a.nonce, qop: 'auth', nc, cnonce });
  return `Digest username="${user}", realm="${a.realm}", nonce="${a.nonce}", uri="${uri}", response="${response}", algorithm=${algorithm}, qop=auth, nc=${nc}, cnonce="${cnonce}"${a.opaque !== undefined ? `, opaque="${a.opaque}"` : ''}`;
}

test('REGISTER without credentials: 401 with WWW-Authenticate, MD5 first, qop="auth", opaque, realm = Request-URI host', () => {
  const { auth } = bed();
  const denial = auth.check(sipRequest({ uri: 'sip:Atlanta.COM:5060' }), flow);
  assert.equal(denial?.status, 401);
  assert.equal(denial?.phrase, 'Unauthorized');
  const c = challengeOf(denial);
  assert.equal(c.header, 'WWW-Authenticate');
  assert.equal(c.realm, 'atlanta.com');
  assert.equal(c.algorithm, 'MD5');
  assert.deepEqual(c.qop, ['auth']);
  assert.ok((c.opaque ?? '').length > 0);
  assert.equal(c.stale, undefined);
  assert.match(denial!.headers!['WWW-Authenticate']!, /^Digest realm="atlanta\.com", nonce="[A-Za-z0-9_-]{43}", opaque="[^"]+", algorithm=MD5, qop="auth"$/);
});

test('other initial requests: 407 with Proxy-Authenticate, realm = From host; a configured realm wins', () => {
  const { auth } = bed();
  for (const method of ['INVITE', 'MESSAGE', 'SUBSCRIBE', 'REFER', 'OPTIONS']) {
    const denial = auth.check(sipRequest({ method, uri: 'sip:bob@biloxi.com', from: '<sip:alice@atlanta.com>', to: '<sip:bob@biloxi.com>' }), flow);
    assert.equal(denial?.status, 407, method);
    assert.equal(denial?.phrase, 'Proxy Authentication Required');
    const c = challengeOf(denial);
    assert.equal(c.header, 'Proxy-Authenticate');
    assert.equal(c.realm, 'atlanta.com');
  }
  const fixed = bed({ realm: 'sbc.example' }).auth;
  assert.equal(challengeOf(fixed.check(sipRequest(), flow)).realm, 'sbc.example');
  assert.equal(challengeOf(fixed.check(sipRequest({ method: 'INVITE', uri: 'sip:bob@biloxi.com' }), flow)).realm, 'sbc.example');
});

test('ACK and CANCEL are never challenged (RFC 3261 §22.1)', () => {
  const { auth } = bed();
  assert.equal(auth.check(sipRequest({ method: 'ACK', uri: 'sip:bob@biloxi.com' }), flow), undefined);
  assert.equal(auth.check(sipRequest({ method: 'CANCEL', uri: 'sip:bob@biloxi.com' }), flow), undefined);
});

test('each challenge carries a new nonce', () => {
  const { auth } = bed();
  const nonces = new Set(Array.from({ length: 50 }, () => challengeOf(auth.check(sipRequest(), flow)).nonce));
  assert.equal(nonces.size, 50);
});

test('the right answer passes; our Authorization is removed, another realm\'s stays', () => {
  const { auth } = bed();
  const c = challengeOf(auth.check(sipRequest(), flow));
  const other = 'Digest username="alice", realm="carrier.example", nonce="x", uri="sip:atlanta.com", response="00112233445566778899aabbccddeeff"';
  const req = sipRequest({ headers: [`Authorization: ${other}`, `Authorization: ${credentials({ realm: c.realm, nonce: c.nonce, opaque: c.opaque! })}`] });
  assert.equal(auth.check(req, flow), undefined);
  assert.deepEqual(req.headers.getAll('authorization'), [other]);

  const c2 = challengeOf(auth.check(sipRequest({ method: 'INVITE', uri: 'sip:bob@biloxi.com' }), flow));
  const invite = sipRequest({ method: 'INVITE', uri: 'sip:bob@biloxi.com', headers: [`Proxy-Authorization: ${credentials({ realm: c2.realm, nonce: c2.nonce, method: 'INVITE', uri: 'sip:bob@biloxi.com' })}`] });
  assert.equal(auth.check(invite, flow), undefined);
  assert.equal(invite.headers.has('proxy-authorization'), false);
});

test('an HA1 line authenticates in its realm; SHA-256 answers are accepted too', () => {
  const { auth } = bed();
  const c = challengeOf(auth.check(sipRequest({ uri: 'sip:biloxi.com', to: '<sip:bob@biloxi.com>' }), flow));
  const ok = sipRequest({ uri: 'sip:biloxi.com', to: '<sip:bob@biloxi.com>', headers: [`Authorization: ${credentials({ user: 'bob', password: 'b0b', uri: 'sip:biloxi.com', realm: c.realm, nonce: c.nonce })}`] });
  assert.equal(auth.check(ok, flow), undefined);

  const c2 = challengeOf(auth.check(sipRequest(), flow));
  const sha = sipRequest({ headers: [`Authorization: ${credentials({ realm: c2.realm, nonce: c2.nonce, algorithm: 'SHA-256' })}`] });
  assert.equal(auth.check(sha, flow), undefined);
});

test('a replayed nc is refused with stale=true; higher nc and late ones within the window pass', () => {
  const { auth } = bed();
  const { realm, nonce } = challengeOf(auth.check(sipRequest(), flow));
  const withNc = (nc: number): SipRequest => sipRequest({ headers: [`Authorization: ${credentials({ realm, nonce, nc })}`] });
  assert.equal(auth.check(withNc(1), flow), undefined);
  const replay = auth.check(withNc(1), flow);
  assert.equal(replay?.status, 401);
  assert.equal(challengeOf(replay).stale, true);
  assert.notEqual(challengeOf(replay).nonce, nonce, 'with a new nonce');
  assert.equal(auth.check(withNc(3), flow), undefined);
  assert.equal(auth.check(withNc(2), flow), undefined, 'late but unused');
  assert.equal(challengeOf(auth.check(withNc(2), flow)).stale, true);
  assert.equal(auth.check(withNc(40), flow), undefined);
  assert.equal(challengeOf(auth.check(withNc(4), flow)).stale, true, 'too far behind the highest to tell: refused');
});

test('an expired nonce with the right password: re-challenged with stale=true, and not counted as a failure', () => {
  const { auth, clock } = bed({ nonceMaxAgeSeconds: 300 });
  const { realm, nonce } = challengeOf(auth.check(sipRequest(), flow));
  clock.now += 299_000;
  assert.equal(auth.check(sipRequest({ headers: [`Authorization: ${credentials({ realm, nonce, nc: 1 })}`] }), flow), undefined);
  clock.now += 2_000;
  for (let i = 2; i < 7; i++) {
    const denial = auth.check(sipRequest({ headers: [`Authorization: ${credentials({ realm, nonce, nc: i })}`] }), flow);
    assert.equal(denial?.status, 401);
    assert.equal(challengeOf(denial).stale, true);
  }
  const expiredWrong = auth.check(sipRequest({ headers: [`Authorization: ${credentials({ realm, nonce, password: 'guess' })}`] }), flow);
  assert.equal(challengeOf(expiredWrong).stale, undefined, 'stale only vouches for a right password');
});

test('wrong password: re-challenged twice, the third failure from that IP + user is 403, then 403 even for the right one until the window ends', () => {
  const { auth, clock } = bed();
  const attempt = (password: string, from = flow): AuthDenial | undefined => {
    const { realm, nonce } = challengeOf(auth.check(sipRequest(), from));
    return auth.check(sipRequest({ headers: [`Authorization: ${credentials({ realm, nonce, password })}`] }), from);
  };
  assert.equal(attempt('guess1')?.status, 401);
  assert.equal(attempt('guess2')?.status, 401);
  const third = attempt('guess3');
  assert.equal(third?.status, 403);
  assert.equal(third?.headers, undefined, 'no challenge with the 403');
  assert.equal(attempt('wonderland')?.status, 403, 'blocked pair');
  assert.equal(attempt('wonderland', otherFlow), undefined, 'another source IP is not affected');
  clock.now += 301_000;
  assert.equal(attempt('wonderland'), undefined, 'the window ended');
});

test('a success resets the failure count; an unknown user fails like a wrong password', () => {
  const { auth } = bed();
  const attempt = (password: string, user = 'alice'): AuthDenial | undefined => {
    const to = `<sip:${user}@atlanta.com>`;
    const { realm, nonce } = challengeOf(auth.check(sipRequest({ to }), flow));
    return auth.check(sipRequest({ to, headers: [`Authorization: ${credentials({ user, realm, nonce, password })}`] }), flow);
  };
  assert.equal(attempt('x')?.status, 401);
  assert.equal(attempt('y')?.status, 401);
  assert.equal(attempt('wonderland'), undefined);
  assert.equal(attempt('z')?.status, 401, 'count started over');
  const unknown = attempt('whatever', 'mallory');
  assert.equal(unknown?.status, 401);
  assert.equal(challengeOf(unknown).stale, undefined);
  assert.equal(attempt('whatever', 'mallory')?.status, 401);
  assert.equal(attempt('whatever', 'mallory')?.status, 403);
});

test('a nonce that is not ours, or issued for another realm, gets a fresh challenge and is not counted', () => {
  const { auth } = bed();
  const foreign = new DigestNonces('another-secret').issue('atlanta.com', Date.now());
  const otherRealm = new DigestNonces('flow-secret').issue('biloxi.com', 1_700_000_000_000);
  for (const nonce of [foreign, otherRealm, 'short', 'A'.repeat(43), '!'.repeat(43), '']) {
    for (let i = 0; i < 4; i++) {
      const denial = auth.check(sipRequest({ headers: [`Authorization: ${credentials({ realm: 'atlanta.com', nonce })}`] }), flow);
      assert.equal(denial?.status, 401, nonce);
      assert.equal(challengeOf(denial).stale, undefined);
    }
  }
});

test('credentials for an algorithm or qop we did not offer get a fresh challenge', () => {
  const { auth } = bed();
  const { realm, nonce } = challengeOf(auth.check(sipRequest(), flow));
  const md5sess = credentials({ realm, nonce }).replace('algorithm=MD5', 'algorithm=MD5-sess');
  assert.equal(auth.check(sipRequest({ headers: [`Authorization: ${md5sess}`] }), flow)?.status, 401);
  const noQop = `Digest username="alice", realm="${realm}", nonce="${nonce}", uri="sip:atlanta.com", response="${'0'.repeat(32)}"`;
  assert.equal(auth.check(sipRequest({ headers: [`Authorization: ${noQop}`] }), flow)?.status, 401);
});

test('malformed credentials are a 400 naming the problem; a digest uri other than the Request-URI is a 400', () => {
  const { auth } = bed();
  for (const bad of ['Digest', 'Digest username="alice", realm="atlanta.com', 'Digest username="a", username="b"', 'Digest \u0000\u0001']) {
    const denial = auth.check(sipRequest({ headers: [`Authorization: ${bad}`] }), flow);
    assert.equal(denial?.status, 400, bad);
    assert.match(denial!.phrase, /^Malformed Authorization: /);
  }
  const badProxy = auth.check(sipRequest({ method: 'INVITE', uri: 'sip:bob@biloxi.com', headers: ['Proxy-Authorization: Digest nonce='] }), flow);
  assert.equal(badProxy?.status, 400);
  assert.match(badProxy!.phrase, /^Malformed Proxy-Authorization: /);
  assert.equal(auth.check(sipRequest({ headers: ['Authorization: Bearer eyJhbGciOi'] }), flow)?.status, 401, 'another scheme is not ours: challenged');

  const { realm, nonce } = challengeOf(auth.check(sipRequest(), flow));
  const elsewhere = auth.check(sipRequest({ headers: [`Authorization: ${credentials({ realm, nonce, uri: 'sip:biloxi.com' })}`] }), flow);
  assert.equal(elsewhere?.status, 400);
  assert.match(elsewhere!.phrase, /uri/);
});

test('REGISTER for someone else\'s AOR is 403; a request whose From user is not the authenticated user is 403', () => {
  const { auth } = bed();
  const { realm, nonce } = challengeOf(auth.check(sipRequest({ to: '<sip:bob@atlanta.com>' }), flow));
  const hijack = auth.check(sipRequest({ to: '<sip:bob@atlanta.com>', headers: [`Authorization: ${credentials({ realm, nonce })}`] }), flow);
  assert.equal(hijack?.status, 403);
  assert.equal(hijack?.phrase, 'Forbidden');

  const inv = { method: 'INVITE', uri: 'sip:carol@biloxi.com', from: '<sip:bob@atlanta.com>' };
  const c = challengeOf(auth.check(sipRequest(inv), flow));
  const spoof = auth.check(sipRequest({ ...inv, headers: [`Proxy-Authorization: ${credentials({ realm: c.realm, nonce: c.nonce, method: 'INVITE', uri: inv.uri })}`] }), flow);
  assert.equal(spoof?.status, 403);
});

test('bounded nc memory: a nonce whose record was evicted cannot be replayed (stale=true instead)', () => {
  const { auth } = bed({ maxTrackedNonces: 2 });
  const issued = Array.from({ length: 3 }, () => challengeOf(auth.check(sipRequest(), flow)));
  const use = (i: number, nc: number): AuthDenial | undefined => auth.check(sipRequest({ headers: [`Authorization: ${credentials({ realm: issued[i]!.realm, nonce: issued[i]!.nonce, nc })}`] }), flow);
  assert.equal(use(0, 1), undefined);
  assert.equal(use(1, 1), undefined);
  assert.equal(use(2, 1), undefined, 'the first record makes room');
  const replay = use(0, 1);
  assert.equal(replay?.status, 401);
  assert.equal(challengeOf(replay).stale, true);
  assert.equal(use(2, 2), undefined, 'kept records still work');
});

test('bounded failure memory: at the cap the oldest pair is forgotten', () => {
  const { auth } = bed({ maxTrackedFailures: 2 });
  const fail = (address: string): number | undefined => {
    const from = new FakeFlow(address, 'udp', { address, port: 5060 });
    const { realm, nonce } = challengeOf(auth.check(sipRequest(), from));
    return auth.check(sipRequest({ headers: [`Authorization: ${credentials({ realm, nonce, password: 'no' })}`] }), from)?.status;
  };
  assert.equal(fail('192.0.2.1'), 401);
  assert.equal(fail('192.0.2.1'), 401);
  assert.equal(fail('192.0.2.2'), 401);
  assert.equal(fail('192.0.2.3'), 401);
  assert.equal(fail('192.0.2.1'), 401, 'its two failures were forgotten to make room');
});

test('workers: a nonce answered at the worker that issued it passes; at another worker sharing the secret, a right password gets stale=true, a wrong one counts as wrong', () => {
  const clock = { now: 1_700_000_000_000 };
  const worker = (issuer: number): DigestAuthenticator => new DigestAuthenticator({ users: USERS.ok ? USERS.value : (undefined as never), secret: 'flow-secret', logger: silentLogger(), now: () => clock.now, issuer });
  const one = worker(1);
  const two = worker(2);
  const c = challengeOf(one.check(sipRequest(), flow));
  const answer = (password?: string): SipRequest => sipRequest({ headers: [`Authorization: ${credentials({ realm: c.realm, nonce: c.nonce, ...(c.opaque !== undefined ? { opaque: c.opaque } : {}), ...(password !== undefined ? { password } : {}) })}`] });
  const elsewhere = two.check(answer(), flow);
  assert.equal(elsewhere?.status, 401);
  assert.equal(challengeOf(elsewhere).stale, true, 'the client retries with worker 2\'s nonce, no password prompt');
  assert.equal(challengeOf(two.check(answer('wrong'), flow)).stale, undefined);
  assert.equal(one.check(answer(), flow), undefined, 'the issuing worker accepts it');
  assert.equal(challengeOf(one.check(answer(), flow)).stale, true, 'and refuses its replay');
  assert.throws(() => new DigestNonces('flow-secret', 256), RangeError);
});
