/** A Flow that records what is sent, for tests where a socket adds nothing. */
import { parseMessage } from '../../../../src/sip/parser.js';
import type { SipMessage } from '../../../../src/sip/message.js';
import type { Address, Flow, ListenerInfo, TransportProtocol } from '../../../../src/transport/flow.js';

let nextId = 0;

export class RecordingFlow implements Flow {
  readonly id = `test-flow-${++nextId}`;
  readonly transport: TransportProtocol;
  readonly listener: ListenerInfo;
  readonly local: Address = { address: '127.0.0.1', port: 5060, family: 'IPv4' };
  readonly remote: Address = { address: '127.0.0.1', port: 5070, family: 'IPv4' };
  readonly secure = false;
  readonly reliable: boolean;
  readonly lastSeen = 0;
  closed = false;
  readonly sent: Buffer[] = [];

  constructor(transport: TransportProtocol = 'udp') {
    this.transport = transport;
    this.reliable = transport !== 'udp';
    this.listener = { transport, address: '127.0.0.1', port: 5060, advertise: '127.0.0.1', index: 0, boundPort: 5060, up: true };
  }

  send(data: Buffer): boolean {
    if (this.closed) return false;
    this.sent.push(data);
    return true;
  }

  close(): void {
    this.closed = true;
  }

  /** Everything sent so far, parsed. */
  messages(): SipMessage[] {
    return this.sent.map((b) => {
      const r = parseMessage(b);
      if (!r.ok) throw new Error(`sent an unparsable message: ${r.error.reason}`);
      return r.value;
    });
  }

  /** Start lines of everything sent ("INVITE", "ACK", "100", "486"...). */
  firstWords(): string[] {
    return this.messages().map((m) => (m.kind === 'request' ? m.method : String(m.status)));
  }
}
