/**
 * Tiny Flows over real loopback sockets, and the peer on the other end that
 * collects what arrives. Test messages carry no body, so the TCP peer frames
 * on the blank line.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import type { Address, Flow, ListenerInfo, TransportProtocol } from '../../../../src/transport/flow.js';

class SocketFlow implements Flow {
  readonly id: string;
  readonly listener: ListenerInfo;
  readonly secure = false;
  readonly lastSeen = 0;
  closed = false;

  constructor(
    readonly transport: TransportProtocol,
    readonly local: Address,
    readonly remote: Address,
    readonly reliable: boolean,
    private readonly write: (data: Buffer) => void,
    private readonly onClose: () => void,
  ) {
    this.id = `${transport}:${remote.address}:${remote.port}`;
    this.listener = { transport, address: local.address, port: local.port, advertise: local.address, index: 0, boundPort: local.port, up: true };
  }

  send(data: Buffer): boolean {
    if (this.closed) return false;
    this.write(data);
    return true;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.onClose();
  }
}

/** Our flow plus the remote peer: what the peer received, as text, in order. */
export interface SocketPair {
  flow: Flow;
  received: string[];
  close(): Promise<void>;
}

const v4 = (port: number): Address => ({ address: '127.0.0.1', port, family: 'IPv4' });

export async function udpPair(): Promise<SocketPair> {
  const ours: UdpSocket = createSocket('udp4');
  const peer: UdpSocket = createSocket('udp4');
  ours.bind(0, '127.0.0.1');
  peer.bind(0, '127.0.0.1');
  await Promise.all([once(ours, 'listening'), once(peer, 'listening')]);
  const received: string[] = [];
  peer.on('message', (msg) => received.push(msg.toString('utf8')));
  const peerPort = peer.address().port;
  const flow = new SocketFlow('udp', v4(ours.address().port), v4(peerPort), false, (d) => ours.send(d, peerPort, '127.0.0.1'), () => {});
  return {
    flow,
    received,
    close: async () => {
      flow.close();
      await Promise.all([new Promise<void>((r) => ours.close(() => r())), new Promise<void>((r) => peer.close(() => r()))]);
    },
  };
}

export async function tcpPair(): Promise<SocketPair> {
  const server: Server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  const accepted = once(server, 'connection');
  const ours: Socket = connect(port, '127.0.0.1');
  await once(ours, 'connect');
  const [peer] = (await accepted) as [Socket];
  const received: string[] = [];
  let buffered = '';
  peer.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('utf8');
    let end: number;
    while ((end = buffered.indexOf('\r\n\r\n')) >= 0) {
      received.push(buffered.slice(0, end + 4));
      buffered = buffered.slice(end + 4);
    }
  });
  const flow = new SocketFlow('tcp', v4(ours.localPort ?? 0), v4(port), true, (d) => ours.write(d), () => ours.destroy());
  return {
    flow,
    received,
    close: async () => {
      flow.close();
      peer.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
