/**
 * Digest authentication against real peers: sipsak registering with a
 * password through the SBC (security.auth.mode local) to a scripted
 * registrar; a scripted client walking challenge, answer, replay, stale
 * nonce, INVITE and someone else's AOR; a bad users file stopping start-up;
 * and mode backend passing the registrar's own challenge through untouched.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { configSchema } from '../../../src/config/schema.js';
import { DigestNonces } from '../../../src/security/digest-auth.js';
import { computeHa1, computeResponse, parseDigestChallenge, type DigestChallenge } from '../../../src/sip/digest.js';
import { freePortInRange } from '../../helpers/free-port.js';
import { sbcCommand } from '../../helpers/paths.js';
import { startSbc, startSbcInProcess, type TestSbc } from '../../helpers/sbc.js';
import { rand, request, response, SipPeer, type Received } from '../../helpers/sip-peer.js';

const FLOW_SECRET = 'auth-test-flow-secret';
const REALM = 'atlanta.example';

const dir = mkdtempSync(join(tmpdir(), 'sbc-auth-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function backendsOf(registrar: SipPeer): Record<string, unknown> {
  return {
    backends: { default: { algorithm: 'round-robin', probe: { method: 'OPTIONS', intervalSeconds: 5, failuresToDown: 3, successesToUp: 1 }, targets: [{ uri: `sip:127.0.0.1:${registrar.address.port};transport=udp`, weight: 1, priority: 0 }] } },
    registrar: { backend: 'default', pathMode: true },
  };
}

const isRequest = (method: string, aor?: string) => (r: Received): boolean =>
  r.msg.kind === 'request' && r.msg.method === method && (aor === undefined || (r.msg.headers.get('to') ?? '').includes(aor));

function challengeIn(r: Received, header: 'www-authenticate' | 'proxy-authenticate'): DigestChallenge {
  const values = r.msg.headers.getAll(header);
  assert.equal(values.length, 1, `one ${header}`);
  const parsed = parseDigestChallenge(values[0]!);
  assert.ok(parsed.ok, values[0]);
  return parsed.value;
}

/** Credentials as a phone computes them from a challenge (RFC 7616 §3.4, qop=auth). */
function answer(c: DigestChallenge, a: { user: string; password: string; method: string; uri: string; nc?: number }): string {
  const nc = (a.nc ?? 1).toString(16).padStart(8, '0');
  const cnonce = rand(4);
  const ha1 = computeHa1('MD5', a.user, c.realm, a.password);
  const resp = computeResponse({ algorithm: 'MD5', ha1, method: a.method, uri: a.uri, nonce: c.nonce, qop: 'auth', nc, cnonce });
  return `Digest username="${a.user}", realm="${c.realm}", nonce="${c.nonce}", uri="${a.uri}", response="${resp}", algorithm=MD5, cnonce="${cnonce}", qop=auth, nc=${nc}${c.opaque !== undefined ? `, opaque="${c.opaque}"` : ''}`;
}

function sipsak(args: string[]): Promise<{ code: number | null; out: string; err?: Error }> {
  // Asynchronous on purpose: the SBC runs in this process and must keep answering.
  return new Promise((resolve) => {
    execFile('sipsak', args, { encoding: 'utf8', timeout: 15_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, out: stdout + stderr, ...(err !== null && typeof err.code !== 'number' ? { err } : {}) });
    });
  });
}

