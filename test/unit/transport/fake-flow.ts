import { FlowBase } from '../../../src/transport/flow-base.js';
import type { ListenerInfo, TransportProtocol } from '../../../src/transport/flow.js';

export function listenerInfo(index: number, transport: TransportProtocol): ListenerInfo {
  return { index, transport, address: '127.0.0.1', port: 5060, advertise: 'sbc.example.com', boundPort: 5060, up: true };
}

/** A flow without a socket: records what it was asked to send. */
export class FakeFlow extends FlowBase {
  readonly sent: Buffer[] = [];
  releasedWith: string | undefined;

  constructor(id: string, transport: TransportProtocol, remote: { address: string; port: number }, listenerIndex = 0) {
    super({
      id,
      transport,
      listener: listenerInfo(listenerIndex, transport),
      local: { address: '127.0.0.1', port: 5060, family: 'IPv4' },
      remote: { ...remote, family: remote.address.includes(':') ? 'IPv6' : 'IPv4' },
      inbound: true,
    });
  }

  protected write(data: Buffer): boolean {
    this.sent.push(data);
    return true;
  }

  protected release(reason: string): void {
    this.releasedWith = reason;
  }
}
