import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { lookup as dnsLookup, type LookupOneOptions } from 'node:dns';
import { readlink } from 'node:fs/promises';
import { isIP } from 'node:net';
import { FlowBase } from './flow-base.js';
import { udpFlowId } from './flow-token.js';
import type { Address } from './flow.js';
import { crlfKeepalive } from './keepalive.js';
import { familyOf, tooLargeError, type Listener, type ListenerContext, type ListenerState } from './listener.js';
import { bindReusePort } from './reuse-port.js';
import { isStunBindingRequest, stunBindingResponse } from './stun.js';

/** A UDP flow: the listener socket plus one remote address. Sends leave from the listener socket. */
export class UdpFlow extends FlowBase {
  readonly #owner: UdpListener;

  constructor(owner: UdpListener, local: Address, remote: Address, inbound: boolean) {
    super({ id: udpFlowId(owner.info.index, remote.address, remote.port), transport: 'udp', listener: owner.info, local, remote, inbound, tap: owner.info.tap });
    this.#owner = owner;
  }

  protected write(data: Buffer): boolean {
    return this.#owner.sendTo(data, this.remote.address, this.remote.port);
  }

  // Nothing to release: the socket belongs to the listener.
  protected release(): void {}
}

/** A dgram listener; one socket per configured address (IPv4 or IPv6). */
export class UdpListener implements Listener {
  readonly info: ListenerState;
  readonly #ctx: ListenerContext;
  #socket: Socket | undefined;
  #local: Address | undefined;

  constructor(info: ListenerState, ctx: ListenerContext) {
    this.info = info;
    this.#ctx = ctx;
  }

  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      const socket = createSocket({ type: this.info.family === 'IPv6' ? 'udp6' : 'udp4', lookup: literalLookup });
      const onStartError = (err: Error): void => {
        socket.close();
        reject(err);
      };
      socket.once('error', onStartError);
      const onBound = (): void => {
        socket.off('error', onStartError);
        // A socket error after bind (ICMP unreachable and the like) concerns one datagram, not the listener.
        socket.on('error', (err) => this.#ctx.logger.warn({ err, listener: this.info.label }, 'udp socket error'));
        socket.on('message', (msg, rinfo) => this.#onDatagram(msg, rinfo));
        try {
          socket.setRecvBufferSize(this.#ctx.limits.udpReceiveBufferBytes);
          socket.setSendBufferSize(Math.min(this.#ctx.limits.udpReceiveBufferBytes, 1024 * 1024));
        } catch (err) {
          this.#ctx.logger.warn({ err, listener: this.info.label }, 'could not enlarge the UDP socket buffers');
        }
        const bound = socket.address();
        this.#socket = socket;
        this.#local = { address: bound.address, port: bound.port, family: familyOf(bound.address) };
        this.info.boundPort = bound.port;
        this.info.up = true;
        resolve();
      };
      switch (this.info.bind) {
        case 'reuse-port': {
          let fd: number;
          try {
            fd = bindReusePort(this.info.address, this.info.port);
          } catch (err) {
            socket.close();
            reject(err);
            return;
          }
          // exclusive: a cluster worker keeps this socket to itself (no handle shared through the primary).
          socket.bind({ fd, exclusive: true }, onBound);
          void socketInode(fd).then((inode) => { this.info.socketInode = inode; });
          break;
        }
        case 'own':
          socket.bind({ port: this.info.port, address: this.info.address, exclusive: true }, onBound);
          break;
        default:
          socket.bind(this.info.port, this.info.address, onBound);
      }
    });
  }

  stop(): Promise<void> {
    const socket = this.#socket;
    this.info.up = false;
    if (socket === undefined) return Promise.resolve();
    this.#socket = undefined;
    for (const flow of this.#ctx.flows.values()) {
      if (flow.listener === this.info) flow.close('listener-stopped');
    }
    return new Promise((resolve) => socket.close(() => resolve()));
  }

  /** The flow to `address:port` through this socket, created when absent; undefined when the listener is down. */
  flowTo(address: string, port: number, inbound = false): UdpFlow | undefined {
    const local = this.#local;
    if (this.#socket === undefined || local === undefined) return undefined;
    const existing = this.#ctx.flows.get(udpFlowId(this.info.index, address, port));
    if (existing instanceof UdpFlow && !existing.closed) return existing;
    const flow = new UdpFlow(this, local, { address, port, family: familyOf(address) }, inbound);
    this.#ctx.flows.add(flow);
    return flow;
  }

  /** Send one datagram; false when the listener is down. */
  sendTo(data: Buffer, address: string, port: number): boolean {
    const socket = this.#socket;
    if (socket === undefined) return false;
    // A callback costs every datagram a process.nextTick (or a completion callback): only asked
    // for while debug logging is on, the one place a failed send is reported.
    if (this.#ctx.logger.isLevelEnabled('debug')) {
      socket.send(data, port, address, (err) => {
        if (err) this.#ctx.logger.debug({ err, listener: this.info.label, address, port }, 'udp send failed');
      });
    } else socket.send(data, port, address);
    return true;
  }

  /** A datagram that reached another worker's socket and was passed here: handled as if it came to this socket. */
  receiveSteered(msg: Buffer, address: string, port: number): void {
    if (msg.length === 0 || msg.length > this.#ctx.limits.maxMessageBytes) return;
    const flow = this.flowTo(address, port, true);
    if (flow === undefined) return;
    if (this.#ctx.receiveSteered !== undefined) this.#ctx.receiveSteered(flow, msg);
    else this.#ctx.receive(flow, msg);
  }

  #onDatagram(msg: Buffer, rinfo: RemoteInfo): void {
    // SIP starts with a letter; below 0x20 is a keepalive or noise. Neither creates a flow.
    const first = msg[0];
    if (first === undefined || first < 0x20) {
      this.#onKeepalive(msg, rinfo);
      return;
    }
    const flow = this.flowTo(rinfo.address, rinfo.port, true);
    if (flow === undefined) return;
    if (msg.length > this.#ctx.limits.maxMessageBytes) {
      flow.touch();
      this.#ctx.invalid(flow, tooLargeError());
      return;
    }
    this.#ctx.receive(flow, msg);
  }

  #onKeepalive(msg: Buffer, rinfo: RemoteInfo): void {
    // RFC 5626 §4.4.2 / §8.4: UDP keepalives are STUN Binding requests, answered with the mapped address.
    if (isStunBindingRequest(msg)) {
      const response = stunBindingResponse(msg, rinfo.address, rinfo.port);
      if (response !== undefined) this.sendTo(response, rinfo.address, rinfo.port);
    } else if (crlfKeepalive(msg) === undefined) {
      return;
    }
    this.#ctx.flows.get(udpFlowId(this.info.index, rinfo.address, rinfo.port))?.touch();
  }
}

/**
 * dgram asks its lookup for every datagram; ours answers an IP literal (what
 * the core always sends to) at once, where dns.lookup answers it on the next
 * tick. Names still go to dns.lookup.
 */
function literalLookup(address: string, options: LookupOneOptions | number, callback: (err: NodeJS.ErrnoException | null, address: string, family: number) => void): void {
  const family = isIP(address);
  if (family !== 0) callback(null, address, family);
  else dnsLookup(address, options as LookupOneOptions, callback);
}

/** The inode of the socket behind `fd` (`socket:[N]` in /proc/self/fd), undefined where there is no /proc. */
async function socketInode(fd: number): Promise<number | undefined> {
  const link = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
  const m = /^socket:\[(\d+)\]$/.exec(link);
  return m === null ? undefined : Number(m[1]);
}
