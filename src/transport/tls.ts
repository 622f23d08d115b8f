import type { Server, Socket } from 'node:net';
import { createServer, type TLSSocket } from 'node:tls';
import type { ListenerContext, ListenerState } from './listener.js';
import { StreamListener } from './stream-listener.js';
import { shareTicketKeys, TICKET_KEY_PURPOSE } from './ticket-keys.js';

/** SIP over TLS (RFC 3261 §26.2); a connection becomes a flow once its handshake is done. */
export class TlsListener extends StreamListener {
  readonly #credentials: { cert: string | Buffer; key: string | Buffer };

  constructor(info: ListenerState, ctx: ListenerContext, credentials: { cert: string | Buffer; key: string | Buffer }) {
    super(info, ctx);
    this.#credentials = credentials;
  }

  protected createServer(): Server {
    const server = createServer({
      cert: this.#credentials.cert,
      key: this.#credentials.key,
      minVersion: 'TLSv1.2',
      // A handshake is the first thing a connection must finish; same budget as the first SIP message.
      handshakeTimeout: this.ctx.limits.handshakeTimeoutMs,
    });
    shareTicketKeys(server, this.ctx.flows.tokens.derivedKey(TICKET_KEY_PURPOSE));
    // Count the raw connection, so handshakes in progress are limited per IP too.
    server.on('connection', (raw: Socket) => this.admit(raw));
    server.on('secureConnection', (socket: TLSSocket) => this.adopt(socket));
    server.on('tlsClientError', (err) => this.ctx.logger.debug({ err, listener: this.info.label }, 'tls handshake failed'));
    return server;
  }
}
