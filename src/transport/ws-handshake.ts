/**
 * What a WS/WSS listener asks before it upgrades a connection: may this
 * handshake become a SIP flow? src/security implements it (Origin allowlist,
 * handshake token); the listener only sends the refusal and remembers the
 * user a token bound the flow to.
 */
import type { IncomingMessage } from 'node:http';

export type HandshakeVerdict =
  | { ok: true; /** The SIP user a handshake token names; requests on the flow must be this user's. */ user?: string }
  | { ok: false; status: 401 | 403; reason: string; /** Extra response headers (WWW-Authenticate on a 401). */ headers?: Readonly<Record<string, string>> };

export interface HandshakeCheck {
  /** Called once per upgrade request, after the subprotocol and per-IP checks and before any SIP. */
  check(req: IncomingMessage): HandshakeVerdict | Promise<HandshakeVerdict>;
}
