import type { Server, Socket } from 'node:net';
import { createServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import type { ListenerContext, ListenerState } from './listener.js';
import { StreamListener } from './stream-listener.js';
import { applyCredentials, secureContextOptions, type TlsCredentials, type TlsCredentialsHolder } from './tls-credentials.js';
import { shareTicketKeys, TICKET_KEY_PURPOSE } from './ticket-keys.js';

/** SIP over TLS (RFC 3261 §26.2); a connection becomes a flow once its handshake is done. */
export class TlsListener extends StreamListener implements TlsCredentialsHolder {
  #credentials: TlsCredentials;
  #server: TlsServer | undefined;

  constructor(info: ListenerState, ctx: ListenerContext, credentials: TlsCredentials) {
    super(info, ctx);
    this.#credentials = credentials;
  }

  /** New connections shake hands with these; open ones keep theirs. Throws when OpenSSL refuses them. */
  setCredentials(credentials: TlsCredentials): void {
    if (this.#server !== undefined) applyCredentials(this.#server, credentials);
    this.#credentials = credentials;
  }

  protected createServer(): Server {
    const server = createServer({
      ...secureContextOptions(this.#credentials),
      // A handshake is the first thing a connection must finish; same budget as the first SIP message.
      handshakeTimeout: this.ctx.limits.handshakeTimeoutMs,
    });
    this.#server = server;
    shareTicketKeys(server, this.ctx.flows.tokens.derivedKey(TICKET_KEY_PURPOSE));
    // Count the raw connection, so handshakes in progress are limited per IP too.
    server.on('connection', (raw: Socket) => this.admit(raw));
    server.on('secureConnection', (socket: TLSSocket) => this.adopt(socket));
    server.on('tlsClientError', (err) => this.ctx.logger.debug({ err, listener: this.info.label }, 'tls handshake failed'));
    return server;
  }
}
