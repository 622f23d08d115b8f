/**
 * The compose stack run without containers: RTPEngine, Redis, Kamailio and
 * the gateway are started here with exactly the commands and configuration
 * files docker/compose.yaml gives them (entry points from their Dockerfiles,
 * mounted paths mapped back to the repository), on the fixed ports the
 * stack uses, so it only runs in the loopback-only network namespace of the
 * test runner. A WSS client registers through the gateway at the Kamailio
 * registrar; a phone calls it through Kamailio; the call is set up with
 * RTPEngine turning plain RTP into WebRTC and back, and hung up.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { parse } from 'yaml';
import type { SipRequest } from '../../../src/sip/message.js';
import { stop } from '../../helpers/child-signals.js';
import { repoRoot } from '../../helpers/paths.js';
import { rand, request, response, SipPeer, uacRouteSet } from '../../helpers/sip-peer.js';

const dockerDir = join(repoRoot, 'docker');
interface Service { command?: string[]; volumes?: string[]; environment?: Record<string, string> }
const services = (parse(readFileSync(join(dockerDir, 'compose.yaml'), 'utf8')) as { services: Record<string, Service> }).services;

/** `${NAME:-default}` as compose substitutes it with NAME unset. */
const substitute = (s: string): string => s.replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1');

/** A service's command with its mounted container paths replaced by the repository files mounted there. */
function commandOf(name: string, entrypoint: string[]): string[] {
  const s = services[name]!;
  const mounts = new Map((s.volumes ?? []).filter((v) => v.startsWith('./')).map((v) => [v.split(':')[1]!, resolve(dockerDir, v.split(':')[0]!)]));
  return [...entrypoint, ...(s.command ?? [])].map((a) => mounts.get(substitute(a)) ?? substitute(a));
}

function entrypointOf(dockerfile: string): string[] {
  const m = /^ENTRYPOINT (\[.*\])$/m.exec(readFileSync(join(dockerDir, dockerfile), 'utf8'));
  assert.ok(m, `${dockerfile} has an exec-form ENTRYPOINT`);
  return JSON.parse(m[1]!) as string[];
}

interface Proc { child: ChildProcess; exited: Promise<void>; log: string[] }

