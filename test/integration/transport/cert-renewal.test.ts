/**
 * Certificate renewal on a running gateway, as certbot or a Kubernetes
 * secret does it: the files at tls.cert / tls.key are replaced by rename
 * while a WSS call and a TLS connection are up. New TLS and WSS connections
 * then present the new certificate (compared by fingerprint), the open ones
 * keep theirs and the call goes on to its BYE. A broken pair is refused and
 * the certificate in force is still served; `webrtc-sbc reload`
 * (POST /api/reload) re-reads the pair where nothing watches it.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { after, describe, test } from 'node:test';
import WebSocket from 'ws';
import { configSchema } from '../../../src/config/schema.js';
import { ok } from '../../../src/sip/result.js';
import { startSbc, startSbcInProcess, type TestSbc } from '../../helpers/sbc.js';
import { rand, request, response, SipPeer, uacRouteSet } from '../../helpers/sip-peer.js';
import { freshTestCert, type TestCert } from '../../helpers/test-cert.js';

const root = mkdtempSync(join(tmpdir(), 'sbc-cert-renewal-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

const fingerprint = (pem: string): string => new X509Certificate(pem).fingerprint256;

/** certbot style: new files written beside the old ones, then renamed over them. */
function install(files: { cert: string; key: string }, pair: TestCert): void {
  n += 1;
  writeFileSync(`${files.key}.new${n}`, pair.key, { mode: 0o600 });
  writeFileSync(`${files.cert}.new${n}`, pair.cert);
  renameSync(`${files.key}.new${n}`, files.key);
  renameSync(`${files.cert}.new${n}`, files.cert);
}

/** The fingerprint a new TLS connection to `port` is shown, and the open socket. */
async function tlsPeer(port: number): Promise<{ fingerprint: string; socket: TLSSocket }> {
  const socket = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false });
  await once(socket, 'secureConnect');
  return { fingerprint: socket.getPeerCertificate().fingerprint256, socket };
}

async function served(port: number): Promise<string> {
  const { fingerprint: f, socket } = await tlsPeer(port);
  socket.destroy();
  return f;
}

