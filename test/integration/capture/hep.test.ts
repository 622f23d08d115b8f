/**
 * HEP capture end to end: a WebSocket-over-TLS client calls through the
 * gateway to a scripted UAS inside over UDP; a collector on loopback decodes
 * every HEP packet and must hold each message of the call, in and out, on
 * both legs, byte for byte, with the addresses and ports the sockets really
 * used, the IP protocol, the agent id, the password and the Call-ID.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { configSchema } from '../../../src/config/schema.js';
import type { SipRequest } from '../../../src/sip/message.js';
import { HepCollector, type HepPacket } from '../../helpers/hep-collector.js';
import { startSbc, startSbcInProcess, type TestSbc } from '../../helpers/sbc.js';
import { rand, request, response, SipPeer, uacRouteSet } from '../../helpers/sip-peer.js';

interface Seen { raw: string; from: string; to: string }

/** A UAS that answers INVITE 100/180/200 and BYE/OPTIONS 200, remembering what it sent. */
async function scriptedUas(host = '127.0.0.1'): Promise<{ peer: SipPeer; sent: Seen[] }> {
  const peer = await SipPeer.udp(host);
  const sent: Seen[] = [];
  const here = `${host}:${peer.address.port}`;
  const send = (text: string, to: { address: string; port: number }): void => {
    sent.push({ raw: text, from: here, to: `${to.address}:${to.port}` });
    peer.send(text, to);
  };
  peer.onMessage = (r) => {
    if (r.msg.kind !== 'request') return;
    const req = r.msg as SipRequest;
    if (req.method === 'INVITE') {
      send(response(req, 100, 'Trying'), r.from);
      send(response(req, 180, 'Ringing', { toTag: 'uas1' }), r.from);
      send(response(req, 200, 'OK', { toTag: 'uas1', headers: [`Contact: <sip:bob@${here}>`] }), r.from);
    } else if (req.method !== 'ACK') send(response(req, 200, 'OK', { toTag: 'uas1' }), r.from);
  };
  return { peer, sent };
}

