import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AdmissionGate } from '../../../src/overload/admission-gate.js';
import type { Admission } from '../../../src/overload/admission.js';
import { rawMethod, scanRequestHead } from '../../../src/overload/raw-request.js';
import { udpSocketStats } from '../../../src/overload/load-monitor.js';
import { parseMessage } from '../../../src/sip/parser.js';
import type { Flow } from '../../../src/transport/flow.js';

const req = (method: string, opts: { toTag?: string; branch?: string; via?: string } = {}): Buffer => Buffer.from([
  `${method} sip:bob@example.com SIP/2.0`,
  opts.via ?? `Via: SIP/2.0/UDP 192.0.2.7:5062;branch=${opts.branch ?? 'z9hG4bKabc'};rport`,
  'v: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKlower',
  'Max-Forwards: 70',
  'f: <sip:alice@example.com>;tag=a1',
  `To: "Bob;tag=not" <sip:bob@example.com;tag=uri>${opts.toTag === undefined ? '' : `;tag=${opts.toTag}`}`,
  'Call-ID: c1@x',
  `CSeq: 1 ${method}`,
  'Content-Length: 0',
  '', '',
].join('\r\n'), 'latin1');

interface FakeAdmission { shedding: boolean; critical: boolean; admit: boolean; reason: string; lastStallMs: number }
function gate(state: Partial<FakeAdmission> = {}, known = new Set<string>(), inside = false) {
  const a: FakeAdmission = { shedding: true, critical: false, admit: false, reason: 'loop-delay', lastStallMs: 0, ...state };
  const admission = { get shedding() { return a.shedding; }, get critical() { return a.critical; }, get reason() { return a.reason; }, get lastStallMs() { return a.lastStallMs; }, admitsNew: () => a.admit } as unknown as Admission;
  const sent: Buffer[] = [];
  const shed: string[] = [];
  const flow = { send: (b: Buffer) => { sent.push(b); return true; } } as unknown as Flow;
  const g = new AdmissionGate({
    admission,
    isInside: () => inside,
    hasServerTransaction: (b, s, m) => known.has(`${b} ${s} ${m}`),
    shed: { inc: (l) => shed.push(l.reason) },
    t1Ms: 500,
    retryAfterMaxSeconds: 4,
    random: () => 0.99,
  });
  return { screen: (data: Buffer) => g.screen(flow, data), sent, shed, a };
}

describe('raw request scan', () => {
  it('reads method, To tag, top Via branch and sent-by without the parser', () => {
    assert.equal(rawMethod(req('INVITE')), 'INVITE');
    assert.equal(rawMethod(Buffer.from('SIP/2.0 200 OK\r\n')), undefined);
    const head = scanRequestHead(req('INVITE'), 'INVITE')!;
    assert.equal(head.toTag, false, 'tag= inside the display name and URI does not count');
    assert.equal(head.branch, 'z9hG4bKabc');
    assert.equal(head.sentBy, '192.0.2.7:5062');
    assert.equal(scanRequestHead(req('INVITE', { toTag: 'x' }), 'INVITE')!.toTag, true);
    assert.equal(scanRequestHead(req('INVITE', { via: 'Via: SIP/2.0/UDP [2001:DB8::1]:5060;branch=z9hG4bKv6' }), 'INVITE')!.sentBy, '2001:db8::1:5060');
    assert.equal(scanRequestHead(req('INVITE', { via: 'Via: SIP/2.0/UDP 1.2.3.4;branch=old-2543' }), 'INVITE'), undefined, 'no magic cookie: left to the parser');
  });

  it('parses /proc/net/udp lines of our ports', () => {
    const text = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n' +
      ' 3150: 0100007F:13C4 00000000:0000 07 00000000:00001A00 00:00000000 00000000     0        0 32749 2 0000000094c97c6a 149\n' +
      ' 3151: 0100007F:4F5A 00000000:0000 07 00000000:00000100 00:00000000 00000000     0        0 32761 2 000000009c2794ba 7\n';
    assert.deepEqual(udpSocketStats(text, [{ port: 5060 }]), { queuedBytes: 0x1a00, drops: 149 });
    assert.equal(udpSocketStats(text, [{ port: 1 }]), undefined);
  });

  it('tells SO_REUSEPORT sockets sharing a port apart by inode: another worker\'s queue and drops are not ours', () => {
    const text = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n' +
      ' 3150: 0100007F:13C4 00000000:0000 07 00000000:00001A00 00:00000000 00000000     0        0 32749 2 0000000094c97c6a 149\n' +
      ' 3150: 0100007F:13C4 00000000:0000 07 00000000:00000200 00:00000000 00000000     0        0 32750 2 0000000094c97c6b 0\n';
    assert.deepEqual(udpSocketStats(text, [{ port: 5060, inode: 32750 }]), { queuedBytes: 0x200, drops: 0 });
    assert.deepEqual(udpSocketStats(text, [{ port: 5060 }]), { queuedBytes: 0x1c00, drops: 149 }, 'without an inode every socket on the port counts');
    assert.equal(udpSocketStats(text, [{ port: 5060, inode: 1 }]), undefined);
  });
});

