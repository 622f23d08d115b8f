/**
 * Path registration against a scripted registrar: what the registrar sees
 * (Path with a token, `path` in Supported, the Contact user untouched), our
 * view of registrations (GET /api/flows, bounded), NAT keepalives toward
 * registered UDP phones, and the WebSocket Contact rewrite for FreeSWITCH.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { SipRequest } from '../../../src/sip/message.js';
import { rand, request, response, SipPeer } from '../../helpers/sip-peer.js';
import { startSbc, type TestSbc } from '../../helpers/sbc.js';

interface FlowView { id: string; transport: string; registered: Array<{ aor: string; contact: string; expiresInSeconds: number }>; token?: string }

async function flows(sbc: TestSbc): Promise<FlowView[]> {
  const body = (await (await fetch(`${sbc.adminUrl}/api/flows`)).json()) as { flows: FlowView[] };
  return body.flows;
}

/**
 * A UDP registrar whose port number is also free over TCP, with a TCP listener
 * holding that number until a test needs it (an ephemeral TCP connection of any
 * other test could otherwise take it meanwhile).
 */
async function udpPeerWithTcpTwin(): Promise<{ peer: SipPeer; twin: Server }> {
  for (let attempt = 0; ; attempt++) {
    const twin = createServer();
    await new Promise<void>((resolve, reject) => { twin.once('error', reject); twin.listen(0, '127.0.0.1', () => resolve()); });
    const port = (twin.address() as { port: number }).port;
    try {
      return { peer: await SipPeer.udp('127.0.0.1', port), twin };
    } catch (err) {
      await new Promise((r) => twin.close(() => r(undefined)));
      if (attempt >= 20) throw err;
    }
  }
}