const settle = (ms = 300): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('digest authentication (security.auth.mode local)', () => {
  let registrar: SipPeer;
  let sbc: TestSbc;
  let sbcUdp: { address: string; port: number };
  let sbcPort: number;

  before(async () => {
    registrar = await SipPeer.udp();
    registrar.onMessage = (r, p) => {
      if (r.msg.kind !== 'request') return;
      if (r.msg.method === 'REGISTER') p.send(response(r.msg, 200, 'OK', { toTag: 'reg', headers: [`Contact: ${r.msg.headers.get('contact') ?? '*'};expires=60`] }), r.from);
      else if (r.msg.method === 'OPTIONS') p.send(response(r.msg, 200, 'OK', { toTag: 'o' }), r.from);
      else if (r.msg.method === 'INVITE') p.send(response(r.msg, 486, 'Busy Here', { toTag: 'busy' }), r.from);
    };
    const usersFile = join(dir, 'users');
    writeFileSync(usersFile, [
      '# test phones',
      'sipsakuser:sipsak-pass',
      'wronguser:right-pass',
      'alice:wonderland',
      `bob:${REALM}:${computeHa1('MD5', 'bob', REALM, 'b0b-pass')}`,
      'erin:erin-pass',
      '',
    ].join('\n'));
    // sipsak mangles five-digit ports (PEERS.md): a four-digit one for the SBC.
    sbcPort = await freePortInRange();
    sbc = await startSbc({
      listen: [{ transport: 'udp', address: '127.0.0.1', port: sbcPort }],
      ...backendsOf(registrar),
      flowTokens: { secret: FLOW_SECRET },
      timers: { t1Ms: 50 },
      security: { blockedUserAgents: [], rateLimit: { requestsPerSecondPerIp: 0 }, auth: { mode: 'local', usersFile } },
    });
    sbcUdp = { address: '127.0.0.1', port: sbcPort };
  });
  after(async () => {
    registrar.close();
    await sbc?.stop();
  });

  test('sipsak registers with the right password: one REGISTER reaches the registrar, without our Authorization', async () => {
    const r = await sipsak(['-U', '-s', `sip:sipsakuser@127.0.0.1:${sbcPort}`, '-u', 'sipsakuser', '-a', 'sipsak-pass', '-x', '60', '-H', '127.0.0.1', '-vv']);
    assert.equal(r.err, undefined, `sipsak must be installed (apt-get install sipsak): ${String(r.err)}`);
    assert.equal(r.code, 0, r.out);
    await settle();
    const seen = registrar.received.filter(isRequest('REGISTER', 'sipsakuser'));
    assert.equal(seen.length, 1, 'exactly one REGISTER relayed');
    assert.equal(seen[0]!.msg.headers.has('authorization'), false, 'our realm\'s credentials consumed');
    assert.match(seen[0]!.msg.headers.get('path') ?? '', /^<sip:/, 'and relayed as any REGISTER is (Path added)');
  });

  test('sipsak with a wrong password fails and the registrar receives nothing', async () => {
    const r = await sipsak(['-U', '-s', `sip:wronguser@127.0.0.1:${sbcPort}`, '-u', 'wronguser', '-a', 'not-the-password', '-x', '60', '-H', '127.0.0.1', '-vv']);
    assert.equal(r.err, undefined, String(r.err));
    assert.notEqual(r.code, 0, r.out);
    assert.match(r.out, /401|403/);
    await settle();
    assert.equal(registrar.count(isRequest('REGISTER', 'wronguser')), 0);
  });

  test('scripted phone: 401 with MD5, qop and opaque; the right answer is relayed without it (another realm\'s kept); a replayed nc is refused with stale=true', async () => {
    const phone = await SipPeer.udp();
    try {
      const aor = `sip:alice@${REALM}`;
      const callId = rand(8);
      const register = (cseq: number, headers: string[] = []): string => request({
        method: 'REGISTER', uri: `sip:${REALM}`, sentBy: `127.0.0.1:${phone.address.port}`, from: `<${aor}>`, to: `<${aor}>`, callId, cseq,
        contact: `<sip:alice@127.0.0.1:${phone.address.port}>`, headers: ['Expires: 60', ...headers],
      });
      phone.send(register(1), sbcUdp);
      const first = await phone.nextResponse(401, 'REGISTER');
      const c = challengeIn(first, 'www-authenticate');
      assert.equal(c.realm, REALM, 'realm = the Request-URI host');
      assert.equal(c.algorithm, 'MD5');
      assert.deepEqual(c.qop, ['auth']);
      assert.ok((c.opaque ?? '').length > 0, 'opaque');
      assert.match(first.raw, /\r\nWWW-Authenticate: Digest realm="atlanta\.example", nonce="[^"]+", opaque="[^"]+", algorithm=MD5, qop="auth"\r\n/);
      assert.equal(registrar.count(isRequest('REGISTER', aor)), 0, 'nothing relayed before authentication');

      const creds = answer(c, { user: 'alice', password: 'wonderland', method: 'REGISTER', uri: `sip:${REALM}` });
      const carrier = 'Digest username="alice", realm="carrier.example", nonce="abc", uri="sip:atlanta.example", response="0123456789abcdef0123456789abcdef"';
      phone.send(register(2, [`Authorization: ${creds}`, `Authorization: ${carrier}`]), sbcUdp);
      const relayed = await registrar.next(isRequest('REGISTER', aor));
      assert.deepEqual(relayed.msg.headers.getAll('authorization'), [carrier], 'ours consumed, the other realm\'s intact');
      await phone.nextResponse(200, 'REGISTER');

      // The same credentials again (same nonce, same nc) in a new transaction: a replay.
      phone.send(register(3, [`Authorization: ${creds}`]), sbcUdp);
      const replay = await phone.nextResponse(401, 'REGISTER');
      const again = challengeIn(replay, 'www-authenticate');
      assert.equal(again.stale, true);
      assert.notEqual(again.nonce, c.nonce);
      // A proper next request on the same nonce (nc 2) is fine.
      phone.send(register(4, [`Authorization: ${answer(c, { user: 'alice', password: 'wonderland', method: 'REGISTER', uri: `sip:${REALM}`, nc: 2 })}`]), sbcUdp);
      await phone.next((r) => r.msg.kind === 'response' && r.msg.status === 200 && r.msg.cseq()?.seq === 4);
      await settle();
      assert.equal(registrar.count(isRequest('REGISTER', aor)), 2, 'the replay never reached the registrar');
    } finally {
      phone.close();
    }
  });

  test('an expired nonce with the right password: 401 with stale=true and a new nonce, nothing relayed', async () => {
    const phone = await SipPeer.udp();
    try {
      const aor = `sip:bob@${REALM}`;
      // A nonce this SBC issued 301 s ago (same flow-token secret, same realm).
      const old: DigestChallenge = { realm: REALM, nonce: new DigestNonces(FLOW_SECRET).issue(REALM, Date.now() - 301_000), algorithm: 'MD5' };
      phone.send(request({
        method: 'REGISTER', uri: `sip:${REALM}`, sentBy: `127.0.0.1:${phone.address.port}`, from: `<${aor}>`, to: `<${aor}>`,
        contact: `<sip:bob@127.0.0.1:${phone.address.port}>`, headers: [`Authorization: ${answer(old, { user: 'bob', password: 'b0b-pass', method: 'REGISTER', uri: `sip:${REALM}` })}`],
      }), sbcUdp);
      const res = await phone.nextResponse(401, 'REGISTER');
      const c = challengeIn(res, 'www-authenticate');
      assert.equal(c.stale, true);
      assert.notEqual(c.nonce, old.nonce);
      await settle();
      assert.equal(registrar.count(isRequest('REGISTER', aor)), 0);
    } finally {
      phone.close();
    }
  });

  test('INVITE from outside: 407 with Proxy-Authenticate (realm = From host); answered, it reaches the backend without Proxy-Authorization', async () => {
    const phone = await SipPeer.udp();
    try {
      const callId = rand(8);
      const uri = 'sip:bob@biloxi.example';
      const sentBy = `127.0.0.1:${phone.address.port}`;
      const invite = (cseq: number, branch: string, headers: string[] = []): string => request({
        method: 'INVITE', uri, sentBy, branch, from: `<sip:alice@${REALM}>`, fromTag: 'al1', to: `<${uri}>`, callId, cseq,
        contact: `<sip:alice@${sentBy}>`, headers,
      });
      const ack = (cseq: number, branch: string, toTag: string): string => request({ method: 'ACK', uri, sentBy, branch, from: `<sip:alice@${REALM}>`, fromTag: 'al1', to: `<${uri}>`, toTag, callId, cseq });

      const b1 = `z9hG4bK${rand()}`;
      phone.send(invite(1, b1), sbcUdp);
      const challenged = await phone.nextResponse(407, 'INVITE');
      const c = challengeIn(challenged, 'proxy-authenticate');
      assert.equal(c.realm, REALM);
      assert.equal(c.algorithm, 'MD5');
      phone.send(ack(1, b1, challenged.msg.to()!.params.get('tag')!), sbcUdp);

      const b2 = `z9hG4bK${rand()}`;
      phone.send(invite(2, b2, [`Proxy-Authorization: ${answer(c, { user: 'alice', password: 'wonderland', method: 'INVITE', uri })}`]), sbcUdp);
      const reached = await registrar.next((r) => isRequest('INVITE')(r) && r.msg.callId === callId);
      assert.equal(reached.msg.headers.has('proxy-authorization'), false);
      const busy = await phone.nextResponse(486, 'INVITE');
      phone.send(ack(2, b2, busy.msg.to()!.params.get('tag')!), sbcUdp);
      assert.equal(registrar.count((r) => isRequest('INVITE')(r) && r.msg.callId === callId), 1, 'only the authenticated INVITE went on');
    } finally {
      phone.close();
    }
  });

  test('a user registering someone else\'s AOR gets 403 and nothing reaches the registrar', async () => {
    const phone = await SipPeer.udp();
    try {
      const victim = `sip:bob@${REALM}`;
      const reg = (cseq: number, headers: string[] = []): string => request({
        method: 'REGISTER', uri: `sip:${REALM}`, sentBy: `127.0.0.1:${phone.address.port}`, from: `<sip:alice@${REALM}>`, to: `<${victim}>`,
        callId: 'hijack', cseq, contact: `<sip:mallory@127.0.0.1:${phone.address.port}>`, headers,
      });
      phone.send(reg(1), sbcUdp);
      const c = challengeIn(await phone.nextResponse(401, 'REGISTER'), 'www-authenticate');
      phone.send(reg(2, [`Authorization: ${answer(c, { user: 'alice', password: 'wonderland', method: 'REGISTER', uri: `sip:${REALM}` })}`]), sbcUdp);
      const res = await phone.next((r) => r.msg.kind === 'response' && r.msg.cseq()?.seq === 2);
      assert.equal(res.msg.kind === 'response' && res.msg.status, 403);
      await settle();
      assert.equal(registrar.count(isRequest('REGISTER', victim)), 0);
    } finally {
      phone.close();
    }
  });

  test('wrong passwords: 401, 401, then 403 for that source and user, also for the right password afterwards', async () => {
    const phone = await SipPeer.udp();
    try {
      const aor = `sip:erin@${REALM}`;
      let cseq = 0;
      const attempt = async (password: string): Promise<number> => {
        const send = (headers: string[] = []): void => phone.send(request({
          method: 'REGISTER', uri: `sip:${REALM}`, sentBy: `127.0.0.1:${phone.address.port}`, from: `<${aor}>`, to: `<${aor}>`, callId: 'erin', cseq: ++cseq,
          contact: `<sip:erin@127.0.0.1:${phone.address.port}>`, headers,
        }), sbcUdp);
        send();
        const c = challengeIn(await phone.nextResponse(401, 'REGISTER'), 'www-authenticate');
        send([`Authorization: ${answer(c, { user: 'erin', password, method: 'REGISTER', uri: `sip:${REALM}` })}`]);
        const seq = cseq;
        const res = await phone.next((r) => r.msg.kind === 'response' && r.msg.cseq()?.seq === seq);
        return res.msg.kind === 'response' ? res.msg.status : 0;
      };
      assert.deepEqual([await attempt('one'), await attempt('two'), await attempt('three'), await attempt('erin-pass')], [401, 401, 403, 403]);
      await settle();
      assert.equal(registrar.count(isRequest('REGISTER', aor)), 0);
    } finally {
      phone.close();
    }
  });
});