describe('AdmissionGate', () => {
  it('passes everything while normal', () => {
    const g = gate({ shedding: false });
    assert.equal(g.screen(req('INVITE')), false);
    assert.equal(g.sent.length, 0);
  });

  it('sheds a new INVITE from outside with a stateless 503, our To tag and Retry-After 1–4', () => {
    const g = gate();
    assert.equal(g.screen(req('INVITE')), true);
    const res = parseMessage(g.sent[0]!);
    assert.ok(res.ok && res.value.kind === 'response');
    const msg = res.value;
    assert.equal(msg.kind === 'response' && msg.status, 503);
    assert.equal(msg.headers.values('via').length, 2, 'every Via copied');
    assert.equal(msg.headers.get('retry-after'), '4');
    assert.match(msg.to()!.params.get('tag') ?? '', /^sh503/);
    assert.equal(msg.callId, 'c1@x');
    assert.deepEqual(g.shed, ['loop-delay']);
    // Its ACK is recognised by our tag and absorbed, shedding or not.
    const ack = Buffer.from(`ACK sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.7:5062;branch=z9hG4bKabc\r\nTo: <sip:bob@example.com>;tag=${msg.to()!.params.get('tag')}\r\n\r\n`);
    g.a.shedding = false;
    assert.equal(g.screen(ack), true);
    assert.equal(g.screen(req('ACK', { toTag: 'uas1' })), false, 'other ACKs go on');
  });

  it('never sheds ACK, CANCEL, BYE, PRACK, in-dialog requests or responses', () => {
    const g = gate();
    for (const m of ['CANCEL', 'BYE', 'PRACK', 'ACK']) assert.equal(g.screen(req(m)), false, m);
    assert.equal(g.screen(req('INVITE', { toTag: 'x' })), false, 're-INVITE');
    assert.equal(g.screen(Buffer.from('SIP/2.0 180 Ringing\r\n\r\n')), false);
    assert.equal(g.sent.length, 0);
  });

  it('lets a retransmission reach its transaction, and what the coin admits', () => {
    const g = gate({}, new Set(['z9hG4bKabc 192.0.2.7:5062 INVITE']));
    assert.equal(g.screen(req('INVITE')), false, 'retransmission: the transaction resends its last response');
    assert.equal(g.screen(req('INVITE', { branch: 'z9hG4bKother' })), true);
    g.a.admit = true;
    assert.equal(g.screen(req('INVITE', { branch: 'z9hG4bKthird' })), false);
  });

  it('drops silently what waited behind a stall longer than T1', () => {
    const g = gate({ lastStallMs: 800 });
    assert.equal(g.screen(req('REGISTER')), true);
    assert.equal(g.sent.length, 0);
    assert.deepEqual(g.shed, ['stale']);
  });

  it('inside requests pass unless the heap is critical; then 503 without Retry-After', () => {
    const g = gate({}, new Set(), true);
    assert.equal(g.screen(req('INVITE')), false);
    g.a.critical = true;
    assert.equal(g.screen(req('INVITE')), true);
    const res = parseMessage(g.sent[0]!);
    assert.ok(res.ok);
    assert.equal(res.value.headers.get('retry-after'), undefined);
    assert.deepEqual(g.shed, ['heap']);
  });
});
