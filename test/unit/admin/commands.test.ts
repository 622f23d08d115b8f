import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it, type TestContext } from 'node:test';
import { silentLogger } from '../../../src/log/logger.js';
import { AdminServer, isAdminCommand, runAdminCommand } from '../../../src/admin/index.js';

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    this.text += chunk.toString();
    done();
  }
}

async function startAdmin(t: TestContext, token = ''): Promise<AdminServer> {
  let healthy = true;
  const server = new AdminServer({ listen: '127.0.0.1:0', token, logger: silentLogger(), health: () => ({ ok: healthy, details: { listenersDown: healthy ? [] : ['udp'] } }) });
  server.route('GET', '/api/flows', () => ({ status: 200, body: [{ id: 'f1', transport: 'wss', remote: '192.0.2.7:51234', ageSeconds: 12 }] }));
  server.route('GET', '/api/dialogs', () => ({ status: 200, body: [] }));
  server.route('POST', '/api/reload', () => ({ status: 200, body: { reloaded: true } }));
  server.route('GET', '/api/engines', () => { healthy = false; return { status: 200, body: [] }; });
  t.after(() => server.stop());
  await server.start();
  return server;
}

describe('runAdminCommand', () => {
  it('prints the flows as 2-space JSON and exits 0', async (t) => {
    const server = await startAdmin(t);
    const out = new Capture();
    const code = await runAdminCommand('flows', { adminUrl: server.url(), out });
    assert.equal(code, 0);
    const expected = [{ id: 'f1', transport: 'wss', remote: '192.0.2.7:51234', ageSeconds: 12 }];
    assert.equal(out.text, `${JSON.stringify(expected, null, 2)}\n`);
  });

  it('status prints the health answer; reload posts', async (t) => {
    const server = await startAdmin(t);
    const out = new Capture();
    assert.equal(await runAdminCommand('status', { adminUrl: server.url(), out }), 0);
    assert.equal(out.text, '{\n  "status": "ok"\n}\n');
    const reload = new Capture();
    assert.equal(await runAdminCommand('reload', { adminUrl: server.url(), out: reload }), 0);
    assert.deepEqual(JSON.parse(reload.text), { reloaded: true });
  });

  it('accepts a bare host:port as the admin URL', async (t) => {
    const server = await startAdmin(t);
    const out = new Capture();
    assert.equal(await runAdminCommand('dialogs', { adminUrl: `127.0.0.1:${server.address().port}`, out }), 0);
    assert.equal(out.text, '[]\n');
  });

  it('prints the body of a non-2xx answer and exits 1', async (t) => {
    const server = await startAdmin(t);
    const out = new Capture();
    const err = new Capture();
    assert.equal(await runAdminCommand('engines', { adminUrl: server.url(), out: new Capture() }), 0);
    assert.equal(await runAdminCommand('status', { adminUrl: server.url(), out, err }), 1);
    assert.deepEqual(JSON.parse(out.text), { status: 'unavailable', listenersDown: ['udp'] });
    assert.match(err.text, /HTTP 503/);
    const missing = new Capture();
    assert.equal(await runAdminCommand('backends', { adminUrl: server.url(), out: missing, err: new Capture() }), 1);
    assert.deepEqual(JSON.parse(missing.text), { error: 'not found' });
  });

  it('sends the token, and without it reports 401 with a hint', async (t) => {
    const server = await startAdmin(t, 'tok');
    const out = new Capture();
    assert.equal(await runAdminCommand('flows', { adminUrl: server.url(), token: 'tok', out }), 0);
    assert.equal(JSON.parse(out.text)[0].id, 'f1');
    const denied = new Capture();
    const err = new Capture();
    assert.equal(await runAdminCommand('flows', { adminUrl: server.url(), out: denied, err }), 1);
    assert.deepEqual(JSON.parse(denied.text), { error: 'unauthorized' });
    assert.match(err.text, /HTTP 401.*admin\.token/);
  });

  it('exits 1 with "cannot reach admin API at URL" when nothing listens', async () => {
    const server = new AdminServer({ listen: '127.0.0.1:0', logger: silentLogger() });
    await server.start();
    const url = server.url();
    await server.stop();
    const out = new Capture();
    assert.equal(await runAdminCommand('status', { adminUrl: url, out }), 1);
    assert.match(out.text, new RegExp(`^cannot reach admin API at ${url}/: .*ECONNREFUSED`));
  });

  it('exits 2 for an admin URL that is not one', async () => {
    const out = new Capture();
    assert.equal(await runAdminCommand('status', { adminUrl: 'not a url', out }), 2);
    assert.match(out.text, /^--admin: /);
  });
});

describe('isAdminCommand', () => {
  it('knows the six commands of the contract', () => {
    for (const name of ['status', 'flows', 'dialogs', 'backends', 'engines', 'reload']) assert.equal(isAdminCommand(name), true, name);
    assert.equal(isAdminCommand('toString'), false);
    assert.equal(isAdminCommand('start'), false);
  });
});
