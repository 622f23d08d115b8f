/**
 * Request screening against real scanners (sipvicious's svmap and svwar)
 * and scripted peers on several loopback addresses: scanners see nothing,
 * a source over its rate gets one 503 and then silence until its ban ends,
 * and everyone else is answered throughout.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, test, type TestContext } from 'node:test';
import { configSchema, defaultConfig } from '../../../src/config/schema.js';
import { rand, request, response, SipPeer } from '../../helpers/sip-peer.js';
import { startSbc, startSbcInProcess, type TestSbc } from '../../helpers/sbc.js';

/** The product's screening defaults (the test helper turns them off for other tests). */
const PRODUCT_SECURITY = (() => {
  const s = defaultConfig().security;
  return { rateLimit: s.rateLimit, blockedUserAgents: s.blockedUserAgents };
})();

async function sbcFor(t: TestContext, input: Record<string, unknown>): Promise<TestSbc> {
  const sbc = await startSbc(input);
  t.after(() => sbc.stop());
  return sbc;
}

async function peerOn(t: TestContext, address: string): Promise<SipPeer> {
  const peer = await SipPeer.udp(address);
  t.after(() => peer.close());
  return peer;
}

/** Output (stdout and stderr) of a real tool; fails the test when it cannot run. */
function run(command: string, args: string[], timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { encoding: 'utf8', timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err !== null && typeof err.code !== 'number') reject(new Error(`${command} must be installed (apt-get install sipvicious): ${err.message}\n${stdout}${stderr}`));
      else resolve(stdout + stderr);
    });
  });
}

