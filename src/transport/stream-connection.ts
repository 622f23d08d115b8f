import type { Socket } from 'node:net';
import { StreamFramer } from '../sip/framer.js';
import { FlowBase } from './flow-base.js';
import { CRLF_PONG } from './keepalive.js';
import { connectionFlowId, familyOf, type ListenerContext, type ListenerState } from './listener.js';

/** Reasons after which the peer is gone or misbehaving: no point flushing. */
const ABORT_REASONS: ReadonlySet<string> = new Set(['peer-closed', 'socket-error', 'write-backlog']);
/** How long a graceful close may wait for queued bytes before the socket is destroyed. */
const FLUSH_GRACE_MS = 2000;

/**
 * A TCP or TLS connection as a flow: bytes are framed by Content-Length
 * (RFC 3261 §18.3), CRLF keepalives are answered (RFC 5626 §4.4.1), and any
 * framing violation closes the connection since the byte stream cannot be resynchronised.
 */
export class StreamFlow extends FlowBase {
  readonly #socket: Socket;
  readonly #ctx: ListenerContext;
  readonly #framer: StreamFramer;
  #handshakeTimer: NodeJS.Timeout | undefined;
  #flushTimer: NodeJS.Timeout | undefined;

  /** `socket` must be connected (remote address known). */
  constructor(init: { listener: ListenerState; socket: Socket; ctx: ListenerContext; inbound: boolean }) {
    const { socket, listener, ctx } = init;
    const remoteAddress = socket.remoteAddress ?? '';
    const localAddress = socket.localAddress ?? listener.address;
    super({
      id: connectionFlowId(listener.transport),
      transport: listener.transport,
      listener,
      local: { address: localAddress, port: socket.localPort ?? listener.boundPort, family: familyOf(localAddress) },
      remote: { address: remoteAddress, port: socket.remotePort ?? 0, family: familyOf(remoteAddress) },
      inbound: init.inbound,
      tap: listener.tap,
    });
    this.#socket = socket;
    this.#ctx = ctx;
    this.#framer = new StreamFramer({ maxMessageBytes: ctx.limits.maxMessageBytes });
    socket.setNoDelay(true);
    // Node's socket timeout counts reads and writes, which is exactly "silence in both directions".
    socket.setTimeout(ctx.limits.idleTimeoutMs, () => this.close('idle'));
    // We opened outbound connections ourselves; only a peer that connected to us must prove it speaks SIP.
    if (init.inbound) this.#handshakeTimer = setTimeout(() => this.close('handshake-timeout'), ctx.limits.handshakeTimeoutMs);
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (err) => {
      ctx.logger.debug({ err, flow: this.id }, 'connection error');
      this.close('socket-error');
    });
    socket.on('close', () => {
      clearTimeout(this.#flushTimer);
      this.#flushTimer = undefined;
      this.close('peer-closed');
    });
  }

  protected write(data: Buffer): boolean {
    if (this.#socket.writableLength > this.#ctx.limits.maxWriteBufferBytes) {
      this.#ctx.logger.warn({ flow: this.id, queued: this.#socket.writableLength }, 'peer does not read; closing connection');
      this.close('write-backlog');
      return false;
    }
    this.#socket.write(data);
    return true;
  }

  protected release(reason: string): void {
    this.#established();
    const socket = this.#socket;
    socket.setTimeout(0);
    if (ABORT_REASONS.has(reason) || socket.destroyed) {
      socket.destroy();
      return;
    }
    // Let queued responses go out, but never wait on a peer that stopped reading.
    socket.end();
    this.#flushTimer = setTimeout(() => socket.destroy(), FLUSH_GRACE_MS);
    this.#flushTimer.unref();
  }

  #established(): void {
    if (this.#handshakeTimer === undefined) return;
    clearTimeout(this.#handshakeTimer);
    this.#handshakeTimer = undefined;
  }

  #onData(chunk: Buffer): void {
    if (this.closed) return;
    for (const event of this.#framer.push(chunk)) {
      if (this.closed) return;
      switch (event.kind) {
        case 'message':
          this.#established();
          this.#ctx.receive(this, event.data);
          break;
        case 'ping':
          // RFC 5626 §4.4.1: a double-CRLF ping gets a single-CRLF pong.
          this.#established();
          this.touch();
          this.send(CRLF_PONG);
          break;
        case 'error':
          this.#ctx.logger.debug({ flow: this.id, code: event.error.code }, 'stream framing violation; closing');
          this.#ctx.invalid(this, event.error);
          this.close('framing-error');
          return;
      }
    }
  }
}
