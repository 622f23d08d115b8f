/**
 * The whole gateway on loopback: OPTIONS to the SBC over each of the five
 * transports gets 200, the web page is served over HTTPS on the WSS port,
 * the admin API reports real listener state.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { request as httpsRequest } from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { StreamFramer } from '../../../src/sip/framer.js';
import { parseMessage } from '../../../src/sip/parser.js';
import { startSbc, type TestSbc } from '../../helpers/sbc.js';
import { freePortInRange } from '../../helpers/free-port.js';
import { request, SipPeer } from '../../helpers/sip-peer.js';

const options = (hostPort: string, sentBy: string, transport: string): string =>
  request({ method: 'OPTIONS', uri: `sip:${hostPort}`, sentBy, viaTransport: transport });

function httpsGet(port: number, path: string): Promise<{ status: number; body: string; type: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port, path, rejectUnauthorized: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), type: String(res.headers['content-type']) }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('listeners: OPTIONS to the SBC on every transport', () => {
  let sbc: TestSbc;
  before(async () => {
    sbc = await startSbc({
      listen: [
        { transport: 'udp', address: '127.0.0.1', port: 0 },
        { transport: 'tcp', address: '127.0.0.1', port: 0 },
        { transport: 'tls', address: '127.0.0.1', port: 0 },
        { transport: 'ws', address: '127.0.0.1', port: 0 },
        { transport: 'wss', address: '127.0.0.1', port: 0 },
        { transport: 'udp', address: '::1', port: 0 },
      ],
      web: { enabled: true },
    });
  });
  after(async () => sbc.stop());

  test('UDP', async () => {
    const peer = await SipPeer.udp();
    try {
      peer.send(options(sbc.hostPort('udp'), `127.0.0.1:${peer.address.port}`, 'UDP'), { address: '127.0.0.1', port: sbc.listener('udp').boundPort });
      const ok = await peer.nextResponse(200, 'OPTIONS');
      assert.equal(ok.msg.topVia()!.params.get('rport'), String(peer.address.port));
    } finally { peer.close(); }
  });

  test('UDP over IPv6', async () => {
    const v6 = sbc.listener('udp', '::1');
    const peer = await SipPeer.udp('::1');
    try {
      peer.send(options(`[::1]:${v6.boundPort}`, `[::1]:${peer.address.port}`, 'UDP'), { address: '::1', port: v6.boundPort });
      await peer.nextResponse(200, 'OPTIONS');
    } finally { peer.close(); }
  });

  test('TCP, with a message split over many writes', async () => {
    const peer = await SipPeer.tcp(sbc.listener('tcp').boundPort);
    try {
      const text = options(sbc.hostPort('tcp'), `127.0.0.1:${peer.address.port}`, 'TCP');
      for (let i = 0; i < text.length; i += 7) peer.send(text.slice(i, i + 7));
      await peer.nextResponse(200, 'OPTIONS');
    } finally { peer.close(); }
  });

  test('TLS', async () => {
    const port = sbc.listener('tls').boundPort;
    const sock = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false });
    try {
      await new Promise<void>((resolve, reject) => { sock.once('secureConnect', () => resolve()); sock.once('error', reject); });
      const framer = new StreamFramer();
      const got = new Promise<number>((resolve) => sock.on('data', (c: Buffer) => {
        for (const ev of framer.push(c)) if (ev.kind === 'message') {
          const r = parseMessage(ev.data);
          if (r.ok && r.value.kind === 'response') resolve(r.value.status);
        }
      }));
      sock.write(options(`127.0.0.1:${port}`, 'client.invalid', 'TLS'));
      assert.equal(await got, 200);
    } finally { sock.destroy(); }
  });

  test('WS, text and binary frames; CRLF keepalive answered', async () => {
    const peer = await SipPeer.ws(`ws://127.0.0.1:${sbc.listener('ws').boundPort}`);
    try {
      peer.send(options(sbc.hostPort('ws'), 'abc.invalid', 'WS'));
      await peer.nextResponse(200, 'OPTIONS');
      peer.send(options(sbc.hostPort('ws'), 'abc.invalid', 'WS'), undefined, { binary: true });
      await peer.nextResponse(200, 'OPTIONS');
      peer.send('\r\n\r\n');
      const deadline = Date.now() + 2000;
      while (peer.keepalives.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(peer.keepalives, ['\r\n']);
    } finally { peer.close(); }
  });

  test('WSS', async () => {
    const peer = await SipPeer.ws(`wss://127.0.0.1:${sbc.listener('wss').boundPort}`);
    try {
      peer.send(options(sbc.hostPort('wss'), 'abc.invalid', 'WSS'));
      await peer.nextResponse(200, 'OPTIONS');
    } finally { peer.close(); }
  });

  test('a WebSocket client without the sip subprotocol is refused', async () => {
    await assert.rejects(SipPeer.ws(`ws://127.0.0.1:${sbc.listener('ws').boundPort}`, []));
  });

  test('the softphone page is served over HTTPS on the WSS port', async () => {
    const page = await httpsGet(sbc.listener('wss').boundPort, '/');
    assert.equal(page.status, 200);
    assert.match(page.type, /text\/html/);
    assert.match(page.body, /<script[^>]+src="[^"]*app\.js"/);
    const missing = await httpsGet(sbc.listener('wss').boundPort, '/../package.json');
    assert.equal(missing.status, 404);
  });

  test('/healthz reports the listeners as up; /metrics counts messages both ways', async () => {
    const health = await fetch(`${sbc.adminUrl}/healthz`);
    assert.equal(health.status, 200);
    const metrics = await (await fetch(`${sbc.adminUrl}/metrics`)).text();
    assert.match(metrics, /sbc_sip_messages_total\{[^}]*method="OPTIONS"[^}]*\} [1-9]/);
    // What leaves is counted too: the answers to those OPTIONS, per transport they left on.
    assert.match(metrics, /sbc_sip_messages_total\{direction="out",transport="udp",method="response"\} [1-9]/);
    assert.match(metrics, /sbc_sip_messages_total\{direction="out",transport="wss",method="response"\} [1-9]/);
  });
});

describe('a real SIP tool', () => {
  test('sipsak (a real SIP tool) gets 200 over UDP and TCP', async (t) => {
    // sipsak mangles five-digit ports, so this SBC listens on a four-digit one.
    const port = await freePortInRange();
    const small = await startSbc({ listen: [{ transport: 'udp', address: '127.0.0.1', port }, { transport: 'tcp', address: '127.0.0.1', port }] });
    t.after(() => small.stop());
    for (const transport of ['udp', 'tcp'] as const) {
      // Asynchronous on purpose: the SBC runs in this process and must keep answering.
      const r = await new Promise<{ code: number | null; out: string; err?: Error }>((resolve) => {
        execFile('sipsak', ['-vv', '-s', `sip:127.0.0.1:${port}`, '-H', '127.0.0.1', ...(transport === 'tcp' ? ['-E', 'tcp'] : [])], { encoding: 'utf8', timeout: 10_000 }, (err, stdout, stderr) => {
          resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, out: stdout + stderr, ...(err !== null && typeof err.code !== 'number' ? { err } : {}) });
        });
      });
      assert.equal(r.err, undefined, `sipsak must be installed (apt-get install sipsak): ${String(r.err)}`);
      assert.equal(r.code, 0, `sipsak over ${transport}: ${r.out}`);
    }
  });

});
