import type { Server, Socket } from 'node:net';
import type { Listener, ListenerContext, ListenerState } from './listener.js';
import { StreamFlow } from './stream-connection.js';

/** What TCP and TLS listeners share: bind, admit connections per IP, turn them into flows, stop. */
export abstract class StreamListener implements Listener {
  readonly info: ListenerState;
  protected readonly ctx: ListenerContext;
  #server: Server | undefined;

  constructor(info: ListenerState, ctx: ListenerContext) {
    this.info = info;
    this.ctx = ctx;
  }

  /** A server whose connected (for TLS: handshaken) sockets are handed to adopt(). */
  protected abstract createServer(): Server;

  start(): Promise<void> {
    const server = this.createServer();
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      // exclusive: a worker's own port (its inside port) is not shared through the cluster primary.
      server.listen({ port: this.info.port, host: this.info.address, exclusive: this.info.bind === 'own' }, () => {
        server.off('error', reject);
        server.on('error', (err) => this.ctx.logger.error({ err, listener: this.info.label }, 'server error'));
        const bound = server.address();
        this.info.boundPort = typeof bound === 'object' && bound !== null ? bound.port : this.info.port;
        this.info.up = true;
        this.#server = server;
        resolve();
      });
    });
  }

  stop(): Promise<void> {
    const server = this.#server;
    this.info.up = false;
    if (server === undefined) return Promise.resolve();
    this.#server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const flow of this.ctx.flows.values()) {
      if (flow.listener === this.info) flow.close('listener-stopped');
    }
    return closed;
  }

  /** Count the socket against its IP; false (socket destroyed) when over the limit. */
  protected admit(socket: Socket): boolean {
    const ip = socket.remoteAddress;
    if (ip === undefined || !this.ctx.admit(ip)) {
      socket.destroy();
      return false;
    }
    socket.once('close', () => this.ctx.release(ip));
    return true;
  }

  /** Make a connected socket an inbound flow. */
  protected adopt(socket: Socket): void {
    if (this.#server === undefined || socket.destroyed || socket.remoteAddress === undefined) {
      socket.destroy();
      return;
    }
    this.ctx.flows.add(new StreamFlow({ listener: this.info, socket, ctx: this.ctx, inbound: true }));
  }
}
