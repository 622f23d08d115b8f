/**
 * A UDP load generator, one process. Modes:
 *   call     INVITE → (100, 180) 200 → ACK, BYE → 200; ACK and BYE go
 *            through the route set of the 200's Record-Route, reversed
 *            (RFC 3261 §12.1.2), to its Contact.
 *   register REGISTER → 200, every one a new registration (fresh Call-ID, AOR).
 *   refresh  REGISTER → 200 reusing Call-ID with CSeq + 1 (RFC 3261 §10.2.4)
 *            over a pool of rate/2 AORs registered first (at most 2,000/s).
 * No retransmissions: a lost datagram is a failure, found by the per-call
 * timeout. Latency is request sent → 200 received (INVITE or REGISTER).
 * Every datagram goes to --target (the SBC, or the UAS when measured directly).
 *
 * Run: node dist/bench/load/uac.js --target 127.0.0.1:5060 --mode call --rate 500 --duration 5
 * Prints one JSON WorkerReport on stdout, or sends it over IPC when forked.
 */
import { createSocket } from 'node:dgram';
import { parseArgs } from 'node:util';
import { pace } from './pacer.js';
import { cseqMethod, headerValue, lineName, recordRoutes, splitMessage, statusOf, uriOf, type SipText } from './sip-text.js';
import type { WorkerReport } from './stats.js';

type Mode = 'call' | 'register' | 'refresh';

const { values } = parseArgs({
  options: {
    target: { type: 'string' },
    mode: { type: 'string', default: 'call' },
    rate: { type: 'string', default: '100' },
    duration: { type: 'string', default: '5' },
    timeout: { type: 'string', default: '5000' },
    worker: { type: 'string', default: '0' },
    run: { type: 'string', default: Date.now().toString(36) },
    host: { type: 'string', default: '127.0.0.1' },
    sdp: { type: 'string', default: 'plain' },
  },
});

const mode = values.mode as Mode;
if (!['call', 'register', 'refresh'].includes(mode)) throw new Error(`--mode must be call, register or refresh, not ${mode}`);
const [targetHost, targetPortText] = (values.target ?? '').split(/:(?=\d+$)/);
if (targetHost === undefined || targetHost === '' || targetPortText === undefined) throw new Error('--target host:port is required');
const targetPort = Number(targetPortText);
const rate = Number(values.rate);
const durationS = Number(values.duration);
const timeoutMs = Number(values.timeout);
const host = values.host ?? '127.0.0.1';
const prefix = `${values.run}-${values.worker}-`;
const DOMAIN = 'bench.invalid';
const RECV_BUFFER = 4 * 1024 * 1024;
/** Headers the ACK for a non-2xx copies from the response, besides the top Via (RFC 3261 §17.1.1.3). */
const ACK_COPIES = new Set(['from', 'f', 'to', 't', 'call-id', 'i']);

/** One call or one REGISTER in flight. */
interface Pending {
  callId: string;
  t0: number;
  /** What the next final response answers. */
  phase: 'INVITE' | 'BYE' | 'REGISTER';
  fromTag: string;
  user: string;
  cseq: number;
}

/** A registration kept for refreshes. */
interface Binding {
  callId: string;
  fromTag: string;
  user: string;
  cseq: number;
}

const socket = createSocket({ type: host.includes(':') ? 'udp6' : 'udp4', recvBufferSize: RECV_BUFFER, sendBufferSize: RECV_BUFFER });
let localPort = 0;
let branchSeq = 0;
const pending = new Map<string, Pending>();
/** Start order, for the timeout sweep: the oldest is at `head`. */
const order: Pending[] = [];
let head = 0;
const failures: Record<string, number> = {};
const latencies: number[] = [];
let started = 0;
let ok = 0;
let failed = 0;

function fail(p: Pending, reason: string): void {
  if (!pending.delete(p.callId)) return;
  failed++;
  failures[reason] = (failures[reason] ?? 0) + 1;
}

function send(text: string): void {
  socket.send(text, targetPort, targetHost);
}

function via(): string {
  return `Via: SIP/2.0/UDP ${host}:${localPort};branch=z9hG4bK${prefix}${(branchSeq++).toString(36)};rport`;
}