async function metric(sbc: TestSbc, name: string): Promise<number> {
  const text = await (await fetch(`${sbc.adminUrl}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name} `) || line.startsWith(`${name}{`)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

const ends = (p: HepPacket): [string, string] => [`${p.source}:${p.sourcePort}`, `${p.destination}:${p.destinationPort}`];

describe('HEP capture of a WSS call', () => {
  let collector: HepCollector;
  let uas: Awaited<ReturnType<typeof scriptedUas>>;
  let sbc: TestSbc;
  let client: SipPeer;

  before(async () => {
    collector = await HepCollector.start();
    // Three loopback addresses, so a swapped source and destination cannot pass for the right ones.
    uas = await scriptedUas('127.0.0.3');
    sbc = await startSbc({
      listen: [
        { transport: 'udp', address: '127.0.0.1', port: 0 },
        { transport: 'wss', address: '127.0.0.4', port: 0 },
      ],
      backends: { default: { probe: { intervalSeconds: 0 }, targets: [{ uri: `sip:127.0.0.3:${uas.peer.address.port};transport=udp` }] } },
      // No retransmission on a loaded machine: every message of the call exists once.
      timers: { t1Ms: 2000, t2Ms: 4000 },
      capture: { hep: { address: `127.0.0.1:${collector.port}`, id: 4242, password: 'homer-pw' } },
    });
    client = await SipPeer.ws(`wss://127.0.0.4:${sbc.listener('wss').boundPort}`);
  });

  after(async () => {
    client.close();
    uas.peer.close();
    await sbc.stop();
    collector.close();
  });

  test('every message of the call, in and out on both legs, arrives decoded with its real addresses, ports and Call-ID', async () => {
    const t0 = Math.floor(Date.now() / 1000);
    const callId = `hep-${rand(6)}`;
    const me = `${client.address.address}:${client.address.port}`;
    const wss = `127.0.0.4:${sbc.listener('wss').boundPort}`;
    const udp = `127.0.0.1:${sbc.listener('udp').boundPort}`;
    const clientSent: Seen[] = [];
    const send = (text: string): void => {
      clientSent.push({ raw: text, from: me, to: wss });
      client.send(text);
    };
    const common = { sentBy: 'abc.invalid', viaTransport: 'WSS', callId, fromTag: 'a1' };
    send(request({ ...common, method: 'INVITE', uri: 'sip:bob@example.com', contact: '<sip:alice@abc.invalid;transport=ws>' }));
    const ok = await client.nextResponse(200, 'INVITE');
    const routes = uacRouteSet(ok.msg).map((r) => `Route: ${r}`);
    const uasUri = `sip:bob@127.0.0.3:${uas.peer.address.port}`;
    send(request({ ...common, method: 'ACK', uri: uasUri, toTag: 'uas1', headers: routes }));
    await uas.peer.nextRequest('ACK');
    send(request({ ...common, method: 'BYE', uri: uasUri, toTag: 'uas1', cseq: 2, headers: routes }));
    await client.nextResponse(200, 'BYE');
    const t1 = Math.ceil(Date.now() / 1000);

    const ofCall = (raw: string): boolean => raw.includes(`Call-ID: ${callId}`);
    const expected: Array<Seen & { leg: string }> = [
      ...clientSent.map((s) => ({ ...s, leg: 'client → gateway (wss)' })),
      ...client.received.filter((r) => ofCall(r.raw)).map((r) => ({ raw: r.raw, from: wss, to: me, leg: 'gateway → client (wss)' })),
      // The UDP port the gateway sent from: its listener's, or with workers the worker's own.
      ...uas.peer.received.filter((r) => ofCall(r.raw)).map((r) => ({ raw: r.raw, from: `${r.from.address}:${r.from.port}`, to: `127.0.0.3:${uas.peer.address.port}`, leg: 'gateway → uas (udp)' })),
      ...uas.sent.filter((s) => ofCall(s.raw)).map((s) => ({ ...s, leg: 'uas → gateway (udp)' })),
    ];
    for (const r of uas.peer.received.filter((x) => ofCall(x.raw))) {
      assert.ok(r.from.address === '127.0.0.1' && sbc.ports('udp').includes(r.from.port), `the UAS heard the gateway from a UDP port of its own (${r.from.address}:${r.from.port}; its listener is ${udp})`);
    }
    // INVITE, ACK, BYE from the client; 180, 200, 200 to it (and our 100 only if the UAS's 180 took over
    // 200 ms, RFC 3261 §17.2.1); the same three requests to the UAS; its 100, 180, 200, 200.
    const toClient = client.received.filter((r) => ofCall(r.raw)).map((r) => r.raw.slice(8, 11));
    assert.deepEqual(toClient.filter((s) => s !== '100'), ['180', '200', '200']);
    assert.equal(expected.length, 3 + toClient.length + 3 + 4, expected.map((e) => `${e.leg}: ${e.raw.slice(0, 20)}`).join('\n'));

    for (const e of expected) {
      const p = await collector.next((x) => x.payload === e.raw && ends(x)[0] === e.from && ends(x)[1] === e.to, 5000)
        .catch((err: Error) => assert.fail(`${e.leg}: ${e.raw.slice(0, e.raw.indexOf('\r\n'))} not captured (${err.message})`));
      assert.equal(p.ipProtocol, e.leg.includes('wss') ? 6 : 17, `${e.leg}: IP protocol`);
      assert.equal(p.family, 2);
      assert.equal(p.protocolType, 1, 'SIP');
      assert.equal(p.captureId, 4242);
      assert.equal(p.authKey, 'homer-pw');
      assert.equal(p.correlationId, callId);
      assert.ok(p.seconds >= t0 && p.seconds <= t1, `timestamp ${p.seconds} within the call ${t0}..${t1}`);
      assert.ok(p.micros < 1_000_000);
    }
    assert.deepEqual(collector.errors, [], 'every datagram decoded');
    assert.equal(collector.packets.filter((p) => p.correlationId === callId).length, expected.length, 'nothing captured twice');
    assert.ok(await metric(sbc, 'sbc_hep_sent_total') >= expected.length);
    assert.equal(await metric(sbc, 'sbc_hep_dropped_total'), 0);
  });
});

describe('HEP capture over IPv6', () => {
  test('a message on an IPv6 listener goes in the IPv6 address chunks', async () => {
    const collector = await HepCollector.start();
    const sbc = await startSbc({
      listen: [{ transport: 'udp', address: '::1', port: 0 }],
      capture: { hep: { address: `127.0.0.1:${collector.port}` } },
    });
    const phone = await SipPeer.udp('::1');
    try {
      const callId = `v6-${rand(6)}`;
      const port = sbc.listener('udp').boundPort;
      phone.send(request({ method: 'OPTIONS', uri: `sip:[::1]:${port}`, sentBy: `[::1]:${phone.address.port}`, callId }), { address: '::1', port });
      const p = await collector.next((x) => x.correlationId === callId);
      assert.equal(p.family, 10);
      assert.deepEqual(ends(p), [`0:0:0:0:0:0:0:1:${phone.address.port}`, `0:0:0:0:0:0:0:1:${port}`]);
      assert.equal(p.captureId, 2001, 'the default agent id');
      assert.equal(p.authKey, undefined, 'no password, no auth key');
    } finally {
      phone.close();
      await sbc.stop();
      collector.close();
    }
  });
});

describe('HEP capture with the collector unreachable', () => {
  test('requests go on being relayed; every captured message is either sent or counted as dropped', async () => {
    // A port nobody listens on: the kernel answers with ICMP port unreachable.
    const gone = await HepCollector.start();
    const port = gone.port;
    gone.close();
    const uas = await scriptedUas();
    const sbc = await startSbc({
      listen: [{ transport: 'udp', address: '127.0.0.1', port: 0 }],
      backends: { default: { probe: { intervalSeconds: 0 }, targets: [{ uri: `sip:127.0.0.1:${uas.peer.address.port};transport=udp` }] } },
      capture: { hep: { address: `127.0.0.1:${port}`, maxQueue: 8 } },
    });
    const phone = await SipPeer.udp();
    try {
      const to = { address: '127.0.0.1', port: sbc.listener('udp').boundPort };
      for (let i = 0; i < 20; i++) {
        phone.send(request({ method: 'OPTIONS', uri: 'sip:bob@example.com', sentBy: `127.0.0.1:${phone.address.port}`, callId: `gone-${i}` }), to);
        await phone.nextResponse(200, 'OPTIONS');
      }
      // Twenty requests relayed and answered: 80 messages on the wire.
      for (let i = 0; i < 50 && (await metric(sbc, 'sbc_hep_sent_total')) + (await metric(sbc, 'sbc_hep_dropped_total')) < 80; i++) {
        await new Promise((r) => setTimeout(r, 20));
      }
      const sent = await metric(sbc, 'sbc_hep_sent_total');
      const dropped = await metric(sbc, 'sbc_hep_dropped_total');
      assert.equal(sent + dropped, 80, `every message either sent or counted dropped (sent ${sent}, dropped ${dropped})`);
      assert.ok(dropped > 0, 'the refused sends are counted');
    } finally {
      phone.close();
      uas.peer.close();
      await sbc.stop();
    }
  });
});

describe('HEP capture and reload', () => {
  test('POST /api/reload turns capture on, moves it to another collector and turns it off, without a restart', async () => {
    const first = await HepCollector.start();
    const second = await HepCollector.start();
    const base = { listen: [{ transport: 'udp', address: '127.0.0.1', port: 0 }] };
    const steps = [`127.0.0.1:${first.port}`, `127.0.0.1:${second.port}`, ''];
    let step = 0;
    const sbc = await startSbcInProcess(base, {
      reloadConfig: async () => ({ ok: true as const, value: { config: configSchema.parse({ ...base, capture: { hep: { address: steps[step] } } }) } }),
    });
    const phone = await SipPeer.udp();
    const to = { address: '127.0.0.1', port: sbc.listener('udp').boundPort };
    const options = async (callId: string): Promise<void> => {
      phone.send(request({ method: 'OPTIONS', uri: `sip:127.0.0.1:${to.port}`, sentBy: `127.0.0.1:${phone.address.port}`, callId }), to);
      await phone.nextResponse(200, 'OPTIONS');
    };
    const reload = async (): Promise<{ applied: string[]; restartNeeded: string[] }> => {
      const res = await fetch(`${sbc.adminUrl}/api/reload`, { method: 'POST' });
      assert.equal(res.status, 200);
      return (await res.json()) as { applied: string[]; restartNeeded: string[] };
    };
    try {
      await options('before-any');
      const on = await reload();
      assert.ok(on.applied.includes('capture.hep'), JSON.stringify(on));
      assert.ok(!on.restartNeeded.includes('capture'), JSON.stringify(on));
      await options('to-first');
      await first.next((p) => p.correlationId === 'to-first' && p.payload.startsWith('SIP/2.0 200'));
      step = 1;
      await reload();
      await options('to-second');
      await second.next((p) => p.correlationId === 'to-second' && p.payload.startsWith('SIP/2.0 200'));
      step = 2;
      await reload();
      await options('to-none');
      // Off: give a packet that should not exist the time a real one takes on loopback, then look.
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual([...new Set(first.packets.map((p) => p.correlationId))], ['to-first']);
      assert.deepEqual([...new Set(second.packets.map((p) => p.correlationId))], ['to-second']);
    } finally {
      phone.close();
      await sbc.stop();
      first.close();
      second.close();
    }
  });
});
