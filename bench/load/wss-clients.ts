/**
 * Many SIP-over-WSS clients in one process (RFC 7118), driven over IPC:
 *   { cmd: 'open', url, count, concurrency, tag }  open `count` connections
 *        (at most `concurrency` handshakes at once), REGISTER once on each;
 *        answers { opened: OpenReport }.
 *   { cmd: 'refresh', rate, duration }  re-REGISTER over the open connections
 *        round-robin (same Call-ID, CSeq + 1); answers { report: WorkerReport }.
 *   { cmd: 'drop' }  terminates and forgets every connection, stays up for
 *        the next 'open'; answers { dropped: n }.
 *   { cmd: 'close' }  closes every connection and exits.
 * Messages look like SIP.js's: Via WSS with an .invalid host, Contact with
 * transport=ws and ;expires.
 */
import WebSocket from 'ws';
import { pace } from './pacer.js';
import { cseqMethod, headerValue, splitMessage, statusOf } from './sip-text.js';
import { quantile, type WorkerReport } from './stats.js';

export interface OpenReport {
  opened: number;
  registered: number;
  failed: number;
  failures: Record<string, number>;
  /** The first failing response of each kind, whole, to tell where it came from. */
  samples: Record<string, string>;
  elapsedMs: number;
  p50Ms: number;
  p99Ms: number;
}

interface Client {
  ws: WebSocket;
  user: string;
  callId: string;
  cseq: number;
  /** When the REGISTER now in flight was sent, or undefined. */
  sentAt: number | undefined;
  onFinal: ((status: number) => void) | undefined;
}

const DOMAIN = 'bench.invalid';
const TIMEOUT_MS = 10_000;
const clients: Client[] = [];
/** The last final response text, read by open() when a REGISTER fails. */
let lastFinalText = '';
let branchSeq = 0;

function register(c: Client): Promise<number> {
  c.cseq++;
  const host = `${c.user}.invalid`;
  const text =
    `REGISTER sip:${DOMAIN} SIP/2.0\r\n` +
    `Via: SIP/2.0/WSS ${host};branch=z9hG4bK${c.user}x${(branchSeq++).toString(36)}\r\n` +
    'Max-Forwards: 70\r\n' +
    `To: <sip:${c.user}@${DOMAIN}>\r\n` +
    `From: <sip:${c.user}@${DOMAIN}>;tag=${c.user}\r\n` +
    `Call-ID: ${c.callId}\r\n` +
    `CSeq: ${c.cseq} REGISTER\r\n` +
    `Contact: <sip:${c.user}@${host};transport=ws>;expires=600\r\n` +
    'Expires: 600\r\n' +
    'Supported: path, outbound\r\n' +
    'Content-Length: 0\r\n\r\n';
  return new Promise((resolve) => {
    const timer = setTimeout(() => done(0), TIMEOUT_MS);
    const done = (status: number): void => {
      clearTimeout(timer);
      c.onFinal = undefined;
      resolve(status);
    };
    c.onFinal = done;
    c.sentAt = performance.now();
    c.ws.send(text);
  });
}

function onData(c: Client, data: WebSocket.RawData): void {
  const text = Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.from(data as ArrayBuffer).toString('utf8');
  const status = statusOf(text.slice(0, 12));
  if (status < 200) return;
  const res = splitMessage(text);
  const cseq = headerValue(res, 'cseq');
  if (cseq === undefined || cseqMethod(cseq) !== 'REGISTER' || Number.parseInt(cseq, 10) !== c.cseq) return;
  lastFinalText = text;
  c.onFinal?.(status);
}

function connect(url: string, user: string): Promise<Client | string> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, 'sip', { rejectUnauthorized: false, perMessageDeflate: false, handshakeTimeout: TIMEOUT_MS });
    const c: Client = { ws, user, callId: `${user}@${DOMAIN}`, cseq: 0, sentAt: undefined, onFinal: undefined };
    ws.once('open', () => resolve(c));
    ws.once('error', (err) => resolve(`connect:${(err as NodeJS.ErrnoException).code ?? err.message}`));
    ws.on('message', (data) => onData(c, data));
    ws.on('close', () => c.onFinal?.(0));
  });
}

