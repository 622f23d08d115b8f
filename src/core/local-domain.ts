/**
 * What the pipeline asks of a local registrar (src/registrar/local
 * implements it): initial requests it takes instead of a backend — every
 * REGISTER, and requests for users of its domains — and what to do with
 * each: an answer of its own, or the registered contacts to fork to.
 */
import type { SipRequest } from '../sip/message.js';
import type { SipUri } from '../sip/uri.js';
import type { Flow } from '../transport/flow.js';

/** One branch of a fork: the flow the contact registered on, and the Contact URI as Request-URI. */
export type LocalContact =
  | { flow: Flow; requestUri: string }
  /** The contact's flow lives on another node (state.store redis): sent there, with a Route naming the flow. */
  | { node: SipUri; route: string; requestUri: string };

export type LocalDecision =
  | { kind: 'reply'; status: number; reason?: string; headers?: Record<string, string> }
  /** Ring every contact at once (RFC 3261 §16.7): first 2xx wins, the others are cancelled. */
  | { kind: 'fork'; contacts: LocalContact[] };

export interface LocalDomain {
  /** An initial request (no To tag) this gateway answers or routes itself. */
  takes(req: SipRequest): boolean;
  /** REGISTER: the answer; anything else: the lookup. Never rejects (store failures answer 500). */
  route(req: SipRequest, source: Flow): Promise<LocalDecision>;
}