function run(argv: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Proc {
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  const log: string[] = [];
  const keep = (c: Buffer): void => {
    log.push(...c.toString().split('\n').filter((l) => l !== ''));
    if (log.length > 2000) log.splice(0, log.length - 2000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return { child, exited, log };
}

async function until(what: string, proc: Proc, probe: () => Promise<boolean>, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (proc.child.exitCode !== null) throw new Error(`${what} exited (${proc.child.exitCode}):\n${proc.log.slice(-30).join('\n')}`);
    if (await probe().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} not ready within ${ms} ms:\n${proc.log.slice(-30).join('\n')}`);
}

function udpAnswers(port: number, payload: string, expect: string): Promise<boolean> {
  return new Promise((resolveAnswer) => {
    const s = createSocket('udp4');
    const timer = setTimeout(() => { s.close(); resolveAnswer(false); }, 300);
    s.on('message', (m) => { clearTimeout(timer); s.close(); resolveAnswer(m.toString('latin1').includes(expect)); });
    s.on('error', () => { clearTimeout(timer); s.close(); resolveAnswer(false); });
    s.send(payload, port, '127.0.0.1');
  });
}

const tcpOpen = (port: number): Promise<boolean> => new Promise((r) => {
  const c = connect(port, '127.0.0.1', () => { c.destroy(); r(true); });
  c.on('error', () => r(false));
});

const PHONE_SDP = ['v=0', 'o=phone 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', 'm=audio 30000 RTP/AVP 0 101', 'a=rtpmap:0 PCMU/8000', 'a=rtpmap:101 telephone-event/8000', 'a=sendrecv', ''].join('\r\n');
const FINGERPRINT = Array.from({ length: 32 }, (_, i) => (i * 7 + 16).toString(16).padStart(2, '0').toUpperCase()).join(':');
const browserAnswer = (mid: string): string => ['v=0', 'o=- 2 1 IN IP4 127.0.0.1', 's=-', 't=0 0', `a=group:BUNDLE ${mid}`, 'm=audio 9 UDP/TLS/RTP/SAVPF 0', 'c=IN IP4 0.0.0.0',
  'a=ice-ufrag:Hk3z', 'a=ice-pwd:Zm9vYmFyYmF6cXV4MTIzNDU2', `a=fingerprint:sha-256 ${FINGERPRINT}`, 'a=setup:active', `a=mid:${mid}`, 'a=sendrecv', 'a=rtcp-mux',
  'a=rtpmap:0 PCMU/8000', 'a=candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host', ''].join('\r\n');

const inNetns = process.env.TEST_IN_NETNS === '1';
/** The ports the stack's own files give: the gateway's WSS listener and Kamailio's UDP listener. */
const wssPort = (parse(readFileSync(join(dockerDir, 'sbc.yaml'), 'utf8')) as { listen: Array<{ transport: string; port: number }> }).listen.find((l) => l.transport === 'wss')!.port;
const kamailioPort = Number(/^listen=udp:[\d.]+:(\d+)$/m.exec(readFileSync(join(dockerDir, 'kamailio', 'kamailio.cfg'), 'utf8'))![1]);

describe('the compose stack run without containers', { skip: inNetns ? false : 'NOT RUN: needs the loopback-only network namespace of scripts/run-tests.mjs (root), the stack uses fixed ports' }, () => {
  const procs: Proc[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'sbc-stack-'));

  before(async () => {
    const redis = run(commandOf('redis', []));
    procs.push(redis);
    const redisCmd = services.redis!.command!;
    const redisPort = Number(redisCmd[redisCmd.indexOf('--port') + 1]);
    await until('redis', redis, () => tcpOpen(redisPort));

    const rtpengine = run(commandOf('rtpengine', entrypointOf('rtpengine/Dockerfile')));
    procs.push(rtpengine);
    const ng = Number(commandOf('rtpengine', []).find((a) => a.startsWith('--listen-ng='))!.split(':').pop());
    await until('rtpengine', rtpengine, () => udpAnswers(ng, `c${rand(3)} d7:command4:pinge`, '4:pong'));

    // Kamailio's runtime directory: in the image the package made it; here a temporary one.
    const kamailio = run([...commandOf('kamailio', entrypointOf('kamailio/Dockerfile')), '-Y', dir, '-P', join(dir, 'kamailio.pid')]);
    procs.push(kamailio);
    const options = (port: number): string => request({ method: 'OPTIONS', uri: `sip:127.0.0.1:${port}`, sentBy: '127.0.0.1:9', callId: rand(6) });
    await until('kamailio', kamailio, () => udpAnswers(kamailioPort, options(kamailioPort), 'SIP/2.0 200'));

    // The image's working directory holds web/ and certs/; here a temporary one and the repository's page.
    const gw = services.gateway!;
    const env: NodeJS.ProcessEnv = { ...process.env, SBC_WEB__ROOT: join(repoRoot, 'web') };
    for (const [k, v] of Object.entries(gw.environment ?? {})) env[k] = substitute(v);
    const gateway = run(commandOf('gateway', [process.execPath, join(repoRoot, 'dist', 'src', 'main.js')]), { cwd: dir, env });
    procs.push(gateway);
    await until('gateway', gateway, async () => gateway.log.some((l) => l.includes('"webrtc-sbc started"')), 30_000);
  });

  after(async () => {
    for (const p of procs.reverse()) await stop(p.child, p.exited);
    rmSync(dir, { recursive: true, force: true });
  });

  test('a WSS client registers at Kamailio through the gateway and is called from a phone, media through RTPEngine', async () => {
    const client = await SipPeer.ws(`wss://127.0.0.1:${wssPort}`);
    const phone = await SipPeer.udp();
    try {
      const aor = '<sip:alice@127.0.0.1>';
      client.send(request({ method: 'REGISTER', uri: 'sip:127.0.0.1', sentBy: 'abc.invalid', viaTransport: 'WSS', from: aor, to: aor, contact: '<sip:alice@abc.invalid;transport=ws>;expires=300', headers: ['Supported: path, outbound'] }));
      const registered = await client.nextResponse((s) => s >= 200, 'REGISTER', 10_000);
      assert.equal(registered.msg.kind === 'response' && registered.msg.status, 200, registered.raw);

      client.onMessage = (r, p) => {
        if (r.msg.kind !== 'request') return;
        const req = r.msg as SipRequest;
        if (req.method === 'INVITE') {
          const mid = /a=mid:(\S+)/.exec(r.raw)?.[1] ?? '0';
          p.send(response(req, 180, 'Ringing', { toTag: 'alice1' }));
          p.send(response(req, 200, 'OK', { toTag: 'alice1', headers: ['Contact: <sip:alice@abc.invalid;transport=ws>'], body: browserAnswer(mid) }));
        } else if (req.method === 'BYE') p.send(response(req, 200, 'OK'));
      };
      const callId = `stack-${rand(6)}`;
      const kam = { address: '127.0.0.1', port: kamailioPort };
      const base = { sentBy: `127.0.0.1:${phone.address.port}`, callId, from: '<sip:carol@127.0.0.1>', fromTag: 'c1', to: aor };
      phone.send(request({ ...base, method: 'INVITE', uri: `sip:alice@127.0.0.1:${kamailioPort}`, contact: `<sip:carol@127.0.0.1:${phone.address.port}>`, body: PHONE_SDP }), kam);

      const invite = await client.nextRequest('INVITE', 10_000);
      assert.match(invite.raw, /m=audio \d+ UDP\/TLS\/RTP\/SAVPF /, 'RTPEngine offered WebRTC to the browser');
      assert.match(invite.raw, /a=fingerprint:/);
      assert.match(invite.raw, /a=ice-ufrag:/);
      const ok = await phone.nextResponse(200, 'INVITE', 10_000);
      const audio = /m=audio (\d+) RTP\/AVP /.exec(ok.raw);
      assert.ok(audio, `plain RTP toward the phone:\n${ok.raw}`);
      const rtpengineArgs = services.rtpengine!.command!;
      const low = Number(rtpengineArgs.find((a) => a.startsWith('--port-min='))!.split('=')[1]);
      const high = Number(rtpengineArgs.find((a) => a.startsWith('--port-max='))!.split('=')[1]);
      assert.ok(Number(audio[1]) >= low && Number(audio[1]) <= high, `the phone sends to RTPEngine's port range (${audio[1]})`);
      assert.doesNotMatch(ok.raw, /a=fingerprint|a=ice-/, 'no WebRTC attributes toward the phone');

      const routes = uacRouteSet(ok.msg).map((r) => `Route: ${r}`);
      const target = /<([^>]+)>/.exec(ok.msg.headers.values('contact')[0] ?? '')?.[1] ?? '';
      phone.send(request({ ...base, method: 'ACK', uri: target, toTag: 'alice1', headers: routes }), kam);
      await client.nextRequest('ACK', 10_000);
      // While the call is up, its state is in the stack's Redis.
      const redisCmd = services.redis!.command!;
      const redis = new Redis({ host: '127.0.0.1', port: Number(redisCmd[redisCmd.indexOf('--port') + 1]), lazyConnect: true });
      try {
        await redis.connect();
        const keys = await redis.keys('sbc:*');
        assert.ok(keys.length > 0, 'the gateway keeps the call\'s state in Redis (state.store: redis)');
      } finally {
        redis.disconnect();
      }
      phone.send(request({ ...base, method: 'BYE', uri: target, toTag: 'alice1', cseq: 2, headers: routes }), kam);
      await client.nextRequest('BYE', 10_000);
      await phone.nextResponse(200, 'BYE', 10_000);

    } finally {
      client.close();
      phone.close();
    }
  });
});
