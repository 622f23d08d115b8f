/**
 * Requests on a connection whose handshake token named a user
 * (security.websocket.token) are that user's: an initial request From
 * another user, or a REGISTER for another AOR (To), gets 403. Such requests
 * need no digest credentials: the token was the authentication. Requests on
 * other flows go to the digest authenticator, when there is one.
 *
 * The claim "alice" binds the user part only; "alice@example.com" binds the
 * domain too (host compared case-insensitively, user case-sensitively as
 * RFC 3261 §19.1.4 compares them).
 */
import type { AuthDenial, Authenticator } from '../core/request-checks.js';
import type { SipRequest } from '../sip/message.js';
import type { Flow } from '../transport/flow.js';

const NOT_THE_TOKEN_USER: AuthDenial = { status: 403, phrase: 'Forbidden: not the user of the token', reason: 'token-user-mismatch' };

export class TokenUserBinding implements Authenticator {
  #digest: Authenticator | undefined;

  constructor(digest: Authenticator | undefined) {
    this.#digest = digest;
  }

  check(req: SipRequest, flow: Flow): AuthDenial | undefined {
    const bound = flow.boundUser;
    if (bound === undefined) return this.#digest?.check(req, flow);
    // ACK and CANCEL belong to a request that was checked (RFC 3261 §22.1 leaves them unchallenged too).
    if (req.method === 'ACK' || req.method === 'CANCEL') return undefined;
    if (!isUser(bound, req.from()?.uri)) return NOT_THE_TOKEN_USER;
    if (req.method === 'REGISTER' && !isUser(bound, req.to()?.uri)) return NOT_THE_TOKEN_USER;
    return undefined;
  }
}

function isUser(bound: string, uri: { user?: string | undefined; host: string } | undefined): boolean {
  if (uri === undefined || uri.user === undefined) return false;
  const at = bound.lastIndexOf('@');
  if (at < 0) return uri.user === bound;
  return uri.user === bound.slice(0, at) && uri.host.toLowerCase() === bound.slice(at + 1).toLowerCase();
}
