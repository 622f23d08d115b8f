import { createSocket, type Socket } from 'node:dgram';
import { parseMessage } from '../../../../src/sip/parser.js';

/**
 * A scripted SIP "backend" on a real UDP socket: answers every request with
 * `status`. It can be closed and reopened on the same port to play a backend
 * that dies and comes back.
 */
export class UdpSipBackend {
  status: number;
  /** Requests answered since start. */
  answered = 0;
  #socket: Socket | undefined;
  #port = 0;

  private constructor(status: number) {
    this.status = status;
  }

  static async start(status = 200): Promise<UdpSipBackend> {
    const backend = new UdpSipBackend(status);
    await backend.reopen();
    return backend;
  }

  get port(): number {
    return this.#port;
  }

  get uri(): string {
    return `sip:127.0.0.1:${this.#port};transport=udp`;
  }

  /** Bind again (on the same port after a close). */
  async reopen(): Promise<void> {
    if (this.#socket !== undefined) return;
    const socket = createSocket('udp4');
    socket.on('message', (data, rinfo) => {
      const reply = this.#reply(data);
      if (reply !== undefined) socket.send(reply, rinfo.port, rinfo.address);
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(this.#port, '127.0.0.1', () => {
        socket.off('error', reject);
        resolve();
      });
    });
    this.#port = socket.address().port;
    this.#socket = socket;
  }

  /** Idempotent. */
  async close(): Promise<void> {
    const socket = this.#socket;
    if (socket === undefined) return;
    this.#socket = undefined;
    await new Promise<void>((resolve) => socket.close(() => resolve()));
  }

  #reply(data: Buffer): Buffer | undefined {
    const parsed = parseMessage(data);
    if (!parsed.ok || parsed.value.kind !== 'request') return undefined;
    const req = parsed.value;
    this.answered++;
    const lines = [`SIP/2.0 ${this.status} ${this.status === 200 ? 'OK' : 'Scripted'}`];
    for (const via of req.headers.getAll('via')) lines.push(`Via: ${via}`);
    lines.push(
      `From: ${req.headers.get('from') ?? ''}`,
      `To: ${req.headers.get('to') ?? ''};tag=backend`,
      `Call-ID: ${req.headers.get('call-id') ?? ''}`,
      `CSeq: ${req.headers.get('cseq') ?? ''}`,
      'Content-Length: 0',
      '',
      '',
    );
    return Buffer.from(lines.join('\r\n'));
  }
}