async function open(url: string, count: number, concurrency: number, tag: string): Promise<OpenReport> {
  const t0 = performance.now();
  const failures: Record<string, number> = {};
  const samples: Record<string, string> = {};
  const latencies: number[] = [];
  let opened = 0;
  let registered = 0;
  let next = 0;
  const fail = (reason: string): void => {
    failures[reason] = (failures[reason] ?? 0) + 1;
  };
  const lane = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      const c = await connect(url, `${tag}${i}`);
      if (typeof c === 'string') {
        fail(c);
        continue;
      }
      opened++;
      clients.push(c);
      const sent = performance.now();
      const status = await register(c);
      if (status >= 200 && status < 300) {
        registered++;
        latencies.push(performance.now() - sent);
      } else {
        const reason = status === 0 ? 'timeout:REGISTER' : `status:${status}:REGISTER`;
        fail(reason);
        if (status !== 0) samples[reason] ??= lastFinalText;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, lane));
  latencies.sort((a, b) => a - b);
  const failed = Object.values(failures).reduce((a, b) => a + b, 0);
  return { opened, registered, failed, failures, samples, elapsedMs: performance.now() - t0, p50Ms: quantile(latencies, 0.5), p99Ms: quantile(latencies, 0.99) };
}

async function refresh(rate: number, durationS: number): Promise<WorkerReport> {
  const failures: Record<string, number> = {};
  const latencies: number[] = [];
  const inFlight: Promise<void>[] = [];
  let ok = 0;
  let failed = 0;
  let skipped = 0;
  const count = Math.max(1, Math.round(rate * durationS));
  const live = clients.filter((c) => c.ws.readyState === WebSocket.OPEN);
  const sendMs = await pace(rate, count, (i) => {
    const c = live[i % live.length];
    // A client whose previous refresh is still open waits its turn: one transaction per connection, as a phone does.
    if (c === undefined || c.onFinal !== undefined) {
      skipped++;
      return;
    }
    const sent = performance.now();
    inFlight.push(
      register(c).then((status) => {
        if (status >= 200 && status < 300) {
          ok++;
          latencies.push(Math.round((performance.now() - sent) * 1000) / 1000);
        } else {
          failed++;
          const reason = status === 0 ? 'timeout:REGISTER' : `status:${status}:REGISTER`;
          failures[reason] = (failures[reason] ?? 0) + 1;
        }
      }),
    );
  });
  await Promise.all(inFlight);
  if (skipped > 0) failures['busy-connection'] = skipped;
  const cpu = process.cpuUsage();
  return { mode: 'wss-refresh', started: count - skipped, ok, failed, failures, sendMs, latenciesMs: latencies, cpuMs: (cpu.user + cpu.system) / 1000 };
}

type Command =
  | { cmd: 'open'; url: string; count: number; concurrency: number; tag: string }
  | { cmd: 'refresh'; rate: number; duration: number }
  | { cmd: 'drop' }
  | { cmd: 'close' };

/** Cut every connection (no closing handshake) and forget it; how many there were. */
function drop(): number {
  const n = clients.length;
  for (const c of clients) c.ws.terminate();
  clients.length = 0;
  return n;
}

process.on('message', (m: Command) => {
  if (m.cmd === 'open') {
    void open(m.url, m.count, m.concurrency, m.tag).then((opened) => process.send?.({ opened }));
  } else if (m.cmd === 'refresh') {
    void refresh(m.rate, m.duration).then((report) => process.send?.({ report }));
  } else if (m.cmd === 'drop') {
    process.send?.({ dropped: drop() });
  } else if (m.cmd === 'close') {
    drop();
    process.exit(0);
  }
});
// The parent going away must not leave thousands of connections behind.
process.on('disconnect', () => process.exit(0));
