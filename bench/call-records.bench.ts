/**
 * What a call record costs on one core: the proxy's events of one call
 * (INVITE observed, 2xx final, BYE) through the CallRecorder, the record
 * built and serialized once. The messages are parsed once up front (the
 * pipeline has parsed them already when the recorder sees them) and reused.
 * Per CPU-second of this process, so a busy machine skews it less.
 * Run: node dist/bench/call-records.bench.js
 */
import { silentLogger } from '../src/log/logger.js';
import { CallRecorder } from '../src/records/index.js';
import type { SipRequest, SipResponse } from '../src/sip/message.js';
import { parseMessage } from '../src/sip/parser.js';
import type { Flow } from '../src/transport/flow.js';

function message<T extends SipRequest | SipResponse>(start: string, headers: string[]): T {
  const r = parseMessage(Buffer.from([start, 'Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKx', ...headers, 'Content-Length: 0', '', ''].join('\r\n')));
  if (!r.ok) throw new Error(r.error.reason);
  const m = r.value;
  // What the pipeline has read before the recorder sees the message.
  m.from();
  m.to();
  return m as T;
}

const flow = { id: 'f1', transport: 'udp', remote: { address: '192.0.2.7', port: 5062, family: 'IPv4' } } as unknown as Flow;
const SETS = 1000;
const calls = Array.from({ length: SETS }, (_, i) => {
  const id = `bench-call-${i}@192.0.2.7`;
  return {
    invite: message<SipRequest>('INVITE sip:bob@example.com SIP/2.0', ['From: "Alice" <sip:alice@example.com>;tag=a1', 'To: <sip:bob@example.com>', `Call-ID: ${id}`, 'CSeq: 1 INVITE']),
    ok: message<SipResponse>('SIP/2.0 200 OK', ['From: "Alice" <sip:alice@example.com>;tag=a1', 'To: <sip:bob@example.com>;tag=b1', `Call-ID: ${id}`, 'CSeq: 1 INVITE']),
    bye: message<SipRequest>('BYE sip:bob@example.com SIP/2.0', ['From: "Alice" <sip:alice@example.com>;tag=a1', 'To: <sip:bob@example.com>;tag=b1', `Call-ID: ${id}`, 'CSeq: 2 BYE']),
  };
});

let bytes = 0;
let written = 0;
const recorder = new CallRecorder({
  media: () => 'passthrough',
  write: (_record, json) => {
    bytes += json.length;
    written++;
  },
  dropped: () => undefined,
  logger: silentLogger(),
});

function run(rounds: number): void {
  for (let r = 0; r < rounds; r++) {
    for (const c of calls) {
      recorder.observe(c.invite, flow, false, false, undefined)?.final(c.ok, flow);
      recorder.observe(c.bye, flow, false, false, undefined);
    }
  }
}

run(20); // warm-up
const n = 200 * SETS;
written = 0;
bytes = 0;
const before = process.cpuUsage();
run(200);
const cpu = process.cpuUsage(before);
const seconds = (cpu.user + cpu.system) / 1e6;
if (written !== n) throw new Error(`expected ${n} records, got ${written}`);
process.stdout.write(`call records: ${Math.round(n / seconds).toLocaleString('en')} calls/CPU-s (${((seconds * 1e6) / n).toFixed(1)} µs per call: INVITE, 2xx, BYE, one ${Math.round(bytes / n)}-byte line)\n`);