async function waitFor(cond: () => Promise<boolean> | boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('Path registration', () => {
  let sbc: TestSbc;
  let registrar: SipPeer;
  let registrarTcpTwin: Server;
  let sbcUdp: { address: string; port: number };

  before(async () => {
    ({ peer: registrar, twin: registrarTcpTwin } = await udpPeerWithTcpTwin());
    // A registrar that echoes the Contact with expires (RFC 3261 §10.3 step 8).
    registrar.onMessage = (r, p) => {
      if (r.msg.kind !== 'request') return;
      if (r.msg.method === 'REGISTER') {
        const contact = r.msg.headers.get('contact') ?? '';
        const expires = /expires=0|^\*$/.test(contact) || r.msg.headers.get('expires') === '0' ? 0 : 60;
        p.send(response(r.msg, 200, 'OK', { toTag: 'reg', headers: expires === 0 ? [] : [`Contact: ${contact.replace(/;expires=\d+/, '')};expires=${expires}`] }), r.from);
      } else if (r.msg.method === 'OPTIONS') p.send(response(r.msg, 200, 'OK', { toTag: 'o' }), r.from);
    };
    sbc = await startSbc({
      backends: { default: { algorithm: 'round-robin', probe: { method: 'OPTIONS', intervalSeconds: 5, failuresToDown: 3, successesToUp: 1 }, targets: [{ uri: `sip:127.0.0.1:${registrar.address.port};transport=udp`, weight: 1, priority: 0 }] } },
      registrar: { backend: 'default', pathMode: true, rewriteWsContact: true, maxBindingsPerFlow: 5 },
      nat: { keepaliveIntervalSeconds: 0.3, keepaliveMethod: 'OPTIONS', keepaliveFailures: 2 },
      timers: { t1Ms: 50 },
    });
    sbcUdp = { address: '127.0.0.1', port: sbc.listener('udp').boundPort };
  });
  after(async () => {
    registrar.close();
    registrarTcpTwin.close();
    await sbc.stop();
  });

  test('a UDP phone without Supported: path registers; the registrar sees our Path and path; keepalives reach it; silence closes its flow', async () => {
    const phone = await SipPeer.udp();
    try {
      let answerKeepalives = true;
      phone.onMessage = (r, p) => {
        if (answerKeepalives && r.msg.kind === 'request' && r.msg.method === 'OPTIONS') p.send(response(r.msg, 200, 'OK', { toTag: 'ph' }), r.from);
      };
      const aor = `sip:carol${rand(2)}@example.com`;
      phone.send(request({ method: 'REGISTER', uri: 'sip:example.com', sentBy: `127.0.0.1:${phone.address.port}`, from: `<${aor}>`, to: `<${aor}>`, contact: `<sip:carol@127.0.0.1:${phone.address.port}>`, headers: ['Expires: 60'] }), sbcUdp);
      const reg = await registrar.next((r) => r.msg.kind === 'request' && r.msg.method === 'REGISTER' && r.msg.headers.get('to')?.includes(aor) === true);
      const path = reg.msg.paths()!;
      assert.equal(path.length, 1);
      assert.equal(path[0]!.uri.params.has('lr'), true);
      assert.equal(path[0]!.uri.params.has('ob'), true);
      assert.ok((path[0]!.uri.user ?? '').length >= 16, 'Path carries a flow token');
      assert.match(reg.raw, /\r\nPath: <sip:[^>]+>\r\n/, 'Path is written inside <>');
      assert.ok(reg.msg.optionTags('supported').includes('path'));
      const sentContacts = reg.msg.contacts();
      assert.ok(Array.isArray(sentContacts));
      assert.equal(sentContacts[0]!.uri.user, 'carol', 'Contact user untouched');
      await phone.nextResponse(200, 'REGISTER');

      const mine = async (): Promise<FlowView | undefined> => (await flows(sbc)).find((f) => f.registered.some((b) => b.aor === aor));
      await waitFor(async () => (await mine()) !== undefined);
      assert.equal((await mine())!.transport, 'udp');

      await phone.nextRequest('OPTIONS', 3000);
      answerKeepalives = false;
      await waitFor(async () => (await mine()) === undefined, 6000);
    } finally {
      phone.close();
    }
  });

  test('WebSocket client: Contact transport rewritten toward the registrar and restored toward the client; unregister updates our view', async () => {
    const ws = await SipPeer.ws(`ws://127.0.0.1:${sbc.listener('ws').boundPort}`);
    try {
      const aor = `sip:dave${rand(2)}@example.com`;
      const user = rand(4);
      ws.send(request({ method: 'REGISTER', uri: 'sip:example.com', sentBy: 'x.invalid', viaTransport: 'WS', from: `<${aor}>`, to: `<${aor}>`, callId: 'reg-ws', contact: `<sip:${user}@x.invalid;transport=ws>;expires=600`, headers: ['Supported: path, gruu, outbound'] }));
      const reg = await registrar.next((r) => r.msg.kind === 'request' && r.msg.method === 'REGISTER' && r.msg.headers.get('to')?.includes(aor) === true);
      assert.match(reg.msg.headers.get('contact') ?? '', new RegExp(`<sip:${user}@x\\.invalid;transport=udp>`));
      const ok = await ws.nextResponse(200, 'REGISTER');
      assert.match(ok.msg.headers.get('contact') ?? '', new RegExp(`sip:${user}@`), 'the client sees its own Contact user');
      assert.match(ok.msg.headers.get('contact') ?? '', /expires=/);

      // The registrar calls the client through our Path.
      const pathUri = reg.msg.headers.get('path')!;
      registrar.send(request({ method: 'INVITE', uri: `sip:${user}@x.invalid;transport=udp`, sentBy: `127.0.0.1:${registrar.address.port}`, callId: 'inv-ws', headers: [`Route: ${pathUri}`] }), sbcUdp);
      const inv = await ws.nextRequest('INVITE');
      assert.equal(inv.msg.kind === 'request' && inv.msg.uri, `sip:${user}@x.invalid;transport=ws`);
      ws.send(response(inv.msg as SipRequest, 486, 'Busy Here', { toTag: 'b' }));
      await registrar.next((r) => r.msg.kind === 'response' && r.msg.status === 486);

      const mine = async (): Promise<FlowView | undefined> => (await flows(sbc)).find((f) => f.registered.some((b) => b.aor === aor));
      await waitFor(async () => (await mine()) !== undefined);
      ws.send(request({ method: 'REGISTER', uri: 'sip:example.com', sentBy: 'x.invalid', viaTransport: 'WS', from: `<${aor}>`, to: `<${aor}>`, callId: 'reg-ws', cseq: 2, contact: `<sip:${user}@x.invalid;transport=ws>;expires=0` }));
      await ws.next((r) => r.msg.kind === 'response' && r.msg.status === 200 && r.msg.cseq()?.seq === 2);
      await waitFor(async () => (await mine()) === undefined);
    } finally {
      ws.close();
    }
  });

  test('a TCP client whose source port is the number the registrar listens on over UDP is still a client', async () => {
    // Backends are recognised by transport, address and port: the same port number over TCP is somebody else.
    await new Promise((r) => registrarTcpTwin.close(() => r(undefined)));
    const phone = await SipPeer.tcp(sbc.listener('tcp').boundPort, '127.0.0.1', { localPort: registrar.address.port });
    try {
      const aor = `sip:erin${rand(2)}@example.com`;
      phone.send(request({ method: 'REGISTER', uri: 'sip:example.com', sentBy: `127.0.0.1:${registrar.address.port}`, viaTransport: 'TCP', from: `<${aor}>`, to: `<${aor}>`, contact: `<sip:erin@127.0.0.1:${registrar.address.port};transport=tcp>;expires=600` }));
      const reg = await registrar.next((r) => r.msg.kind === 'request' && r.msg.method === 'REGISTER' && r.msg.headers.get('to')?.includes(aor) === true);
      assert.ok(reg.msg.headers.get('path') !== undefined, 'relayed to the registrar with our Path, as from any client');
      await phone.nextResponse(200, 'REGISTER');
    } finally {
      phone.close();
    }
  });

    test('a REGISTER storm from one flow keeps our view bounded', async () => {
    const ws = await SipPeer.ws(`ws://127.0.0.1:${sbc.listener('ws').boundPort}`);
    try {
      for (let i = 0; i < 40; i++) {
        const aor = `sip:storm${i}@example.com`;
        ws.send(request({ method: 'REGISTER', uri: 'sip:example.com', sentBy: 'x.invalid', viaTransport: 'WS', from: `<${aor}>`, to: `<${aor}>`, contact: `<sip:s${i}@x.invalid;transport=ws>;expires=600` }));
      }
      await waitFor(() => ws.count((r) => r.msg.kind === 'response' && r.msg.status === 200) >= 40);
      const storm = (await flows(sbc)).find((f) => f.registered.some((b) => b.aor.startsWith('sip:storm')));
      assert.ok(storm !== undefined);
      assert.equal(storm.registered.length, 5, 'maxBindingsPerFlow');
      assert.ok(storm.registered.some((b) => b.aor === 'sip:storm39@example.com'), 'the most recent AORs are kept');
    } finally {
      ws.close();
    }
  });
});
