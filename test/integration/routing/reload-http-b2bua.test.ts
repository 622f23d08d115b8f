/**
 * Operator routing, continued: `webrtc-sbc reload` with a good and a broken
 * script, the HTTP routing service (decisions, its timeout, it being down),
 * B2BUA mode, and check-config loading the script and naming a bad rule.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Config } from '../../../src/config/index.js';
import { sbcCommand } from '../../helpers/paths.js';
import { startSbc, startSbcInProcess, type TestSbc } from '../../helpers/sbc.js';
import { SipPeer } from '../../helpers/sip-peer.js';
import { group, Phone, scriptDir, Uas } from './harness.js';

async function threeGroups(): Promise<{ d1: Uas; c1: Uas; e1: Uas; all: Uas[]; backends: Record<string, unknown> }> {
  const [d1, c1, e1] = await Promise.all([Uas.start('d1'), Uas.start('c1'), Uas.start('e1')]);
  return { d1: d1!, c1: c1!, e1: e1!, all: [d1!, c1!, e1!], backends: { default: group(d1!), carrier: group(c1!), emergency: group(e1!) } };
}

describe('reload of the routing script', () => {
  const dir = scriptDir();
  let g: Awaited<ReturnType<typeof threeGroups>>;
  let sbc: TestSbc;
  let phone: Phone;
  let file = '';
  before(async () => {
    g = await threeGroups();
    file = dir.write('route.mjs', `export default () => ({ relay: { group: 'carrier' } });\n`);
    let config: Config | undefined;
    sbc = await startSbcInProcess({ backends: g.backends, routing: { script: file } }, { reloadConfig: async () => ({ ok: true as const, value: { config: config! } }) });
    config = sbc.config;
    phone = new Phone(await SipPeer.udp(), sbc.listener('udp').boundPort, g.all);
  });
  after(async () => {
    phone.peer.close();
    for (const u of g.all) u.peer.close();
    await sbc.stop();
    dir.remove();
  });

  const reload = async (): Promise<{ status: number; body: Record<string, unknown> }> => {
    const res = await fetch(`${sbc.adminUrl}/api/reload`, { method: 'POST' });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  test('an edited script takes over after reload', async () => {
    assert.equal((await phone.call({ uri: 'sip:bob@example.com' })).reached, 'c1');
    writeFileSync(file, `export default () => ({ relay: { group: 'emergency', ruriUser: 'reloaded' } });\n`);
    const r = await reload();
    assert.equal(r.status, 200);
    assert.ok((r.body.applied as string[]).includes('routing'));
    const after = await phone.call({ uri: 'sip:bob@example.com' });
    assert.equal(after.reached, 'e1');
    assert.equal(after.ruri, 'sip:reloaded@example.com');
  });

  test('a broken script is refused with its error and the running one stays', async () => {
    writeFileSync(file, `export default () => ({ relay: { group: 'carrier' } ;\n`);
    const r = await reload();
    assert.equal(r.status, 400);
    assert.equal(r.body.key, 'routing.script');
    assert.match(String(r.body.error), /route\.mjs/);
    writeFileSync(file, `export const notDefault = 1;\n`);
    const r2 = await reload();
    assert.equal(r2.status, 400);
    assert.match(String(r2.body.error), /default export must be a function/);
    const still = await phone.call({ uri: 'sip:bob@example.com' });
    assert.equal(still.reached, 'e1', 'the script loaded before the broken ones still decides');
    assert.equal(still.ruri, 'sip:reloaded@example.com');
  });
});

describe('reload with isolation: worker', () => {
  test('a new thread takes the edited script; a broken one is refused and the running thread stays', async (t) => {
    const dir = scriptDir();
    const g = await threeGroups();
    const file = dir.write('route.mjs', `export default () => ({ relay: { group: 'carrier' } });\n`);
    let config: Config | undefined;
    const sbc = await startSbcInProcess({ backends: g.backends, routing: { script: file, isolation: 'worker' } }, { reloadConfig: async () => ({ ok: true as const, value: { config: config! } }) });
    config = sbc.config;
    const phone = new Phone(await SipPeer.udp(), sbc.listener('udp').boundPort, g.all);
    t.after(async () => { phone.peer.close(); for (const u of g.all) u.peer.close(); await sbc.stop(); dir.remove(); });
    assert.equal((await phone.call({ uri: 'sip:bob@example.com' })).reached, 'c1');
    writeFileSync(file, `export default () => ({ relay: { group: 'emergency' } });\n`);
    assert.equal((await fetch(`${sbc.adminUrl}/api/reload`, { method: 'POST' })).status, 200);
    assert.equal((await phone.call({ uri: 'sip:bob@example.com' })).reached, 'e1');
    writeFileSync(file, `export default ;\n`);
    const refused = await fetch(`${sbc.adminUrl}/api/reload`, { method: 'POST' });
    assert.equal(refused.status, 400);
    assert.match(String(((await refused.json()) as { error: string }).error), /route\.mjs/);
    assert.equal((await phone.call({ uri: 'sip:bob@example.com' })).reached, 'e1');
  });
});

describe('routing.http', () => {
  let g: Awaited<ReturnType<typeof threeGroups>>;
  let service: HttpServer;
  let servicePort = 0;
  const seen: Array<Record<string, unknown>> = [];
  let connections = 0;
  before(async () => {
    g = await threeGroups();
    service = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => { body += c.toString(); });
      req.on('end', () => {
        const r = JSON.parse(body) as { ruri: { user: string }; headers: Record<string, string[]> };
        seen.push(r as unknown as Record<string, unknown>);
        const user = r.ruri.user;
        if (user === 'hang') return; // never answers
        res.setHeader('content-type', 'application/json');
        if (user === 'none') { res.statusCode = 204; res.end(); return; }
        if (user === 'null') { res.end('null'); return; }
        if (user === 'blocked') { res.end(JSON.stringify({ reply: { status: 603, reason: 'Declined By Service' } })); return; }
        if (user === 'garbage') { res.end('{"relay": '); return; }
        if (user === 'broken') { res.statusCode = 500; res.end('oops'); return; }
        res.end(JSON.stringify({ relay: { group: 'carrier', ruriUser: `svc-${user}`, setHeaders: { 'X-Service': 'yes' } } }));
      });
    });
    service.on('connection', () => { connections++; });
    await new Promise<void>((r) => service.listen(0, '127.0.0.1', r));
    servicePort = (service.address() as AddressInfo).port;
  });
  after(async () => {
    for (const u of g.all) u.peer.close();
    service.closeAllConnections();
    await new Promise((r) => service.close(r));
  });

  test('decisions from the service: relay with rewrite and headers, reply, and 204/null = usual routing; connections kept alive', async (t) => {
    const sbc = await startSbc({ backends: g.backends, routing: { http: { url: `http://127.0.0.1:${servicePort}/route`, timeoutMs: 300 } } });
    const phone = new Phone(await SipPeer.udp(), sbc.listener('udp').boundPort, g.all);
    t.after(async () => { phone.peer.close(); await sbc.stop(); });
    const before = connections;
    const r = await phone.call({ uri: 'sip:alice@example.com', headers: ['X-Account: 77'] });
    assert.equal(r.reached, 'c1');
    assert.equal(r.ruri, 'sip:svc-alice@example.com');
    assert.equal(r.invite!.headers.get('x-service'), 'yes');
    const body = seen.at(-1)!;
    assert.equal(body.method, 'INVITE');
    assert.deepEqual((body.headers as Record<string, string[]>)['x-account'], ['77']);
    assert.equal((body.source as { transport: string }).transport, 'udp');
    const blocked = await phone.call({ uri: 'sip:blocked@example.com' });
    assert.equal(blocked.status, 603);
    assert.equal(blocked.reason, 'Declined By Service');
    assert.equal((await phone.call({ uri: 'sip:none@example.com' })).reached, 'd1');
    assert.equal((await phone.call({ uri: 'sip:null@example.com' })).reached, 'd1');
    assert.equal(connections - before, 1, 'every decision on one kept-alive connection');
  });

  test('timeout, a broken answer and a service that is down: onError default routes as usual', async (t) => {
    const sbc = await startSbc({ backends: g.backends, routing: { http: { url: `http://127.0.0.1:${servicePort}/route`, timeoutMs: 200, onError: 'default' } } });
    const phone = new Phone(await SipPeer.udp(), sbc.listener('udp').boundPort, g.all);
    t.after(async () => { phone.peer.close(); await sbc.stop(); });
    for (const user of ['hang', 'garbage', 'broken']) {
      const r = await phone.call({ uri: `sip:${user}@example.com` });
      assert.equal(r.reached, 'd1', user);
      assert.equal(r.ruri, `sip:${user}@example.com`);
    }
  });

  test('onError 503: a timeout and a service that is down refuse the call', async (t) => {
    const down = createServer();
    await new Promise<void>((r) => down.listen(0, '127.0.0.1', r));
    const downPort = (down.address() as AddressInfo).port;
    await new Promise((r) => down.close(r)); // nothing listens there now
    for (const url of [`http://127.0.0.1:${servicePort}/route`, `http://127.0.0.1:${downPort}/route`]) {
      const sbc = await startSbc({ backends: g.backends, routing: { http: { url, timeoutMs: 200, onError: '503' } } });
      const phone = new Phone(await SipPeer.udp(), sbc.listener('udp').boundPort, g.all);
      t.after(async () => { phone.peer.close(); await sbc.stop(); });
      const r = await phone.call({ uri: 'sip:hang@example.com' });
      assert.equal(r.status, 503, url);
      assert.deepEqual(r.tried, [], url);
    }
  });

  test('a script and a service together: the script decides; when it returns undefined the service is asked', async (t) => {
    const dir = scriptDir();
    const file = dir.write('route.mjs', `export default (r) => r.ruri.user === 'local' ? { relay: { group: 'emergency' } } : undefined;\n`);
    const sbc = await startSbc({ backends: g.backends, routing: { script: file, http: { url: `http://127.0.0.1:${servicePort}/route` } } });
    const phone = new Phone(await SipPeer.udp(), sbc.listener('udp').boundPort, g.all);
    t.after(async () => { phone.peer.close(); await sbc.stop(); dir.remove(); });
    const asked = seen.length;
    assert.equal((await phone.call({ uri: 'sip:local@example.com' })).reached, 'e1');
    assert.equal(seen.length, asked, 'the service was not asked');
    const r = await phone.call({ uri: 'sip:remote@example.com' });
    assert.equal(r.reached, 'c1');
    assert.equal(r.ruri, 'sip:svc-remote@example.com');
  });
});

describe('B2BUA mode', () => {
  const dir = scriptDir();
  let g: Awaited<ReturnType<typeof threeGroups>>;
  let sbc: TestSbc;
  let phone: Phone;
  before(async () => {
    g = await threeGroups();
    for (const u of g.all) u.mode = 'answer';
    const file = dir.write('route.mjs', `
      export default (r) => {
        if (r.ruri.user === 'blocked') return { reply: { status: 403, reason: 'Not Here' } };
        if (r.ruri.user?.startsWith('00')) return { relay: { group: 'carrier', ruriUser: '+' + r.ruri.user.slice(2), setHeaders: { 'X-Carrier': 'c' } } };
        return undefined;
      };
    `);
    sbc = await startSbc({
      mode: 'b2bua',
      backends: g.backends,
      routes: [{ match: { ruriUser: { prefix: '112' } }, action: { group: 'emergency' } }],
      routing: { script: file },
    });
    phone = new Phone(await SipPeer.udp(), sbc.listener('udp').boundPort, g.all);
  });
  after(async () => {
    phone.peer.close();
    for (const u of g.all) u.peer.close();
    await sbc.stop();
    dir.remove();
  });

  test('the B leg goes where the script says, with the rewritten Request-URI and the header it set', async () => {
    const r = await phone.call({ uri: 'sip:004930123@example.com' });
    assert.equal(r.status, 200);
    assert.equal(r.reached, 'c1');
    assert.equal(r.ruri, 'sip:+4930123@example.com');
    assert.equal(r.invite!.headers.get('x-carrier'), 'c');
    assert.notEqual(r.invite!.callId, r.response.callId, 'a B2BUA leg of its own');
  });

  test('rules route the B leg too; a reply never starts one; no decision is the usual routing', async () => {
    assert.equal((await phone.call({ uri: 'sip:112@example.com' })).reached, 'e1');
    const blocked = await phone.call({ uri: 'sip:blocked@example.com' });
    assert.equal(blocked.status, 403);
    assert.deepEqual(blocked.tried, []);
    assert.equal((await phone.call({ uri: 'sip:bob@example.com' })).reached, 'd1');
  });
});

describe('check-config', () => {
  const dir = scriptDir();
  after(() => dir.remove());
  const run = (file: string): Promise<{ code: number | null; stderr: string }> => {
    const { command, args } = sbcCommand();
    return new Promise((resolve) => {
      const child = spawn(command, [...args, 'check-config', file], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
      child.on('close', (code) => resolve({ code, stderr }));
    });
  };

  test('loads the script: one that does not parse, or has no default function, exits 2 naming routing.script', async () => {
    const bad = dir.write('bad.mjs', 'export default function (r) { return { relay: ; }\n');
    const r = await run(dir.write('a.yaml', `routing: { script: ${JSON.stringify(bad)} }\n`));
    assert.equal(r.code, 2);
    assert.match(r.stderr, /routing\.script: .*bad\.mjs/);
    const ts = await run(dir.write('b.yaml', `routing: { script: ${JSON.stringify(join(dir.write('r.ts', 'export default () => undefined;\n')))} }\n`));
    assert.equal(ts.code, 2);
    assert.match(ts.stderr, /routing\.script: .*compile it to \.js/);
    const good = dir.write('good.mjs', 'export default () => undefined;\n');
    assert.equal((await run(dir.write('c.yaml', `routing: { script: ${JSON.stringify(good)} }\n`))).code, 0);
  });

  test('a bad rule exits 2 naming its key path', async () => {
    const cases: Array<[string, RegExp]> = [
      [`routes:\n  - { domain: a.example, backend: default }\n  - { match: { fromUser: { prefix: "x" } }, action: { group: default } }\n  - { match: { ruriUser: { regex: "(unclosed" } }, action: { group: default } }\n`, /routes\[2\]\.match\.ruriUser\.regex: is not a valid regular expression/],
      [`routes:\n  - { match: { source: "10.0.0.0/33" }, action: { reply: { status: 403 } } }\n`, /routes\[0\]\.match\.source\[0\]/],
      [`routes:\n  - { match: { ruriUser: { prefix: "9" } }, action: { reply: { status: 403 }, group: default } }\n`, /routes\[0\]\.action\.reply: reply cannot be combined/],
      [`backends: { default: { targets: [{ uri: "sip:127.0.0.1:5080" }] } }\nroutes:\n  - { match: { ruriUser: { prefix: "9" } }, action: { group: nowhere } }\n`, /routes\[0\]\.action\.group: no backend group "nowhere"/],
      [`routes:\n  - { match: { ruriUser: { prefix: "9" } } }\n`, /routes\[0\]\.action: is required with match/],
    ];
    for (const [yaml, expected] of cases) {
      const r = await run(dir.write(`rule-${Math.random().toString(36).slice(2)}.yaml`, yaml));
      assert.equal(r.code, 2, yaml);
      assert.match(r.stderr, expected, yaml);
    }
  });
});
