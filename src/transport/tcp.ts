import { createServer, type Server } from 'node:net';
import { StreamListener } from './stream-listener.js';

/** SIP over TCP (RFC 3261 §18.3). */
export class TcpListener extends StreamListener {
  protected createServer(): Server {
    return createServer({ noDelay: true }, (socket) => {
      if (this.admit(socket)) this.adopt(socket);
    });
  }
}