describe('users file reload', () => {
  test('POST /api/reload re-reads the users file: a user added to it can register without a restart; a broken file keeps the users in force', async (t) => {
    const registrar = await SipPeer.udp();
    t.after(() => registrar.close());
    registrar.onMessage = (r, p) => {
      if (r.msg.kind === 'request' && r.msg.method === 'REGISTER') p.send(response(r.msg, 200, 'OK', { toTag: 'reg', headers: [`Contact: ${r.msg.headers.get('contact') ?? '*'};expires=60`] }), r.from);
    };
    const usersFile = join(dir, 'reload-users');
    writeFileSync(usersFile, 'alice:wonderland\n');
    const input = { ...backendsOf(registrar), timers: { t1Ms: 50 }, security: { auth: { mode: 'local', usersFile } } };
    const sbc = await startSbcInProcess(input, { reloadConfig: async () => ({ ok: true as const, value: { config: configSchema.parse({ ...input, listen: [{ transport: 'udp', address: '127.0.0.1', port: 0 }] }) } }) });
    t.after(() => sbc.stop());
    const to = { address: '127.0.0.1', port: sbc.listener('udp').boundPort };
    const phone = await SipPeer.udp();
    t.after(() => phone.close());
    const aor = `sip:carol@${REALM}`;
    const callId = rand(8);
    const register = (cseq: number, headers: string[] = []): string => request({
      method: 'REGISTER', uri: `sip:${REALM}`, sentBy: `127.0.0.1:${phone.address.port}`, from: `<${aor}>`, to: `<${aor}>`, callId, cseq,
      contact: `<sip:carol@127.0.0.1:${phone.address.port}>`, headers: ['Expires: 60', ...headers],
    });
    const attempt = async (cseq: number): Promise<number> => {
      phone.send(register(cseq), to);
      const c = challengeIn(await phone.nextResponse(401, 'REGISTER'), 'www-authenticate');
      phone.send(register(cseq + 1, [`Authorization: ${answer(c, { user: 'carol', password: 'c4rol', method: 'REGISTER', uri: `sip:${REALM}` })}`]), to);
      const final = await phone.next((r) => r.msg.kind === 'response' && r.msg.cseq()?.seq === cseq + 1 && r.msg.status >= 200);
      return final.msg.kind === 'response' ? final.msg.status : 0;
    };
    const reload = async (): Promise<{ status: number; body: { applied?: string[]; error?: string } }> => {
      const res = await fetch(`${sbc.adminUrl}/api/reload`, { method: 'POST' });
      return { status: res.status, body: (await res.json()) as { applied?: string[]; error?: string } };
    };

    assert.equal(await attempt(1), 401, 'carol is not a user yet');
    writeFileSync(usersFile, 'alice:wonderland\ncarol:c4rol\n');
    const ok = await reload();
    assert.equal(ok.status, 200);
    assert.ok(ok.body.applied?.includes('security.auth.usersFile'), JSON.stringify(ok.body));
    assert.equal(await attempt(3), 200, 'carol registers after the reload');
    assert.equal(registrar.count(isRequest('REGISTER', aor)), 1);

    writeFileSync(usersFile, 'alice:wonderland\ncarol c4rol\n');
    const bad = await reload();
    assert.equal(bad.status, 400);
    assert.match(bad.body.error ?? '', /line 2/);
    assert.equal(await attempt(5), 200, 'the users in force are kept when the new file is broken');
  });
});

