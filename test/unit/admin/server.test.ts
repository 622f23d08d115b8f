import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import { Writable } from 'node:stream';
import { describe, it, type TestContext } from 'node:test';
import { pino } from 'pino';
import { silentLogger } from '../../../src/log/logger.js';
import { AdminServer, createMetrics, type AdminServerOptions } from '../../../src/admin/index.js';

async function startAdmin(t: TestContext, options: Partial<AdminServerOptions> = {}): Promise<{ server: AdminServer; url: string }> {
  const server = new AdminServer({ listen: '127.0.0.1:0', logger: silentLogger(), ...options });
  t.after(() => server.stop());
  await server.start();
  return { server, url: `http://127.0.0.1:${server.address().port}` };
}

async function call(url: string, init: RequestInit = {}): Promise<{ status: number; type: string | null; text: string; headers: Headers }> {
  const response = await fetch(url, init);
  return { status: response.status, type: response.headers.get('content-type'), text: await response.text(), headers: response.headers };
}

describe('AdminServer /healthz', () => {
  it('answers 200 {"status":"ok"} when healthy', async (t) => {
    const { url } = await startAdmin(t, { health: () => ({ ok: true, details: { listeners: 2 } }) });
    const r = await call(`${url}/healthz`);
    assert.equal(r.status, 200);
    assert.match(r.type ?? '', /^application\/json/);
    assert.deepEqual(JSON.parse(r.text), { status: 'ok' });
  });

  it('answers 503 with the details when unhealthy', async (t) => {
    let healthy = false;
    const { url } = await startAdmin(t, { health: () => ({ ok: healthy, details: { listenersDown: ['udp 0.0.0.0:5060'] } }) });
    const down = await call(`${url}/healthz`);
    assert.equal(down.status, 503);
    assert.deepEqual(JSON.parse(down.text), { status: 'unavailable', listenersDown: ['udp 0.0.0.0:5060'] });
    healthy = true;
    assert.equal((await call(`${url}/healthz`)).status, 200);
  });

  it('answers 503 when the health check itself throws', async (t) => {
    const { url } = await startAdmin(t, { health: () => { throw new Error('broken'); } });
    const r = await call(`${url}/healthz`);
    assert.equal(r.status, 503);
    assert.equal(JSON.parse(r.text).status, 'unavailable');
  });
});