function message(startLine: string, headers: string[], body = ''): string {
  return `${startLine}\r\n${headers.join('\r\n')}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

const PLAIN_SDP =
  'v=0\r\n' +
  `o=uac 1 1 IN IP4 ${host}\r\n` +
  's=-\r\n' +
  `c=IN IP4 ${host}\r\n` +
  't=0 0\r\n' +
  'm=audio 30000 RTP/AVP 0\r\n' +
  'a=rtpmap:0 PCMU/8000\r\n';

/** A browser-shaped offer (DTLS-SRTP, ICE, rtcp-mux, BUNDLE): makes the SBC run it through the media engine. */
const WEBRTC_SDP = [
  'v=0',
  `o=- 4611731400430051336 2 IN IP4 ${host}`,
  's=-',
  't=0 0',
  'a=group:BUNDLE 0',
  'a=msid-semantic: WMS s1',
  'm=audio 30000 UDP/TLS/RTP/SAVPF 111 0 8 126',
  `c=IN IP4 ${host}`,
  `a=rtcp:30000 IN IP4 ${host}`,
  `a=candidate:1467250027 1 udp 2122260223 ${host} 30000 typ host generation 0`,
  'a=ice-ufrag:Kf8w',
  'a=ice-pwd:Y3dNtHhWbJq0VwZ2m7pS0t1A',
  'a=fingerprint:sha-256 7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08',
  'a=setup:actpass',
  'a=mid:0',
  'a=sendrecv',
  'a=rtcp-mux',
  'a=rtpmap:111 opus/48000/2',
  'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:8 PCMA/8000',
  'a=rtpmap:126 telephone-event/8000',
  'a=ssrc:3735928559 cname:4TOk42mSjXCkVIa6',
  '',
].join('\r\n');

const SDP = values.sdp === 'webrtc' ? WEBRTC_SDP : PLAIN_SDP;

function track(p: Pending): void {
  pending.set(p.callId, p);
  order.push(p);
  started++;
}

function startCall(index: number): void {
  const p: Pending = { callId: `${prefix}${index}@${DOMAIN}`, t0: performance.now(), phase: 'INVITE', fromTag: `a${index}`, user: `u${index}`, cseq: 1 };
  track(p);
  send(
    message(
      `INVITE sip:callee${index}@${DOMAIN} SIP/2.0`,
      [
        via(),
        'Max-Forwards: 70',
        `From: <sip:${p.user}@${DOMAIN}>;tag=${p.fromTag}`,
        `To: <sip:callee${index}@${DOMAIN}>`,
        `Call-ID: ${p.callId}`,
        'CSeq: 1 INVITE',
        `Contact: <sip:${p.user}@${host}:${localPort}>`,
        'Content-Type: application/sdp',
      ],
      SDP,
    ),
  );
}

function sendRegister(b: Binding): void {
  const p: Pending = { callId: b.callId, t0: performance.now(), phase: 'REGISTER', fromTag: b.fromTag, user: b.user, cseq: b.cseq };
  track(p);
  send(
    message(`REGISTER sip:${DOMAIN} SIP/2.0`, [
      via(),
      'Max-Forwards: 70',
      `From: <sip:${b.user}@${DOMAIN}>;tag=${b.fromTag}`,
      `To: <sip:${b.user}@${DOMAIN}>`,
      `Call-ID: ${b.callId}`,
      `CSeq: ${b.cseq} REGISTER`,
      `Contact: <sip:${b.user}@${host}:${localPort}>`,
      'Expires: 600',
    ]),
  );
}

function newBinding(index: number, tag: string): Binding {
  return { callId: `${prefix}${tag}${index}@${DOMAIN}`, fromTag: `r${index}`, user: `${tag}${index}`, cseq: 1 };
}

/** ACK (its own transaction for a 2xx, RFC 3261 §13.2.2.4) and BYE, both along the route set. */
function ackAndBye(p: Pending, res: SipText): void {
  const to = headerValue(res, 'to') ?? '';
  const contact = headerValue(res, 'contact');
  const target = contact === undefined ? `sip:${targetHost}:${targetPort}` : uriOf(contact);
  const routes = recordRoutes(res).reverse().map((r) => `Route: ${r}`);
  const common = [`From: <sip:${p.user}@${DOMAIN}>;tag=${p.fromTag}`, `To: ${to}`, `Call-ID: ${p.callId}`];
  send(message(`ACK ${target} SIP/2.0`, [via(), ...routes, 'Max-Forwards: 70', ...common, 'CSeq: 1 ACK']));
  p.phase = 'BYE';
  send(message(`BYE ${target} SIP/2.0`, [via(), ...routes, 'Max-Forwards: 70', ...common, 'CSeq: 2 BYE']));
}

/** ACK for a non-2xx final answer to INVITE: part of the INVITE transaction, same branch (RFC 3261 §17.1.1.3). */
function ackFailure(res: SipText): void {
  const headers: string[] = [];
  let sawVia = false;
  for (const line of res.lines) {
    const name = lineName(line);
    if (name === 'via' || name === 'v') {
      if (!sawVia) headers.push(line);
      sawVia = true;
    } else if (ACK_COPIES.has(name)) headers.push(line);
  }
  send(message(`ACK sip:${targetHost}:${targetPort} SIP/2.0`, [...headers, 'Max-Forwards: 70', 'CSeq: 1 ACK']));
}

socket.on('message', (buf) => {
  const text = buf.toString('latin1');
  const status = statusOf(text.slice(0, 12));
  if (status === 0) return; // requests toward a UAC are not part of this bench
  const res = splitMessage(text);
  const callId = headerValue(res, 'call-id');
  const cseq = headerValue(res, 'cseq');
  if (callId === undefined || cseq === undefined) return;
  const p = pending.get(callId);
  const method = cseqMethod(cseq);
  if (p === undefined || method !== p.phase) {
    if (method === 'INVITE' && status >= 300) ackFailure(res);
    return;
  }
  if (p.phase === 'REGISTER' && Number.parseInt(cseq, 10) !== p.cseq) return;
  if (status < 200) return;
  if (status >= 300) {
    if (method === 'INVITE') ackFailure(res);
    fail(p, `status:${status}:${method}`);
    return;
  }
  if (p.phase === 'INVITE') {
    latencies.push(Math.round((performance.now() - p.t0) * 1000) / 1000);
    ackAndBye(p, res);
    return;
  }
  if (p.phase === 'REGISTER') latencies.push(Math.round((performance.now() - p.t0) * 1000) / 1000);
  pending.delete(callId);
  ok++;
});

/** Fail what has waited longer than the timeout, oldest first. */
function sweep(): void {
  const now = performance.now();
  while (head < order.length) {
    const p = order[head];
    if (p === undefined) break;
    if (pending.get(p.callId) !== p) {
      head++;
      continue;
    }
    if (now - p.t0 <= timeoutMs) break;
    fail(p, `timeout:${p.phase}`);
    head++;
  }
  if (head > 10_000) {
    order.splice(0, head);
    head = 0;
  }
}

async function drain(): Promise<void> {
  const deadline = performance.now() + timeoutMs + 500;
  while (pending.size > 0 && performance.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    sweep();
  }
  for (const p of [...pending.values()]) fail(p, `timeout:${p.phase}`);
}

function cpuMsSince(start: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(start);
  return (d.user + d.system) / 1000;
}

async function main(): Promise<WorkerReport> {
  let cpuMs = 0;
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, host, () => resolve());
  });
  localPort = socket.address().port;
  const sweeper = setInterval(sweep, 100);
  const count = Math.max(1, Math.round(rate * durationS));
  let sendMs: number;
  let cpuAtSend = process.cpuUsage();
  try {
    if (mode === 'call') {
      sendMs = await pace(rate, count, startCall);
    } else if (mode === 'register') {
      sendMs = await pace(rate, count, (i) => sendRegister(newBinding(i, 'n')));
    } else {
      // Refreshes need live registrations: register the pool first (also counted), then refresh it round-robin.
      const pool: Binding[] = [];
      // Half the rate in AORs (each refreshed about twice a second), registered no faster than new
      // registrations are known to pass, so the pool does not measure the new-registration path.
      const size = Math.max(50, Math.round(rate / 2));
      await pace(Math.min(rate, 2000), size, (i) => {
        const b = newBinding(i, 'p');
        pool.push(b);
        sendRegister(b);
      });
      await drain();
      // Only the refreshes are measured; a failed pool registration still counts as a failure.
      for (const [reason, n] of Object.entries(failures)) {
        delete failures[reason];
        failures[`pool:${reason}`] = n;
      }
      latencies.length = 0;
      started = 0;
      ok = 0;
      cpuAtSend = process.cpuUsage();
      sendMs = await pace(rate, count, (i) => {
        const b = pool[i % pool.length];
        if (b === undefined) return;
        b.cseq++;
        sendRegister(b);
      });
    }
    cpuMs = cpuMsSince(cpuAtSend);
    await drain();
  } finally {
    clearInterval(sweeper);
    socket.close();
  }
  return { mode, started, ok, failed, failures, sendMs, latenciesMs: latencies, cpuMs };
}

main().then(
  (report) => {
    if (process.send !== undefined) process.send({ report }, () => process.exit(0));
    else process.stdout.write(`${JSON.stringify(report)}\n`);
  },
  (err: unknown) => {
    process.stderr.write(`uac: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
