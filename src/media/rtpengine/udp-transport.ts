import { createSocket, type Socket } from 'node:dgram';
import type { NgMessageSink, NgTransport, NgTransportErrorSink } from './ng-transport.js';

/**
 * ng over UDP (`--listen-ng`): one unconnected socket per engine client, so
 * replies are matched by cookie only and a changing engine address (DNS) is
 * followed on each send.
 */
export class UdpNgTransport implements NgTransport {
  /** 65535 minus the IP (20, IPv4 only) and UDP (8) headers. */
  readonly maxMessageBytes: number;
  readonly #socket: Socket;
  readonly #host: string;
  readonly #port: number;
  #closed = false;

  constructor(family: 4 | 6, host: string, port: number, onMessage: NgMessageSink, onError: NgTransportErrorSink) {
    this.#host = host;
    this.#port = port;
    this.maxMessageBytes = family === 6 ? 65_527 : 65_507;
    this.#socket = createSocket(family === 6 ? 'udp6' : 'udp4');
    this.#socket.on('message', (message) => onMessage(message));
    this.#socket.on('error', onError);
  }

  send(message: Buffer): void {
    if (this.#closed) return;
    this.#socket.send(message, this.#port, this.#host, (error) => {
      if (error && !this.#closed) this.#socket.emit('error', error);
    });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#socket.close();
    } catch {
      // Never bound (no send happened): nothing to close.
    }
  }
}