/** sbc_rejected_requests_total by reason, from GET /metrics. */
async function rejected(sbc: TestSbc): Promise<Record<string, number>> {
  const text = await (await fetch(`${sbc.adminUrl}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^sbc_rejected_requests_total\{reason="([^"]+)"\} (\d+)/gm)) out[m[1]!] = Number(m[2]);
  return out;
}

/** An OPTIONS to the SBC itself (no user part: answered 200 by the SBC, CONTRACT.md). */
function optionsToSbc(sbc: TestSbc, from: SipPeer, cseq = 1, callId = rand(8)): string {
  return request({ method: 'OPTIONS', uri: `sip:${sbc.hostPort('udp')}`, sentBy: `${from.address.address}:${from.address.port}`, callId, cseq, headers: ['User-Agent: SIP.js/0.21.2'] });
}

function udpOf(sbc: TestSbc): { address: string; port: number } {
  return { address: '127.0.0.1', port: sbc.listener('udp').boundPort };
}

/** Nothing at all arrives on `peer` for `ms`. */
async function silence(peer: SipPeer, ms: number): Promise<void> {
  const before = peer.received.length;
  await new Promise((r) => setTimeout(r, ms));
  assert.deepEqual(peer.received.slice(before).map((r) => r.raw.slice(0, r.raw.indexOf('\r\n'))), [], 'no answer expected');
}

/** A registrar that knows extension 105 (it challenges) and no other (404): what svwar looks for. */
async function registrarKnowing105(t: TestContext): Promise<{ uri: string }> {
  const peer = await peerOn(t, '127.0.0.1');
  peer.onMessage = (r, p) => {
    if (r.msg.kind !== 'request') return;
    const known = /sips?:105@/.test(r.msg.headers.get('to') ?? '');
    if (r.msg.method === 'REGISTER' && known) {
      p.send(response(r.msg, 401, 'Unauthorized', { toTag: rand(3), headers: ['WWW-Authenticate: Digest realm="example.com", nonce="abc", qop="auth", algorithm=MD5'] }), r.from);
    } else if (r.msg.method !== 'ACK') {
      p.send(response(r.msg, 404, 'Not Found', { toTag: rand(3) }), r.from);
    }
  };
  return { uri: `sip:127.0.0.1:${peer.address.port};transport=udp` };
}

function backends(uri: string): Record<string, unknown> {
  return { default: { targets: [{ uri }], probe: { method: 'OPTIONS', intervalSeconds: 0 } } };
}

/** svmap lists each SIP device it found as `| host:port | User-Agent |`. */
const svmapFound = (out: string, port: number): boolean => out.includes(`127.0.0.1:${port}`);
/** svwar lists each extension it found as `| 105 | reqauth |`. */
const svwarFound = (out: string): string[] => [...out.matchAll(/^\|\s*(\d+)\s*\|\s*(\w+)\s*\|/gm)].map((m) => m[1]!);

describe('scanner blocking against sipvicious', () => {
  test('svmap does find an SBC that blocks no User-Agent (the scan works)', async (t) => {
    const sbc = await sbcFor(t, {});
    const port = sbc.listener('udp').boundPort;
    const out = await run('svmap', ['127.0.0.1', '-p', String(port)]);
    assert.ok(svmapFound(out, port), `svmap output:\n${out}`);
  });

  test('with the default blockedUserAgents svmap finds nothing, the drop is counted, the scanner\'s address stays banned, and other clients are answered', async (t) => {
    const sbc = await sbcFor(t, { security: PRODUCT_SECURITY });
    const port = sbc.listener('udp').boundPort;
    const out = await run('svmap', ['127.0.0.1', '-p', String(port)]);
    assert.ok(!svmapFound(out, port), `svmap must list no SIP device:\n${out}`);
    assert.match(out, /found nothing/);
    const counted = await rejected(sbc);
    assert.ok((counted['blocked-user-agent'] ?? 0) >= 1, JSON.stringify(counted));

    const other = await peerOn(t, '127.0.0.2');
    other.send(optionsToSbc(sbc, other), udpOf(sbc));
    const ok = await other.nextResponse(200, 'OPTIONS', 3000);
    assert.equal(ok.from.port, port);

    // The scanner comes back from its address under an ordinary User-Agent: still dropped.
    const comeback = await peerOn(t, '127.0.0.1');
    comeback.send(optionsToSbc(sbc, comeback), udpOf(sbc));
    await silence(comeback, 700);
    assert.ok(((await rejected(sbc)).banned ?? 0) >= 1);
  });

  test('svwar enumerates extensions through an SBC that blocks no User-Agent (the scan works)', async (t) => {
    const registrar = await registrarKnowing105(t);
    const sbc = await sbcFor(t, { backends: backends(registrar.uri) });
    const out = await run('svwar', ['-e100-110', '-m', 'REGISTER', '-p', String(sbc.listener('udp').boundPort), '127.0.0.1']);
    assert.deepEqual(svwarFound(out), ['105'], `svwar output:\n${out}`);
  });

  test('with the default blockedUserAgents svwar finds no extension', async (t) => {
    const registrar = await registrarKnowing105(t);
    const sbc = await sbcFor(t, { backends: backends(registrar.uri), security: PRODUCT_SECURITY });
    const out = await run('svwar', ['-e100-110', '-m', 'REGISTER', '-p', String(sbc.listener('udp').boundPort), '127.0.0.1']);
    assert.deepEqual(svwarFound(out), [], `svwar must find nothing:\n${out}`);
    assert.ok(((await rejected(sbc))['blocked-user-agent'] ?? 0) >= 1);
  });
});

describe('scanner blocking over connections', () => {
  test('a TCP connection that sends a scanner\'s request is closed without an answer; another source on TCP is answered', async (t) => {
    const sbc = await sbcFor(t, { security: PRODUCT_SECURITY });
    const scanner = await SipPeer.tcp(sbc.listener('tcp').boundPort, '127.0.0.1');
    t.after(() => scanner.close());
    scanner.send(request({ method: 'OPTIONS', uri: `sip:100@${sbc.hostPort('tcp')}`, sentBy: `127.0.0.1:${scanner.address.port}`, viaTransport: 'TCP', headers: ['User-Agent: friendly-scanner'] }));
    const deadline = Date.now() + 3000;
    while (!scanner.closedByRemote && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(scanner.closedByRemote, true, 'the SBC closed the scanner\'s connection');
    assert.equal(scanner.received.length, 0, 'and answered nothing');

    const phone = await SipPeer.tcp(sbc.listener('tcp').boundPort, '127.0.0.1', { localAddress: '127.0.0.2' });
    t.after(() => phone.close());
    phone.send(request({ method: 'OPTIONS', uri: `sip:${sbc.hostPort('tcp')}`, sentBy: `127.0.0.2:${phone.address.port}`, viaTransport: 'TCP', headers: ['User-Agent: SIP.js/0.21.2'] }));
    await phone.nextResponse(200, 'OPTIONS');
    assert.equal((await rejected(sbc))['blocked-user-agent'], 1);
  });
});

describe('reload', () => {
  test('POST /api/reload applies blockedUserAgents without a restart', async (t) => {
    const base = { security: { blockedUserAgents: [], rateLimit: { requestsPerSecondPerIp: 0 } } };
    const next = configSchema.parse({ ...base, security: { blockedUserAgents: ['evil-scanner'], rateLimit: { requestsPerSecondPerIp: 0 } } });
    const sbc = await startSbcInProcess(base, { reloadConfig: async () => ({ ok: true as const, value: { config: next } }) });
    t.after(() => sbc.stop());
    const scan = (peer: SipPeer, userAgent: string): void =>
      peer.send(request({ method: 'OPTIONS', uri: `sip:${sbc.hostPort('udp')}`, sentBy: `${peer.address.address}:${peer.address.port}`, headers: [`User-Agent: ${userAgent}`] }), udpOf(sbc));

    const before = await peerOn(t, '127.0.0.2');
    scan(before, 'evil-scanner 1.0');
    await before.nextResponse(200, 'OPTIONS');

    const res = await fetch(`${sbc.adminUrl}/api/reload`, { method: 'POST' });
    const body = (await res.json()) as { applied: string[]; restartNeeded: string[] };
    assert.equal(res.status, 200);
    assert.ok(body.applied.includes('security.blockedUserAgents'), JSON.stringify(body));
    assert.ok(!body.restartNeeded.includes('security'), JSON.stringify(body));

    const after = await peerOn(t, '127.0.0.4');
    scan(after, 'evil-scanner 1.0');
    await silence(after, 500);
    const phone = await peerOn(t, '127.0.0.5');
    scan(phone, 'SIP.js/0.21.2');
    await phone.nextResponse(200, 'OPTIONS');
    assert.equal((await rejected(sbc))['blocked-user-agent'], 1);
  });
});

describe('per-IP rate limit', () => {
  test('over requestsPerSecondPerIp + burst: burst answered, one 503 with Retry-After, then silence until the ban ends; another IP is unaffected', async (t) => {
    const rateLimit = { requestsPerSecondPerIp: 1, burst: 5, banSeconds: 2 };
    const sbc = await sbcFor(t, { security: { rateLimit } });
    const flooder = await peerOn(t, '127.0.0.1');
    const bystander = await peerOn(t, '127.0.0.3');

    const sent = rateLimit.requestsPerSecondPerIp + rateLimit.burst + 5;
    const callId = rand(8);
    for (let cseq = 1; cseq <= sent; cseq++) flooder.send(optionsToSbc(sbc, flooder, cseq, callId), udpOf(sbc));
    const rejection = await flooder.nextResponse(503, 'OPTIONS', 3000);
    const bannedAt = Date.now();
    await silence(flooder, 500);
    const answers = flooder.received.map((r) => (r.msg.kind === 'response' ? `${r.msg.cseq()?.seq} ${r.msg.status}` : 'request'));
    assert.deepEqual(answers, ['1 200', '2 200', '3 200', '4 200', '5 200', '6 503']);
    assert.equal(rejection.msg.headers.get('retry-after'), String(rateLimit.banSeconds));

    bystander.send(optionsToSbc(sbc, bystander), udpOf(sbc));
    await bystander.nextResponse(200, 'OPTIONS', 3000);

    flooder.send(optionsToSbc(sbc, flooder, 100), udpOf(sbc));
    await silence(flooder, 300);
    assert.deepEqual(await rejected(sbc), { 'rate-limited': 1, banned: sent - 6 + 1 });

    await new Promise((r) => setTimeout(r, Math.max(0, bannedAt + rateLimit.banSeconds * 1000 + 200 - Date.now())));
    flooder.send(optionsToSbc(sbc, flooder, 101), udpOf(sbc));
    const again = await flooder.next((r) => r.msg.kind === 'response' && r.msg.cseq()?.seq === 101, 3000);
    assert.equal(again.msg.kind === 'response' && again.msg.status, 200, 'answered again once the ban has ended');
  });
});