describe('users file errors', () => {
  test('a bad line stops start-up naming the file and the line; the CLI exits 2 with that message on stderr', async () => {
    const usersFile = join(dir, 'bad-users');
    writeFileSync(usersFile, '# phones\nalice:wonderland\nbob wonderland\n');
    await assert.rejects(
      startSbc({ security: { auth: { mode: 'local', usersFile } } }),
      (err: Error) => {
        assert.ok(err.message.includes(`${usersFile} line 3`), err.message);
        assert.doesNotMatch(err.message, /wonderland/);
        return true;
      },
    );

    const config = join(dir, 'bad-users.yaml');
    writeFileSync(config, [
      'listen:',
      '  - { transport: udp, address: 127.0.0.1, port: 0 }',
      'admin: { listen: "127.0.0.1:0" }',
      'web: { enabled: false }',
      `security: { auth: { mode: local, usersFile: ${usersFile} } }`,
      '',
    ].join('\n'));
    const { command, args } = sbcCommand();
    const run = await new Promise<{ code: number | null; out: string; stderr: string }>((resolve) => {
      const child = spawn(command, [...args, '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
      child.stderr.on('data', (d: Buffer) => { out += d.toString(); stderr += d.toString(); });
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      child.on('close', (code) => { clearTimeout(timer); resolve({ code, out, stderr }); });
    });
    assert.equal(run.code, 2, `a configuration error exits 2 (CONTRACT.md)\n${run.out}`);
    assert.ok(run.stderr.includes(`${usersFile} line 3`), `stderr names the file and line\n${run.out}`);
    assert.match(run.out, /SBC_ERR_CONFIG_KEY|security\.auth\.usersFile/);
    assert.doesNotMatch(run.out, /wonderland/, 'no password in the output');
  });
});

describe('security.auth.mode backend: the backend\'s challenge passes through', () => {
  test('a 401 from the registrar reaches the phone with WWW-Authenticate intact; the retried REGISTER reaches the registrar with Authorization intact', async (t) => {
    const registrar = await SipPeer.udp();
    t.after(() => registrar.close());
    const challenge = 'Digest realm="registrar.example", nonce="b4ckend-n0nce", opaque="xyz", algorithm=MD5, qop="auth"';
    registrar.onMessage = (r, p) => {
      if (r.msg.kind !== 'request') return;
      if (r.msg.method === 'OPTIONS') p.send(response(r.msg, 200, 'OK', { toTag: 'o' }), r.from);
      else if (r.msg.method === 'REGISTER' && !r.msg.headers.has('authorization')) p.send(response(r.msg, 401, 'Unauthorized', { toTag: 'ch', headers: [`WWW-Authenticate: ${challenge}`] }), r.from);
      else if (r.msg.method === 'REGISTER') p.send(response(r.msg, 200, 'OK', { toTag: 'ok', headers: [`Contact: ${r.msg.headers.get('contact') ?? '*'};expires=60`] }), r.from);
    };
    const sbc = await startSbc({ ...backendsOf(registrar), timers: { t1Ms: 50 }, security: { auth: { mode: 'backend' } } });
    t.after(() => sbc.stop());
    const phone = await SipPeer.udp();
    t.after(() => phone.close());
    const sbcUdp = { address: '127.0.0.1', port: sbc.listener('udp').boundPort };
    const aor = 'sip:frank@registrar.example';
    const reg = (cseq: number, headers: string[] = []): string => request({
      method: 'REGISTER', uri: 'sip:registrar.example', sentBy: `127.0.0.1:${phone.address.port}`, from: `<${aor}>`, to: `<${aor}>`, callId: 'backend-auth', cseq,
      contact: `<sip:frank@127.0.0.1:${phone.address.port}>`, headers,
    });

    phone.send(reg(1), sbcUdp);
    const res = await phone.nextResponse(401, 'REGISTER');
    assert.deepEqual(res.msg.headers.getAll('www-authenticate'), [challenge]);
    const c = parseDigestChallenge(challenge);
    assert.ok(c.ok);
    const creds = answer(c.value, { user: 'frank', password: 'pw', method: 'REGISTER', uri: 'sip:registrar.example' });
    phone.send(reg(2, [`Authorization: ${creds}`]), sbcUdp);
    const retried = await registrar.next((r) => isRequest('REGISTER', aor)(r) && r.msg.headers.has('authorization'));
    assert.deepEqual(retried.msg.headers.getAll('authorization'), [creds]);
    await phone.nextResponse(200, 'REGISTER');
    assert.equal(registrar.count(isRequest('REGISTER', aor)), 2);
  });
});
