/**
 * The plain-RTP side of the media bench, one process (forked with IPC):
 * - a SIP UAS over UDP, the SBC's backend: INVITE → 100, 200 with a PCMU +
 *   telephone-event SDP on a fresh RTP socket, which sends to the address and
 *   port of the offer (the relay) and from which the relay latches us
 *   (symmetric RTP); BYE → 200 and the socket closes; OPTIONS → 200.
 * - bare RTP endpoints on demand (`open`), told where to send (`targets`):
 *   the legs of calls that the bench sets up through rtpengine's ng itself,
 *   or straight to another plain side (the floor, no relay).
 * Every endpoint sends 50 packets/s of stamped payload while the window runs
 * and counts what arrives (bench/media/probe.ts).
 *
 * IPC in:  { cmd: 'open', n } | { cmd: 'targets', ports: number[] } | { cmd: 'closeAll' }
 *          { cmd: 'arm', epoch } | { cmd: 'start' } | { cmd: 'stop' } | { cmd: 'report' } | { cmd: 'close' }
 * IPC out: { ready: { sipPort } } | { opened: number[] } | { targeted: n } | { closedAll: n }
 *          { armed: epoch } | { started: epoch } | { stopped: true } | { report: WindowReport & { endpoints } }
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import type { SipRequest } from '../../src/sip/message.js';
import { parseMessage } from '../../src/sip/parser.js';
import { rand, response } from '../../test/helpers/sip-peer.js';
import { Pacer, rtpPayload, stampedPayload, WindowCounter } from './probe.js';

const HOST = '127.0.0.1';
const SOCKET_BUFFER = 1024 * 1024;

interface Endpoint {
  socket: Socket;
  port: number;
  to: { address: string; port: number } | undefined;
  ssrc: number;
  seq: number;
  timestamp: number;
  callId: string | undefined;
}

const counter = new WindowCounter();
const pacer = new Pacer();
const endpoints: Endpoint[] = [];
const byCallId = new Map<string, { endpoint: Endpoint; ok: string }>();

const sip = createSocket({ type: 'udp4', recvBufferSize: SOCKET_BUFFER, sendBufferSize: SOCKET_BUFFER });
sip.on('message', (buf, rinfo) => {
  try {
    void onSip(buf, rinfo);
  } catch {
    // A message we cannot handle is not the bench's concern.
  }
});

async function openEndpoint(callId?: string): Promise<Endpoint> {
  const socket = createSocket({ type: 'udp4', recvBufferSize: SOCKET_BUFFER, sendBufferSize: SOCKET_BUFFER });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, HOST, () => resolve());
  });
  const endpoint: Endpoint = {
    socket, port: socket.address().port, to: undefined, callId,
    ssrc: (Math.random() * 0xffffffff) >>> 0, seq: Math.floor(Math.random() * 0xffff), timestamp: (Math.random() * 0xffffffff) >>> 0,
  };
  socket.on('message', (packet) => {
    const payload = rtpPayload(packet);
    if (payload !== undefined) counter.onPayload(payload);
  });
  socket.on('error', () => undefined);
  endpoints.push(endpoint);
  return endpoint;
}

function closeEndpoint(endpoint: Endpoint): void {
  const i = endpoints.indexOf(endpoint);
  if (i >= 0) endpoints.splice(i, 1);
  endpoint.socket.close();
}

function sendOne(i: number): void {
  const e = endpoints[i];
  if (e?.to === undefined) return;
  const packet = Buffer.allocUnsafe(12);
  e.seq = (e.seq + 1) & 0xffff;
  e.timestamp = (e.timestamp + 160) >>> 0;
  packet[0] = 0x80;
  packet[1] = 0; // PCMU
  packet.writeUInt16BE(e.seq, 2);
  packet.writeUInt32BE(e.timestamp, 4);
  packet.writeUInt32BE(e.ssrc, 8);
  e.socket.send([packet, stampedPayload(counter.epoch)], e.to.port, e.to.address);
  counter.sent++;
}

function answerSdp(port: number): string {
  return ['v=0', `o=bench 1 1 IN IP4 ${HOST}`, 's=-', `c=IN IP4 ${HOST}`, 't=0 0', `m=audio ${port} RTP/AVP 0 101`,
    'a=rtpmap:0 PCMU/8000', 'a=rtpmap:101 telephone-event/8000', 'a=fmtp:101 0-16', 'a=ptime:20', 'a=sendrecv', ''].join('\r\n');
}

/** Where an offer's audio goes: its c= address and m=audio port. */
function offerTarget(sdp: string): { address: string; port: number } | undefined {
  const port = /\r?\nm=audio (\d+) /.exec(sdp)?.[1];
  const address = /\r?\nc=IN IP4 ([\d.]+)/.exec(sdp)?.[1];
  return port === undefined || address === undefined ? undefined : { address, port: Number(port) };
}