describe('AdminServer /metrics', () => {
  it('serves Prometheus text including a counter after it was incremented', async (t) => {
    const metrics = createMetrics();
    const { url } = await startAdmin(t, { registry: metrics.registry });
    metrics.sipMessages.inc({ direction: 'in', transport: 'wss', method: 'INVITE' });
    metrics.sipMessages.inc({ direction: 'in', transport: 'wss', method: 'INVITE' });
    const r = await call(`${url}/metrics`);
    assert.equal(r.status, 200);
    assert.match(r.type ?? '', /^text\/plain/);
    assert.match(r.text, /^sbc_sip_messages_total\{direction="in",transport="wss",method="INVITE"\} 2$/m);
    assert.match(r.text, /^# TYPE sbc_request_latency_seconds histogram$/m);
  });

  it('is not served without a registry', async (t) => {
    const { url } = await startAdmin(t);
    assert.equal((await call(`${url}/metrics`)).status, 404);
  });
});

describe('AdminServer bearer token', () => {
  it('requires the token on every route but /healthz', async (t) => {
    const metrics = createMetrics();
    const { server, url } = await startAdmin(t, { token: 's3cret', registry: metrics.registry });
    server.route('GET', '/api/flows', () => ({ status: 200, body: [] }));

    for (const path of ['/api/flows', '/metrics', '/api/unknown']) {
      const none = await call(`${url}${path}`);
      assert.equal(none.status, 401, `${path} without a token`);
      assert.deepEqual(JSON.parse(none.text), { error: 'unauthorized' });
      assert.match(none.headers.get('www-authenticate') ?? '', /^Bearer/);
      assert.equal((await call(`${url}${path}`, { headers: { Authorization: 'Bearer wrong' } })).status, 401, `${path} with a wrong token`);
      assert.equal((await call(`${url}${path}`, { headers: { Authorization: 'Basic s3cret' } })).status, 401, `${path} with another scheme`);
    }
    const auth = { headers: { Authorization: 'Bearer s3cret' } };
    assert.equal((await call(`${url}/api/flows`, auth)).status, 200);
    assert.equal((await call(`${url}/metrics`, auth)).status, 200);
    assert.equal((await call(`${url}/api/unknown`, auth)).status, 404);
    assert.equal((await call(`${url}/healthz`)).status, 200);
  });

  it('serves everything without a token when none is configured', async (t) => {
    const { server, url } = await startAdmin(t, { token: '' });
    server.route('GET', '/api/flows', () => ({ status: 200, body: [] }));
    assert.equal((await call(`${url}/api/flows`)).status, 200);
  });
});

describe('AdminServer routes', () => {
  it('serves registered JSON routes with the query and the parsed body', async (t) => {
    const { server, url } = await startAdmin(t);
    server.route('GET', '/api/flows', (req) => ({ status: 200, body: { flows: [{ id: 'f1' }], limit: req.query.get('limit') } }));
    server.route('POST', '/api/reload', async (req) => ({ status: 202, body: { got: req.body } }));
    const flows = await call(`${url}/api/flows?limit=5`);
    assert.equal(flows.status, 200);
    assert.deepEqual(JSON.parse(flows.text), { flows: [{ id: 'f1' }], limit: '5' });
    const reload = await call(`${url}/api/reload`, { method: 'POST', body: JSON.stringify({ dryRun: true }), headers: { 'content-type': 'application/json' } });
    assert.equal(reload.status, 202);
    assert.deepEqual(JSON.parse(reload.text), { got: { dryRun: true } });
    const empty = await call(`${url}/api/reload`, { method: 'POST' });
    assert.deepEqual(JSON.parse(empty.text), {});
  });

  it('answers 404 for an unknown path and 405 with Allow for a wrong method', async (t) => {
    const { server, url } = await startAdmin(t);
    server.route('POST', '/api/reload', () => ({ status: 200, body: { reloaded: true } }));
    const missing = await call(`${url}/api/nope`);
    assert.equal(missing.status, 404);
    assert.deepEqual(JSON.parse(missing.text), { error: 'not found' });
    const wrong = await call(`${url}/api/reload`);
    assert.equal(wrong.status, 405);
    assert.equal(wrong.headers.get('allow'), 'POST');
    assert.deepEqual(JSON.parse(wrong.text), { error: 'method not allowed' });
    assert.equal((await call(`${url}/healthz`, { method: 'DELETE' })).status, 405);
  });

  it('turns a throwing handler into a 500 without a stack, logs it and keeps serving', async (t) => {
    const lines: string[] = [];
    const sink = new Writable({ write(chunk, _enc, done) { lines.push(String(chunk)); done(); } });
    const { server, url } = await startAdmin(t, { logger: pino({ level: 'error' }, sink) });
    server.route('GET', '/api/dialogs', () => { throw new Error('dialog table exploded'); });
    server.route('GET', '/api/engines', async () => { throw new Error('async failure'); });
    server.route('GET', '/api/backends', () => ({ status: 200, body: { groups: [] } }));
    for (const path of ['/api/dialogs', '/api/engines']) {
      const r = await call(`${url}${path}`);
      assert.equal(r.status, 500);
      assert.deepEqual(JSON.parse(r.text), { error: 'internal error' });
      assert.doesNotMatch(r.text, /exploded|failure|at /);
    }
    assert.equal((await call(`${url}/api/backends`)).status, 200);
    assert.equal(lines.filter((l) => l.includes('admin route failed')).length, 2);
    assert.ok(lines.some((l) => l.includes('dialog table exploded')));
  });

  it('refuses a body over 64 KiB with 413 and a malformed one with 400', async (t) => {
    let calls = 0;
    const { server, url } = await startAdmin(t);
    server.route('POST', '/api/reload', () => { calls++; return { status: 200, body: {} }; });
    const big = await call(`${url}/api/reload`, { method: 'POST', body: 'x'.repeat(64 * 1024 + 1) });
    assert.equal(big.status, 413);
    const streamed = new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('['));
        controller.enqueue(new TextEncoder().encode('1,'.repeat(40 * 1024)));
        controller.close();
      },
    });
    const chunked = await call(`${url}/api/reload`, { method: 'POST', body: streamed, duplex: 'half' } as RequestInit);
    assert.equal(chunked.status, 413, 'a chunked body without Content-Length is bounded too');
    const bad = await call(`${url}/api/reload`, { method: 'POST', body: '{nope' });
    assert.equal(bad.status, 400);
    assert.deepEqual(JSON.parse(bad.text), { error: 'request body is not valid JSON' });
    assert.equal(calls, 0);
    assert.equal((await call(`${url}/healthz`)).status, 200);
  });

  it('refuses to register the same method and path twice', () => {
    const server = new AdminServer({ listen: '127.0.0.1:0', logger: silentLogger() });
    server.route('GET', '/api/flows', () => ({ status: 200, body: [] }));
    assert.throws(() => server.route('get', '/api/flows', () => ({ status: 200, body: [] })), /already registered/);
    assert.throws(() => server.route('GET', '/healthz', () => ({ status: 200, body: [] })), /already registered/);
    assert.throws(() => server.route('GET', 'api/x', () => ({ status: 200, body: [] })), TypeError);
  });
});

