/**
 * workers: 2 with a backend over TCP. Clients connect over TCP (connections
 * round-robin over the workers) and register through the gateway; the
 * backend, like a real registrar, opens a new connection to the Path URI to
 * deliver a call. The Path names the worker's own TCP port, so that
 * connection reaches the worker holding the client's flow.
 */
import assert from 'node:assert/strict';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { parseMessage } from '../../../src/sip/parser.js';
import { StreamFramer } from '../../../src/sip/framer.js';
import type { SipMessage, SipRequest } from '../../../src/sip/message.js';
import { startClusterSbc, type ClusterSbc } from '../../helpers/sbc-cluster.js';
import { rand, request, response, SipPeer } from '../../helpers/sip-peer.js';

type Handler = (msg: SipMessage, socket: Socket) => void;

/**
 * The registrar's own loopback address: its new connections come from
 * ephemeral ports, so the gateway knows them as inside by trustedSources
 * (the clients, on 127.0.0.1, stay outside).
 */
const REGISTRAR_HOST = '127.0.0.2';

/** Reads framed SIP messages off a socket. */
function readMessages(socket: Socket, onMessage: Handler): void {
  const framer = new StreamFramer();
  socket.on('data', (chunk) => {
    for (const ev of framer.push(chunk)) {
      if (ev.kind !== 'message') continue;
      const r = parseMessage(ev.data);
      if (r.ok) onMessage(r.value, socket);
    }
  });
  socket.on('error', () => undefined);
}

/** A registrar over TCP: REGISTER → 200 with the Path kept by AOR. */
class TcpRegistrar {
  readonly server: Server;
  readonly paths = new Map<string, { path: string; contact: string }>();
  readonly sockets: Socket[] = [];
  port = 0;

  constructor() {
    this.server = createServer((socket) => {
      this.sockets.push(socket);
      readMessages(socket, (msg, s) => {
        if (msg.kind !== 'request' || msg.method !== 'REGISTER') return;
        const aor = /sip:([^@]+)@/.exec(msg.headers.get('to') ?? '')?.[1] ?? '';
        const path = msg.headers.get('path') ?? '';
        const contact = /<([^>]+)>/.exec(msg.headers.get('contact') ?? '')?.[1] ?? '';
        this.paths.set(aor, { path, contact });
        s.write(response(msg as SipRequest, 200, 'OK', { headers: [`Path: ${path}`, `Contact: <${contact}>;expires=300`] }));
      });
    });
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, REGISTRAR_HOST, () => resolve()));
    const a = this.server.address();
    this.port = typeof a === 'object' && a !== null ? a.port : 0;
  }

  close(): void {
    for (const s of this.sockets) s.destroy();
    this.server.close();
  }
}

describe('workers: 2, a backend over TCP dialling the Path back', () => {
  let registrar: TcpRegistrar;
  let sbc: ClusterSbc;
  const open: Array<{ close(): void }> = [];

  before(async () => {
    registrar = new TcpRegistrar();
    await registrar.start();
    sbc = await startClusterSbc(2, `backends:
  default: { probe: { intervalSeconds: 0 }, targets: [{ uri: "sip:${REGISTRAR_HOST}:${registrar.port};transport=tcp" }] }
trustedSources: ["${REGISTRAR_HOST}/32"]
registrar: { backend: default, pathMode: true }
`);
  });
  after(async () => {
    for (const c of open) c.close();
    registrar?.close();
    await sbc?.stop();
  });

  test('a call on a new connection to the Path reaches the client whichever worker holds its connection', async () => {
    const seenPorts = new Set<number>();
    for (let i = 0; i < 6; i++) {
      const client = await SipPeer.tcp(sbc.port);
      open.push(client);
      const user = `t${i}${rand(3)}`;
      const sentBy = `127.0.0.1:${client.address.port}`;
      client.send(request({
        method: 'REGISTER', uri: 'sip:example.com', sentBy, viaTransport: 'TCP', from: `<sip:${user}@example.com>`, to: `<sip:${user}@example.com>`,
        contact: `<sip:${user}@${sentBy};transport=tcp>`, headers: ['Expires: 300', 'Supported: path, outbound'],
      }));
      await client.nextResponse(200, 'REGISTER');
      const reg = registrar.paths.get(user);
      assert.ok(reg !== undefined, 'the registrar got the REGISTER');
      const m = /^<sip:[A-Za-z0-9_-]+@127\.0\.0\.1:(\d+);transport=tcp;lr;w=(\d);ob>$/.exec(reg.path);
      assert.ok(m !== null, `the Path names a worker's own TCP port and id: ${reg.path}`);
      const pathPort = Number(m[1]);
      assert.notEqual(pathPort, sbc.port, 'not the shared port');
      seenPorts.add(pathPort);

      // Like a registrar: a new connection to the Path URI for the call.
      const leg = connect({ port: pathPort, host: '127.0.0.1', localAddress: REGISTRAR_HOST });
      open.push({ close: () => leg.destroy() });
      await new Promise<void>((resolve, reject) => { leg.once('connect', () => resolve()); leg.once('error', reject); });
      const answers: SipMessage[] = [];
      readMessages(leg, (msg) => answers.push(msg));
      const callId = rand(8);
      const lsentBy = `${REGISTRAR_HOST}:${leg.localPort}`;
      leg.write(request({
        method: 'INVITE', uri: reg.contact, sentBy: lsentBy, viaTransport: 'TCP', callId, fromTag: 'fs1', from: '<sip:fs@example.com>', to: `<sip:${user}@example.com>`,
        contact: `<sip:fs@${lsentBy};transport=tcp>`, headers: [`Route: ${reg.path}`],
      }));
      const inv = await client.nextRequest('INVITE').catch((err: Error) => {
        throw new Error(`${err.message}; the registrar's connection got: ${answers.map((a) => (a.kind === 'response' ? `${a.status} ${a.reason}` : a.method)).join(', ')}`);
      });
      client.send(response(inv.msg as SipRequest, 200, 'OK', { toTag: `c${i}`, headers: [`Contact: <sip:${user}@${sentBy};transport=tcp>`] }));
      const deadline = Date.now() + 5000;
      while (!answers.some((a) => a.kind === 'response' && a.status === 200) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.ok(answers.some((a) => a.kind === 'response' && a.status === 200 && a.callId === callId), `the 200 came back on the registrar's connection: ${answers.map((a) => a.kind === 'response' ? a.status : a.method).join(',')}`);
    }
    assert.equal(seenPorts.size, 2, 'the clients were spread over both workers, each with its own TCP port in Path');
  });
});