/** The fingerprint a new WSS handshake sees (the upgrade response's socket). */
async function wssServed(port: number): Promise<string> {
  const ws = new WebSocket(`wss://127.0.0.1:${port}/`, ['sip'], { rejectUnauthorized: false });
  const [res] = (await once(ws, 'upgrade')) as [{ socket: TLSSocket }];
  const f = res.socket.getPeerCertificate().fingerprint256;
  ws.terminate();
  return f;
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function reloads(sbc: TestSbc): Promise<Record<string, number>> {
  const text = await (await fetch(`${sbc.adminUrl}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^sbc_tls_certificate_reloads_total\{result="([^"]+)"\} (\d+)$/gm)) out[m[1]!] = Number(m[2]);
  return out;
}

async function expiry(sbc: TestSbc): Promise<number> {
  const text = await (await fetch(`${sbc.adminUrl}/metrics`)).text();
  return Number(/^sbc_tls_certificate_expiry_timestamp_seconds (\d+)$/m.exec(text)?.[1]);
}

/** A backend that answers INVITE 200 and BYE 200. */
async function backendUas(): Promise<SipPeer> {
  const peer = await SipPeer.udp();
  peer.onMessage = (r, p) => {
    if (r.msg.kind !== 'request') return;
    if (r.msg.method === 'INVITE') p.send(response(r.msg, 200, 'OK', { toTag: 'uas1', headers: [`Contact: <sip:uas@127.0.0.1:${p.address.port}>`] }), r.from);
    else if (r.msg.method !== 'ACK') p.send(response(r.msg, 200, 'OK', { toTag: 'uas1' }), r.from);
  };
  return peer;
}

function gatewayInput(files: { cert: string; key: string }, backend: SipPeer, tls: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    listen: [
      { transport: 'udp', address: '127.0.0.1', port: 0 },
      { transport: 'tls', address: '127.0.0.1', port: 0 },
      { transport: 'wss', address: '127.0.0.1', port: 0 },
    ],
    tls: { ...files, ...tls },
    backends: { default: { targets: [{ uri: `sip:127.0.0.1:${backend.address.port};transport=udp` }], probe: { intervalSeconds: 5 } } },
    timers: { t1Ms: 50 },
  };
}

describe('certificate renewal without a restart', () => {
  test('files replaced under a WSS call: new TLS and WSS connections get the new certificate, the call and an open TLS connection go on with the old', async () => {
    const dir = mkdtempSync(join(root, 'watch-'));
    const files = { cert: join(dir, 'server.crt'), key: join(dir, 'server.key') };
    // The renewed certificate lives longer, as a renewed one does.
    const [first, second] = [freshTestCert(24), freshTestCert(90 * 24)];
    install(files, first);
    const backend = await backendUas();
    const sbc = await startSbc(gatewayInput(files, backend));
    const tlsPort = sbc.listener('tls').boundPort;
    const wssPort = sbc.listener('wss').boundPort;
    const caller = await SipPeer.ws(`wss://127.0.0.1:${wssPort}/`);
    const openTls = await tlsPeer(tlsPort);
    try {
      assert.equal(await served(tlsPort), fingerprint(first.cert));
      assert.equal(await wssServed(wssPort), fingerprint(first.cert));
      assert.equal(await expiry(sbc), Math.floor(new Date(new X509Certificate(first.cert).validTo).getTime() / 1000));
      // A call up over WSS.
      const callId = rand(8);
      caller.send(request({ method: 'INVITE', uri: 'sip:bob@example.com', sentBy: 'abc.invalid', viaTransport: 'WSS', callId, fromTag: 'c1', contact: '<sip:c1@abc.invalid;transport=ws>' }));
      const answered = await caller.nextResponse(200, 'INVITE');
      const routes = uacRouteSet(answered.msg).map((r) => `Route: ${r}`);
      const toTag = answered.msg.to()!.params.get('tag')!;
      caller.send(request({ method: 'ACK', uri: `sip:uas@127.0.0.1:${backend.address.port}`, sentBy: 'abc.invalid', viaTransport: 'WSS', callId, fromTag: 'c1', toTag, headers: routes }));
      await backend.nextRequest('ACK');

      install(files, second);
      await until('new TLS connections see the new certificate', async () => (await served(tlsPort)) === fingerprint(second.cert));
      assert.equal(await wssServed(wssPort), fingerprint(second.cert), 'and new WSS connections');
      assert.deepEqual(await reloads(sbc), { renewed: 1 });
      assert.equal(await expiry(sbc), Math.floor(new Date(new X509Certificate(second.cert).validTo).getTime() / 1000), 'the expiry gauge follows the served certificate');

      // The open connections keep theirs, and work.
      assert.equal(openTls.socket.getPeerCertificate().fingerprint256, fingerprint(first.cert));
      openTls.socket.write(request({ method: 'OPTIONS', uri: `sip:127.0.0.1:${tlsPort}`, sentBy: '127.0.0.1:5999', viaTransport: 'TLS', to: `<sip:127.0.0.1:${tlsPort}>` }));
      const [pong] = (await once(openTls.socket, 'data')) as [Buffer];
      assert.match(pong.toString(), /^SIP\/2\.0 200 OK\r\n/, 'the TLS connection opened before the renewal still answers');
      caller.send(request({ method: 'BYE', uri: `sip:uas@127.0.0.1:${backend.address.port}`, sentBy: 'abc.invalid', viaTransport: 'WSS', callId, fromTag: 'c1', toTag, cseq: 2, headers: routes }));
      await backend.next((r) => r.msg.kind === 'request' && r.msg.method === 'BYE' && r.msg.callId === callId);
      await caller.nextResponse(200, 'BYE');
      assert.equal(caller.closedByRemote, false, 'the WSS call\'s connection stayed up');

      // A broken pair: a new certificate with the old key.
      install(files, { cert: freshTestCert().cert, key: second.key });
      await until('the broken pair is refused', async () => (await reloads(sbc)).refused === 1);
      assert.equal(await served(tlsPort), fingerprint(second.cert), 'the certificate in force is still served');
      assert.equal(await wssServed(wssPort), fingerprint(second.cert));
    } finally {
      openTls.socket.destroy();
      caller.close();
      backend.close();
      await sbc.stop();
    }
  });

  test('with tls.watch false, POST /api/reload re-reads the pair and applies tls.minVersion; a broken pair refuses the reload naming tls.key', async () => {
    const dir = mkdtempSync(join(root, 'reload-'));
    const files = { cert: join(dir, 'server.crt'), key: join(dir, 'server.key') };
    const [first, second] = [freshTestCert(), freshTestCert()];
    install(files, first);
    const backend = await backendUas();
    let tls: Record<string, unknown> = { watch: false };
    const input = (): Record<string, unknown> => gatewayInput(files, backend, tls);
    const sbc = await startSbcInProcess(input(), { reloadConfig: async () => ok({ config: configSchema.parse({ ...sbc.config, tls: { ...sbc.config.tls, ...tls } }) }) });
    const tlsPort = sbc.listener('tls').boundPort;
    const reload = async (): Promise<{ status: number; body: Record<string, unknown> }> => {
      const res = await fetch(`${sbc.adminUrl}/api/reload`, { method: 'POST' });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    try {
      install(files, second);
      // Nothing watches: give a watcher, were there one, the time it would need.
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(await served(tlsPort), fingerprint(first.cert), 'not picked up without a reload');

      tls = { watch: false, minVersion: 'TLSv1.3' };
      const done = await reload();
      assert.equal(done.status, 200, JSON.stringify(done.body));
      assert.ok((done.body.applied as string[]).includes('tls'));
      assert.deepEqual(done.body.restartNeeded, []);
      assert.equal(await served(tlsPort), fingerprint(second.cert));
      // TLS 1.2 is refused from now on.
      const old = tlsConnect({ host: '127.0.0.1', port: tlsPort, rejectUnauthorized: false, maxVersion: 'TLSv1.2' });
      const [err] = (await once(old, 'error')) as [Error];
      assert.match(err.message, /protocol version|alert/i);

      install(files, { cert: freshTestCert().cert, key: second.key });
      const refused = await reload();
      assert.equal(refused.status, 400);
      assert.equal(refused.body.key, 'tls.key');
      assert.match(String(refused.body.error), /does not belong to the certificate/);
      assert.equal(await served(tlsPort), fingerprint(second.cert));
    } finally {
      backend.close();
      await sbc.stop();
    }
  });
});
