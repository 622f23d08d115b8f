import { WebSocket } from 'ws';
import type { NgMessageSink, NgTransport, NgTransportErrorSink } from './ng-transport.js';

/** Subprotocol of rtpengine's WebSocket ng transport (`docs/http_websocket_support.md`). */
export const NG_WS_SUBPROTOCOL = 'ng.rtpengine.com';

/** Messages held while the connection opens; beyond this they are dropped (and retransmitted later). */
const MAX_QUEUED = 1024;
/** Largest message sent or reply accepted; a `statistics` reply is a few kB, a big SDP ~100 kB. */
const MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

/**
 * ng over WebSocket (rtpengine `--listen-http`): one WS message per ng
 * message, no size limit from datagrams. Connects on first use and again on
 * the next send after the connection drops; the client's retransmission
 * covers messages lost in between.
 */
export class WsNgTransport implements NgTransport {
  readonly maxMessageBytes = MAX_MESSAGE_BYTES;
  readonly #url: string;
  readonly #onMessage: NgMessageSink;
  readonly #onError: NgTransportErrorSink;
  #socket: WebSocket | undefined;
  #queue: Buffer[] = [];
  #closed = false;

  constructor(url: string, onMessage: NgMessageSink, onError: NgTransportErrorSink) {
    this.#url = url;
    this.#onMessage = onMessage;
    this.#onError = onError;
  }

  send(message: Buffer): void {
    if (this.#closed) return;
    const socket = this.#socket ?? this.#connect();
    if (socket.readyState === WebSocket.OPEN) {
      socket.send(message, { binary: true });
    } else if (this.#queue.length < MAX_QUEUED) {
      this.#queue.push(message);
    }
  }

  #connect(): WebSocket {
    const socket = new WebSocket(this.#url, NG_WS_SUBPROTOCOL, { maxPayload: MAX_MESSAGE_BYTES, handshakeTimeout: 5000 });
    this.#socket = socket;
    socket.on('open', () => {
      const queued = this.#queue;
      this.#queue = [];
      for (const message of queued) socket.send(message, { binary: true });
    });
    socket.on('message', (data: Buffer | ArrayBuffer | Buffer[]) => {
      this.#onMessage(Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data));
    });
    socket.on('error', (error) => {
      if (!this.#closed) this.#onError(error);
    });
    socket.on('close', () => {
      // Forget the socket so the next send reconnects; queued messages wait for it.
      if (this.#socket === socket) this.#socket = undefined;
    });
    return socket;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue = [];
    const socket = this.#socket;
    this.#socket = undefined;
    if (socket) socket.terminate();
  }
}