async function onSip(buf: Buffer, rinfo: RemoteInfo): Promise<void> {
  const parsed = parseMessage(buf);
  if (!parsed.ok || parsed.value.kind !== 'request') return;
  const req: SipRequest = parsed.value;
  const reply = (text: string): void => {
    sip.send(text, rinfo.port, rinfo.address);
  };
  const callId = req.callId ?? '';
  switch (req.method) {
    case 'INVITE': {
      const known = byCallId.get(callId);
      if (known !== undefined) {
        reply(known.ok);
        return;
      }
      reply(response(req, 100, 'Trying'));
      const endpoint = await openEndpoint(callId);
      endpoint.to = offerTarget(req.body.toString('utf8'));
      const ok = response(req, 200, 'OK', { toTag: rand(4), headers: [`Contact: <sip:plain@${HOST}:${sip.address().port};transport=udp>`], body: answerSdp(endpoint.port) });
      byCallId.set(callId, { endpoint, ok });
      reply(ok);
      return;
    }
    case 'ACK':
      return;
    case 'BYE': {
      reply(response(req, 200, 'OK'));
      const known = byCallId.get(callId);
      if (known !== undefined) {
        byCallId.delete(callId);
        closeEndpoint(known.endpoint);
      }
      return;
    }
    default:
      reply(response(req, 200, 'OK', { toTag: rand(4) }));
  }
}

function send(message: unknown): void {
  process.send?.(message);
}

process.on('message', (m: { cmd: string; n?: number; ports?: number[]; epoch?: number }) => {
  void (async () => {
    switch (m.cmd) {
      case 'open': {
        const opened: number[] = [];
        for (let i = 0; i < (m.n ?? 0); i++) opened.push((await openEndpoint()).port);
        send({ opened });
        return;
      }
      case 'targets': {
        // The endpoints without a call, in the order `open` returned them.
        const bare = endpoints.filter((e) => e.callId === undefined);
        (m.ports ?? []).forEach((port, i) => {
          const e = bare[i];
          if (e !== undefined) e.to = { address: HOST, port };
        });
        send({ targeted: Math.min(bare.length, m.ports?.length ?? 0) });
        return;
      }
      case 'closeAll': {
        const bare = endpoints.filter((e) => e.callId === undefined);
        for (const e of bare) closeEndpoint(e);
        send({ closedAll: bare.length });
        return;
      }
      case 'arm':
        pacer.stop();
        counter.start(m.epoch ?? 1);
        send({ armed: counter.epoch });
        return;
      case 'start':
        pacer.start(() => endpoints.length, sendOne);
        send({ started: counter.epoch });
        return;
      case 'stop':
        pacer.stop();
        send({ stopped: true });
        return;
      case 'report':
        send({ report: { ...counter.report(), endpoints: endpoints.length } });
        return;
      case 'close':
        pacer.stop();
        for (const e of [...endpoints]) closeEndpoint(e);
        sip.close();
        process.disconnect?.();
        return;
    }
  })();
});

sip.bind(0, HOST, () => send({ ready: { sipPort: sip.address().port } }));
