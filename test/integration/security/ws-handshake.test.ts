/**
 * security.websocket against a real gateway and real WebSocket handshakes
 * (the ws client, over WS and WSS): an Origin not on the list gets HTTP 403
 * and no SIP; a handshake without a valid JWT (missing, expired, wrong
 * signature, wrong audience) gets 401; a valid one (HS256, RS256, ES256; in
 * the query or as Authorization: Bearer) opens a flow bound to its user,
 * whose REGISTER reaches the registrar with no digest challenge even though
 * security.auth.mode is local, and whose REGISTER or INVITE for another user
 * gets 403. Refusals are counted by reason; a reload changes the list live;
 * the token never reaches a log line.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { configSchema, type Config } from '../../../src/config/schema.js';
import { createLogger } from '../../../src/log/logger.js';
import { ok } from '../../../src/sip/result.js';
import { ecKey, hmacKey, mintToken, rsaKey, type SigningKey } from '../../helpers/handshake-token.js';
import { startSbc, startSbcInProcess, type TestSbc } from '../../helpers/sbc.js';
import { rand, request, response, SipPeer, type Received } from '../../helpers/sip-peer.js';

const dir = mkdtempSync(join(tmpdir(), 'sbc-ws-edge-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const APP = 'https://app.example.com';
const AUDIENCE = 'webrtc-sbc';

/** What a handshake came to: the HTTP status of a refusal (with its WWW-Authenticate), or open. */
type Handshake = { status: number; wwwAuthenticate?: string | undefined } | { status: 'open'; ws: WebSocket };

function handshake(url: string, options: { origin?: string; headers?: Record<string, string> } = {}): Promise<Handshake> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, ['sip'], { rejectUnauthorized: false, ...(options.origin !== undefined ? { origin: options.origin } : {}), headers: options.headers ?? {} });
    ws.once('open', () => resolve({ status: 'open', ws }));
    ws.once('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode ?? 0, wwwAuthenticate: res.headers['www-authenticate'] });
      res.resume();
      ws.terminate();
    });
    ws.once('error', reject);
  });
}

function backendsOf(registrar: SipPeer): Record<string, unknown> {
  return {
    backends: { default: { algorithm: 'round-robin', probe: { method: 'OPTIONS', intervalSeconds: 5, failuresToDown: 3, successesToUp: 1 }, targets: [{ uri: `sip:127.0.0.1:${registrar.address.port};transport=udp`, weight: 1, priority: 0 }] } },
    registrar: { backend: 'default', pathMode: true },
  };
}

const isRequest = (method: string, aor?: string) => (r: Received): boolean =>
  r.msg.kind === 'request' && r.msg.method === method && (aor === undefined || (r.msg.headers.get('to') ?? '').includes(aor));

