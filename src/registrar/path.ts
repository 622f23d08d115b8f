import type { SipRequest } from '../sip/message.js';
import type { Flow } from '../transport/flow.js';
import type { FlowTokens } from '../transport/index.js';
import { ownUri } from '../core/record-route.js';

/**
 * Path (RFC 3327 §5.2) on a REGISTER from a client: our URI on the listener
 * facing the registrar, with the client's flow token and `ob` (RFC 5626),
 * always inside <>; `path` added to Supported for strict registrars.
 * With `rewriteWsContact`, transport=ws in the Contact becomes the inside
 * transport: FreeSWITCH dials ws contacts itself instead of following Path
 * (PROTOCOLS.md §3). The Contact user part is never touched (SIP.js matches on it).
 */
export function addPath(req: SipRequest, source: Flow, out: Flow, tokens: FlowTokens, rewriteWsContact: boolean): void {
  req.headers.prepend('path', ownUri(out.listener, tokens.issue(source), ';ob'));
  if (rewriteWsContact) {
    const contacts = req.headers.values('contact');
    if (contacts.some((c) => /;transport=wss?\b/i.test(c))) {
      req.headers.set('contact', contacts.map((c) => c.replace(/;transport=wss?\b/gi, `;transport=${out.transport}`)).join(', '));
    }
  }
  const supported = req.optionTags('supported');
  if (!supported.includes('path')) {
    if (supported.length === 0) req.headers.set('supported', 'path');
    else req.headers.append('supported', 'path');
  }
}

/** Undo the Contact rewrite on the way to a WebSocket client, whose URI said transport=ws. */
export function restoreWsTransport(req: SipRequest, out: Flow): void {
  if (out.transport !== 'ws' && out.transport !== 'wss') return;
  if (/;transport=(udp|tcp|tls)\b/i.test(req.uri)) req.uri = req.uri.replace(/;transport=(udp|tcp|tls)\b/i, ';transport=ws');
}
