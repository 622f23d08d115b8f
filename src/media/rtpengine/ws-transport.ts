import { WebSocket } from 'ws';
import type { NgMessageSink, NgTransport, NgTransportErrorSink } from './ng-transport.js';

/** Subprotocol of rtpengine's WebSocket ng transport (`docs/http_websocket_support.md`). */
export const NG_WS_SUBPROTOCOL = 'ng.rtpengine.com';

/** Requests waiting for their turn; beyond this new ones are dropped (and time out). */
const MAX_QUEUED = 1024;
/** Largest message sent or reply accepted; a `statistics` reply is a few kB, a big SDP ~100 kB. */
const MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

/**
 * ng over WebSocket (rtpengine `--listen-http`): one WS message per ng
 * message, no size limit from datagrams.
 *
 * One request at a time per connection: rtpengine 10.5 answers pipelined
 * requests on one connection from several threads and then sometimes splits
 * a reply into a cookie-only frame and a body frame without cookie,
 * interleaved with other replies (5–12 of 300 concurrent offers). Such a
 * reply cannot be matched and is lost until a resend. Strictly one request
 * in flight never showed it (1000 of 1000).
 *
 * Connects on first use and again on the next send after the connection
 * drops; the client's retransmission resends the request in flight.
 */
export class WsNgTransport implements NgTransport {
  readonly maxMessageBytes = MAX_MESSAGE_BYTES;
  readonly #url: string;
  readonly #onMessage: NgMessageSink;
  readonly #onError: NgTransportErrorSink;
  #socket: WebSocket | undefined;
  #inFlight: { message: Buffer; cookie: string } | undefined;
  #queue: Buffer[] = [];
  #closed = false;

  constructor(url: string, onMessage: NgMessageSink, onError: NgTransportErrorSink) {
    this.#url = url;
    this.#onMessage = onMessage;
    this.#onError = onError;
  }

  send(message: Buffer): void {
    if (this.#closed) return;
    if (this.#inFlight?.message === message) {
      this.#write(message);
    } else if (!this.#inFlight) {
      this.#start(message);
    } else if (!this.#queue.includes(message) && this.#queue.length < MAX_QUEUED) {
      this.#queue.push(message);
    }
  }

  cancel(message: Buffer): void {
    if (this.#inFlight?.message === message) {
      this.#inFlight = undefined;
      this.#startNext();
      return;
    }
    const index = this.#queue.indexOf(message);
    if (index >= 0) this.#queue.splice(index, 1);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue = [];
    this.#inFlight = undefined;
    const socket = this.#socket;
    this.#socket = undefined;
    if (socket) socket.terminate();
  }

  #start(message: Buffer): void {
    this.#inFlight = { message, cookie: message.toString('latin1', 0, Math.max(0, message.indexOf(0x20))) };
    this.#write(message);
  }

  #startNext(): void {
    const next = this.#queue.shift();
    if (next) this.#start(next);
  }

  #write(message: Buffer): void {
    const socket = this.#socket ?? this.#connect();
    // Still connecting: 'open' writes the request in flight.
    if (socket.readyState === WebSocket.OPEN) socket.send(message, { binary: true });
  }

  #received(data: Buffer): void {
    const space = data.indexOf(0x20);
    const cookie = space > 0 ? data.toString('latin1', 0, space) : undefined;
    const done = this.#inFlight !== undefined && cookie === this.#inFlight.cookie;
    if (done) this.#inFlight = undefined;
    this.#onMessage(data);
    if (done && !this.#closed && !this.#inFlight) this.#startNext();
  }

  #connect(): WebSocket {
    const socket = new WebSocket(this.#url, NG_WS_SUBPROTOCOL, { maxPayload: MAX_MESSAGE_BYTES, handshakeTimeout: 5000 });
    this.#socket = socket;
    socket.on('open', () => {
      if (this.#inFlight) socket.send(this.#inFlight.message, { binary: true });
    });
    socket.on('message', (data: Buffer | ArrayBuffer | Buffer[]) => {
      this.#received(Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data));
    });
    socket.on('error', (error) => {
      if (!this.#closed) this.#onError(error);
    });
    socket.on('close', () => {
      // Forget the socket so the next send (a retransmission) reconnects.
      if (this.#socket === socket) this.#socket = undefined;
    });
    return socket;
  }
}
