/**
 * A fast UDP UAS and registrar for the load bench, one process:
 *   INVITE   → 100, 180, 200 (small SDP, Contact, Record-Route copied)
 *   ACK      → nothing
 *   BYE, CANCEL, OPTIONS, anything else → 200
 *   REGISTER → 200 echoing Contact with ;expires and the Path vector (RFC 3327 §5.3)
 * Responses go back to the datagram's source (the SBC, or the generator when
 * it is measured directly). It counts what it got.
 *
 * Run: node dist/bench/load/uas.js [--host 127.0.0.1] [--port 0]
 * Forked with IPC it sends `{ ready, port }` and answers `{ cmd: 'stats' }`
 * with `{ stats }`; standalone it prints the ready line and, on SIGTERM, the
 * counts as JSON on stdout.
 */
import { createSocket, type RemoteInfo } from 'node:dgram';
import { parseArgs } from 'node:util';
import { buildMessage, headerLines, headerValue, lineName, splitMessage, tagOf, type SipText } from './sip-text.js';

const { values } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '0' },
  },
});

const host = values.host ?? '127.0.0.1';
/** Kernel receive buffer: bursts at thousands of datagrams/s overflow the 208 kB default. */
const RECV_BUFFER = 4 * 1024 * 1024;

const counts: Record<string, number> = {};
let sent = 0;
let tagSeq = 0;
let localPort = 0;

const socket = createSocket({ type: host.includes(':') ? 'udp6' : 'udp4', recvBufferSize: RECV_BUFFER, sendBufferSize: RECV_BUFFER });

/** Header names (full and compact) a response copies from its request (RFC 3261 §8.2.6.2). */
const COPIED = new Set(['via', 'v', 'from', 'f', 'call-id', 'i', 'cseq']);
const TO = new Set(['to', 't']);

/** The copied headers, To with our tag when `tag` is given, Record-Route too for dialog-forming answers (§12.1.1). */
function copied(req: SipText, tag: string | undefined, withRecordRoute: boolean): string[] {
  const out: string[] = [];
  for (const line of req.lines) {
    const name = lineName(line);
    if (COPIED.has(name)) out.push(line);
    else if (TO.has(name)) out.push(tag === undefined || tagOf(line) !== undefined ? line : `${line};tag=${tag}`);
    else if (withRecordRoute && name === 'record-route') out.push(line);
  }
  return out;
}

function reply(text: string, to: RemoteInfo): void {
  sent++;
  socket.send(text, to.port, to.address);
}

function sdp(): string {
  return (
    'v=0\r\n' +
    `o=uas 1 1 IN IP4 ${host}\r\n` +
    's=-\r\n' +
    `c=IN IP4 ${host}\r\n` +
    't=0 0\r\n' +
    'm=audio 40000 RTP/AVP 0\r\n' +
    'a=rtpmap:0 PCMU/8000\r\n'
  );
}
const SDP = sdp();

function onInvite(req: SipText, from: RemoteInfo): void {
  const tag = `uas${(tagSeq++).toString(36)}`;
  reply(buildMessage('SIP/2.0 100 Trying', copied(req, undefined, false)), from);
  reply(buildMessage('SIP/2.0 180 Ringing', copied(req, tag, true)), from);
  const ok = copied(req, tag, true);
  ok.push(`Contact: <sip:uas@${host}:${localPort}>`, 'Content-Type: application/sdp');
  reply(buildMessage('SIP/2.0 200 OK', ok, SDP), from);
}

function onRegister(req: SipText, from: RemoteInfo): void {
  const expires = headerValue(req, 'expires') ?? '3600';
  const res = copied(req, `reg${(tagSeq++).toString(36)}`, false);
  for (const contact of headerLines(req, 'contact')) {
    res.push(/;\s*expires=/i.test(contact) ? contact : `${contact};expires=${expires}`);
  }
  for (const path of headerLines(req, 'path')) res.push(path);
  reply(buildMessage('SIP/2.0 200 OK', res), from);
}

socket.on('message', (buf, from) => {
  const text = buf.toString('latin1');
  if (text.startsWith('SIP/2.0 ')) {
    counts['response'] = (counts['response'] ?? 0) + 1;
    return;
  }
  const space = text.indexOf(' ');
  if (space <= 0) return;
  const method = text.slice(0, space);
  counts[method] = (counts[method] ?? 0) + 1;
  const req = splitMessage(text);
  switch (method) {
    case 'INVITE':
      onInvite(req, from);
      return;
    case 'ACK':
      return;
    case 'REGISTER':
      onRegister(req, from);
      return;
    default:
      reply(buildMessage('SIP/2.0 200 OK', copied(req, `uas${(tagSeq++).toString(36)}`, false)), from);
  }
});

function stats(): { received: Record<string, number>; sent: number } {
  return { received: { ...counts }, sent };
}

socket.bind(Number(values.port), host, () => {
  localPort = socket.address().port;
  if (process.send !== undefined) process.send({ ready: true, port: localPort });
  else process.stdout.write(`${JSON.stringify({ ready: true, port: localPort })}\n`);
});

process.on('message', (m: { cmd?: string }) => {
  if (m.cmd === 'stats') process.send?.({ stats: stats() });
  else if (m.cmd === 'stop') socket.close(() => process.exit(0));
});
// The parent going away must not leave a stray UAS behind.
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => {
  if (process.send === undefined) process.stdout.write(`${JSON.stringify({ stats: stats() })}\n`);
  socket.close(() => process.exit(0));
});