describe('AdminServer lifecycle', () => {
  it('rejects a malformed listen address with a TypeError naming admin.listen', () => {
    for (const listen of ['9060', '::1:9060', '127.0.0.1:70000', '[::1]9060', 'localhost:http']) {
      assert.throws(() => new AdminServer({ listen, logger: silentLogger() }), (err: unknown) => err instanceof TypeError && err.message.startsWith('admin.listen'), listen);
    }
  });

  it('start and stop are idempotent; stop closes keep-alive connections', async (t) => {
    const server = new AdminServer({ listen: '127.0.0.1:0', logger: silentLogger() });
    t.after(() => server.stop());
    await Promise.all([server.start(), server.start()]);
    const port = server.address().port;
    assert.ok(port > 0);
    assert.equal(server.url(), `http://127.0.0.1:${port}`);

    // A raw keep-alive client: it holds its connection open until the server closes it.
    const socket = connect(port, '127.0.0.1');
    t.after(() => socket.destroy());
    socket.setEncoding('utf8');
    await once(socket, 'connect');
    socket.write('GET /healthz HTTP/1.1\r\nHost: admin\r\nConnection: keep-alive\r\n\r\n');
    let received = '';
    while (!received.includes('{"status":"ok"}')) received += String((await once(socket, 'data'))[0]);
    assert.match(received, /^HTTP\/1\.1 200 /);
    assert.match(received, /keep-alive/i);

    const closed = once(socket, 'close');
    await Promise.all([server.stop(), server.stop()]);
    await closed;
    assert.throws(() => server.address(), /not listening/);
    await assert.rejects(server.start(), /stopped/);
  });

  it('stop before start resolves, and a stop during start leaves nothing listening', async () => {
    const idle = new AdminServer({ listen: '127.0.0.1:0', logger: silentLogger() });
    await idle.stop();
    await assert.rejects(idle.start(), /stopped/);

    const racing = new AdminServer({ listen: '127.0.0.1:0', logger: silentLogger() });
    const started = racing.start();
    await racing.stop();
    await started;
    assert.throws(() => racing.address(), /not listening/);
  });

  it('start rejects when the port is taken', async (t) => {
    const { server } = await startAdmin(t);
    const second = new AdminServer({ listen: `127.0.0.1:${server.address().port}`, logger: silentLogger() });
    t.after(() => second.stop());
    await assert.rejects(second.start(), /EADDRINUSE/);
  });
});
