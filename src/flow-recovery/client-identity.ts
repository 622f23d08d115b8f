/**
 * Who a client is, across its connections: what lets a new flow inherit the
 * dialogs of one that closed. RFC 5626 §4.2: a UA instance names each of its
 * flows by `+sip.instance` and `reg-id` on its Contact; clients that send
 * neither (default SIP.js, most phones) are known by their Contact's user and
 * host, which SIP.js keeps for the life of the page (a random user at a
 * random `.invalid` host) and a phone for the life of its configuration.
 */
import type { SipRequest } from '../sip/message.js';

/** Identity keys of one flow, most specific first. */
export interface ClientIdentity {
  /** `+sip.instance` and `reg-id` (RFC 5626 §4.2), when the Contact carries both. */
  instance?: string;
  /** `user@host` of the Contact, host lower-cased. */
  contact?: string;
}

/** Longest identity part we keep: a Contact from the wire is hostile. */
const MAX_PART = 256;

/** The identity a request's first Contact gives its flow; undefined without a usable Contact. */
export function identityOf(req: SipRequest): ClientIdentity | undefined {
  const contacts = req.contacts();
  if (contacts === undefined || contacts === '*') return undefined;
  const first = contacts[0];
  if (first === undefined) return undefined;
  const out: ClientIdentity = {};
  const instance = first.params.get('+sip.instance');
  const regId = first.params.get('reg-id');
  if (typeof instance === 'string' && instance.length > 0 && typeof regId === 'string' && regId.length > 0) {
    const key = `${unquote(instance)}|${regId}`;
    if (key.length <= MAX_PART) out.instance = key;
  }
  const user = first.uri.user;
  if (user !== undefined && user.length > 0) {
    const key = `${user}@${first.uri.host.toLowerCase()}`;
    if (key.length <= MAX_PART) out.contact = key;
  }
  return out.instance === undefined && out.contact === undefined ? undefined : out;
}

/** The keys an identity is looked up by, most specific first (`i:` instance, `c:` Contact). */
export function identityKeys(id: ClientIdentity): string[] {
  const keys: string[] = [];
  if (id.instance !== undefined) keys.push(`i:${id.instance}`);
  if (id.contact !== undefined) keys.push(`c:${id.contact}`);
  return keys;
}

function unquote(value: string): string {
  return value.length >= 2 && value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value;
}