async function rejected(sbc: TestSbc): Promise<Record<string, number>> {
  const text = await (await fetch(`${sbc.adminUrl}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^sbc_ws_handshakes_rejected_total\{reason="([^"]+)"\} (\d+)$/gm)) out[m[1]!] = Number(m[2]);
  return out;
}

function register(aor: string, cseq = 1): string {
  return request({ method: 'REGISTER', uri: 'sip:example.com', sentBy: 'abc.invalid', viaTransport: 'WSS', from: `<${aor}>`, to: `<${aor}>`, cseq, contact: '<sip:x@abc.invalid;transport=ws>', headers: ['Expires: 60'] });
}

describe('WebSocket handshake checks (security.websocket) on a real gateway', () => {
  let registrar: SipPeer;
  let sbc: TestSbc;
  let config: Config;
  const hs = hmacKey();
  let reloadWith: Record<string, unknown> | undefined;

  const input = (websocket: Record<string, unknown>): Record<string, unknown> => ({
    listen: [
      { transport: 'udp', address: '127.0.0.1', port: 0 },
      { transport: 'ws', address: '127.0.0.1', port: 0 },
      { transport: 'wss', address: '127.0.0.1', port: 0 },
    ],
    tls: { cert: join(dir, 'server.crt'), key: join(dir, 'server.key') },
    ...backendsOf(registrar),
    timers: { t1Ms: 50 },
    security: {
      // Digest would challenge every request: token-bound flows must not see it.
      auth: { mode: 'local', usersFile: join(dir, 'users') },
      websocket,
    },
  });

  before(async () => {
    registrar = await SipPeer.udp();
    registrar.onMessage = (r, p) => {
      if (r.msg.kind !== 'request') return;
      if (r.msg.method === 'REGISTER') p.send(response(r.msg, 200, 'OK', { toTag: 'reg', headers: [`Contact: ${r.msg.headers.get('contact') ?? '*'};expires=60`] }), r.from);
      else if (r.msg.method === 'OPTIONS') p.send(response(r.msg, 200, 'OK', { toTag: 'o' }), r.from);
      else if (r.msg.method === 'INVITE') p.send(response(r.msg, 486, 'Busy Here', { toTag: 'busy' }), r.from);
    };
    writeFileSync(join(dir, 'users'), 'alice:alice-password\nbob:bob-password\n');
    const websocket = { allowedOrigins: [APP, 'https://*.tenant.example'], token: { ...hs.config, audience: AUDIENCE } };
    sbc = await startSbcInProcess(input(websocket), {
      reloadConfig: async () => ok({ config: configSchema.parse({ ...config, security: { ...config.security, websocket: reloadWith ?? config.security.websocket } }) }),
    });
    config = sbc.config;
  });
  after(async () => {
    registrar.close();
    await sbc?.stop();
  });

  const url = (transport: 'ws' | 'wss', query = ''): string => `${transport}://127.0.0.1:${sbc.listener(transport).boundPort}/${query}`;

  for (const transport of ['ws', 'wss'] as const) {
    test(`${transport}: an Origin not on the list gets 403 even with a valid token; a listed or wildcard-matched one opens`, async () => {
      const token = await mintToken(hs, { sub: 'alice', aud: AUDIENCE });
      const before = (await rejected(sbc))['origin-not-allowed'] ?? 0;
      assert.deepEqual(await handshake(url(transport, `?token=${token}`), { origin: 'https://evil.example.net' }), { status: 403, wwwAuthenticate: undefined });
      assert.deepEqual(await handshake(url(transport, `?token=${token}`), { origin: 'https://app.example.com.evil.net' }), { status: 403, wwwAuthenticate: undefined });
      assert.equal((await rejected(sbc))['origin-not-allowed'], before + 2, 'counted by reason');
      for (const origin of [APP, 'https://a.tenant.example', undefined]) {
        const h = await handshake(url(transport, `?token=${token}`), origin !== undefined ? { origin } : {});
        assert.equal(h.status, 'open', `origin ${origin ?? '(none: a native client)'}`);
        if (h.status === 'open') h.ws.terminate();
      }
    });

    test(`${transport}: no token, an expired one, a wrongly signed one and one for another audience get 401`, async () => {
      const cases: Array<[string, string, string]> = [
        ['missing', '', 'token-missing'],
        ['expired', `?token=${await mintToken(hs, { sub: 'alice', aud: AUDIENCE, expiresIn: -60 })}`, 'token-expired'],
        ['wrong signature', `?token=${await mintToken(hmacKey('someone-elses-secret-of-32-bytes'), { sub: 'alice', aud: AUDIENCE })}`, 'token-signature'],
        ['wrong audience', `?token=${await mintToken(hs, { sub: 'alice', aud: 'another-service' })}`, 'token-claims'],
      ];
      for (const [what, query, reason] of cases) {
        const before = (await rejected(sbc))[reason] ?? 0;
        const h = await handshake(url(transport, query), { origin: APP });
        assert.equal(h.status, 401, what);
        assert.match((h as { wwwAuthenticate?: string }).wwwAuthenticate ?? '', /^Bearer realm="sip"/, `${what}: 401 names the scheme`);
        assert.equal((await rejected(sbc))[reason], before + 1, `${what} counted as ${reason}`);
      }
    });
  }

  test('a valid token in the query binds the flow: REGISTER for its own user reaches the registrar with no digest challenge', async () => {
    const token = await mintToken(hs, { sub: 'alice', aud: AUDIENCE });
    const phone = await SipPeer.ws(url('wss', `?token=${token}`));
    try {
      phone.send(register('sip:alice@example.com'));
      const relayed = await registrar.next(isRequest('REGISTER', 'sip:alice@example.com'));
      assert.match(relayed.msg.headers.get('path') ?? '', /^<sip:/, 'relayed as any REGISTER (Path added)');
      const res = await phone.nextResponse((s) => s >= 200, 'REGISTER');
      assert.equal(res.msg.kind === 'response' && res.msg.status, 200);
    } finally {
      phone.close();
    }
  });

  test('the same gateway challenges a native client without a token (the token is what replaced the password)', async () => {
    // A native client: no Origin, no token. Token checks apply to it too: 401.
    assert.equal((await handshake(url('ws'))).status, 401);
    const udp = await SipPeer.udp();
    try {
      udp.send(request({ method: 'REGISTER', uri: 'sip:example.com', sentBy: `127.0.0.1:${udp.address.port}`, from: '<sip:alice@example.com>', to: '<sip:alice@example.com>', contact: `<sip:alice@127.0.0.1:${udp.address.port}>` }), { address: '127.0.0.1', port: sbc.listener('udp').boundPort });
      await udp.nextResponse(401, 'REGISTER');
    } finally {
      udp.close();
    }
  });

  test('Authorization: Bearer works as well as the query parameter', async () => {
    const token = await mintToken(hs, { sub: 'alice', aud: AUDIENCE });
    const h = await handshake(url('ws'), { origin: APP, headers: { Authorization: `Bearer ${token}` } });
    assert.equal(h.status, 'open');
    if (h.status === 'open') h.ws.terminate();
  });

  test('REGISTER for another user and INVITE From another user get 403; nothing reaches the registrar or backend', async () => {
    const token = await mintToken(hs, { sub: 'alice', aud: AUDIENCE });
    const phone = await SipPeer.ws(url('ws', `?token=${token}`));
    try {
      phone.send(register('sip:bob@example.com'));
      const reg = await phone.nextResponse((s) => s >= 200, 'REGISTER');
      assert.equal(reg.msg.kind === 'response' && reg.msg.status, 403);
      assert.match(reg.raw, /^SIP\/2\.0 403 Forbidden: not the user of the token\r\n/);

      const callId = rand(8);
      phone.send(request({ method: 'INVITE', uri: 'sip:carol@example.com', sentBy: 'abc.invalid', viaTransport: 'WS', from: '<sip:bob@example.com>', to: '<sip:carol@example.com>', callId, contact: '<sip:x@abc.invalid;transport=ws>' }));
      const inv = await phone.nextResponse((s) => s >= 200, 'INVITE');
      assert.equal(inv.msg.kind === 'response' && inv.msg.status, 403);
      // Its own INVITE goes on to the backend (which is busy), with no 407 on the way.
      const own = rand(8);
      phone.send(request({ method: 'INVITE', uri: 'sip:carol@example.com', sentBy: 'abc.invalid', viaTransport: 'WS', from: '<sip:alice@example.com>', to: '<sip:carol@example.com>', callId: own, contact: '<sip:x@abc.invalid;transport=ws>' }));
      const busy = await phone.next((r) => r.msg.kind === 'response' && r.msg.callId === own && r.msg.status >= 200);
      assert.equal(busy.msg.kind === 'response' && busy.msg.status, 486);
      assert.equal(registrar.count(isRequest('REGISTER', 'sip:bob@example.com')), 0);
      assert.equal(registrar.count((r) => r.msg.kind === 'request' && r.msg.callId === callId), 0);
      const metrics = await (await fetch(`${sbc.adminUrl}/metrics`)).text();
      assert.match(metrics, /^sbc_rejected_requests_total\{reason="token-user-mismatch"\} 2$/m);
    } finally {
      phone.close();
    }
  });

  test('POST /api/reload applies a new Origin list to new handshakes', async () => {
    const token = await mintToken(hs, { sub: 'alice', aud: AUDIENCE });
    assert.equal((await handshake(url('ws', `?token=${token}`), { origin: 'https://new.example.org' })).status, 403);
    reloadWith = { ...config.security.websocket, allowedOrigins: ['https://new.example.org'] };
    const res = await fetch(`${sbc.adminUrl}/api/reload`, { method: 'POST' });
    const body = (await res.json()) as { applied: string[]; restartNeeded: string[] };
    assert.equal(res.status, 200);
    assert.ok(body.applied.includes('security.websocket'), JSON.stringify(body));
    assert.deepEqual(body.restartNeeded, []);
    const h = await handshake(url('ws', `?token=${token}`), { origin: 'https://new.example.org' });
    assert.equal(h.status, 'open');
    if (h.status === 'open') h.ws.terminate();
    assert.equal((await handshake(url('ws', `?token=${token}`), { origin: APP })).status, 403);
  });
});

describe('handshake tokens signed with a public key', () => {
  for (const make of [rsaKey, ecKey] as Array<() => SigningKey>) {
    const signing = make();
    test(`${signing.alg}: a valid token registers, one signed by another ${signing.alg} key gets 401`, async () => {
      const registrar = await SipPeer.udp();
      registrar.onMessage = (r, p) => {
        if (r.msg.kind === 'request' && r.msg.method === 'REGISTER') p.send(response(r.msg, 200, 'OK', { toTag: 'reg', headers: [`Contact: ${r.msg.headers.get('contact') ?? '*'};expires=60`] }), r.from);
      };
      const sbc = await startSbc({ ...backendsOf(registrar), security: { websocket: { token: { ...signing.config } } } });
      try {
        const port = sbc.listener('ws').boundPort;
        assert.equal((await handshake(`ws://127.0.0.1:${port}/?token=${await mintToken(make(), { sub: 'dave' })}`)).status, 401);
        const phone = await SipPeer.ws(`ws://127.0.0.1:${port}/?token=${await mintToken(signing, { sub: 'dave' })}`);
        try {
          phone.send(register('sip:dave@example.com'));
          await registrar.next(isRequest('REGISTER', 'sip:dave@example.com'));
          await phone.nextResponse(200, 'REGISTER');
        } finally {
          phone.close();
        }
      } finally {
        registrar.close();
        await sbc.stop();
      }
    });
  }
});

describe('log lines of refused handshakes', () => {
  test('name the reason and the origin, never the token', async () => {
    const lines: string[] = [];
    const sink = new PassThrough();
    sink.on('data', (chunk: Buffer) => lines.push(...chunk.toString().split('\n').filter((l) => l !== '')));
    const { WsHandshakeGate } = await import('../../../src/security/ws-handshake-gate.js');
    const settings = configSchema.parse({ security: { websocket: { allowedOrigins: [APP], token: { ...hmacKey().config } } } }).security.websocket;
    const gate = new WsHandshakeGate({ settings, logger: createLogger('info', sink) });
    const expired = await mintToken(hmacKey(), { sub: 'alice', expiresIn: -60 });
    const req = (origin: string): never => ({ url: `/?token=${expired}`, headers: { origin, authorization: `Bearer ${expired}` }, socket: { remoteAddress: '127.0.0.1' } }) as never;
    assert.deepEqual(await gate.check(req(APP)), { ok: false, status: 401, reason: 'token-expired', headers: { 'WWW-Authenticate': 'Bearer realm="sip", error="invalid_token"' } });
    assert.deepEqual(await gate.check(req('https://evil.example.net')), { ok: false, status: 403, reason: 'origin-not-allowed' });
    await new Promise((r) => setImmediate(r));
    assert.equal(lines.length, 2, lines.join('\n'));
    assert.match(lines[0]!, /"reason":"token-expired"/);
    assert.match(lines[1]!, /"reason":"origin-not-allowed".*"origin":"https:\/\/evil\.example\.net"/);
    for (const line of lines) assert.equal(line.includes(expired), false, 'the token is not in the log');
    for (const line of lines) assert.equal(line.includes(expired.split('.')[1]!), false, 'nor any part of it');
  });
});
