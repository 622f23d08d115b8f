/**
 * What a REGISTER asks of the local registrar (RFC 3261 §10.3), read from
 * the message without touching any binding: the address of record, and
 * either a query (no Contact), a removal of everything (`Contact: *`), or a
 * list of contacts with their expiry, q and RFC 5626 instance / reg-id.
 * Every refusal is a status to answer with; nothing here throws.
 */
import type { NameAddr } from '../../sip/headers/name-addr.js';
import type { SipRequest } from '../../sip/message.js';
import { fail, ok, type Result } from '../../sip/result.js';
import { formatUri, type SipUri } from '../../sip/uri.js';

/** RFC 3261 §10.2.1.1: with neither an expires parameter nor an Expires header, 3600 s. */
export const DEFAULT_EXPIRES_SECONDS = 3600;
/** Most Contact values one REGISTER may carry; a phone sends one, a few at most. */
export const MAX_CONTACTS_PER_REGISTER = 20;
/** Longest AOR and Contact URI kept: they become state keys and values that outlive the message. */
export const MAX_AOR_CHARS = 256;
export const MAX_CONTACT_URI_CHARS = 1024;

export interface ExpiryRules {
  /** registrar.minExpires: a non-zero expiry below it gets 423 (RFC 3261 §10.3 step 7). */
  minExpires: number;
  /** registrar.maxExpires: a longer expiry is granted this long. */
  maxExpires: number;
}

/** One Contact of the REGISTER, as it will be stored. */
export interface RequestedContact {
  /** Identity of the binding: `+sip.instance` + reg-id (RFC 5626 §6), else the Contact URI. */
  key: string;
  /** The Contact URI as the client wrote it (SIP.js matches its user part in the 200). */
  uri: string;
  /** Granted seconds; 0 = remove. */
  expires: number;
  q?: number;
  /** `+sip.instance` value without its quotes, e.g. `<urn:uuid:…>`. */
  instance?: string;
  regId?: number;
}

export type RegisterIntent =
  | { kind: 'query'; aor: string; aorUri: SipUri }
  | { kind: 'remove-all'; aor: string; aorUri: SipUri }
  | { kind: 'update'; aor: string; aorUri: SipUri; contacts: RequestedContact[] };

export interface RegisterRefusal {
  status: number;
  reason: string;
  headers?: Record<string, string>;
}

/** The canonical address of record of a To URI: `sip:user@host`, host lower-cased (RFC 3261 §10.3 step 5). */
export function aorOf(uri: SipUri): string | undefined {
  if (uri.user === undefined || uri.user === '') return undefined;
  if (uri.scheme !== 'sip' && uri.scheme !== 'sips') return undefined;
  return `sip:${uri.user}@${uri.host.toLowerCase()}`;
}

/** Read a REGISTER into what it asks for, or the status that refuses it. */
export function readRegister(req: SipRequest, rules: ExpiryRules): Result<RegisterIntent, RegisterRefusal> {
  const to = req.to();
  if (to === undefined) return fail({ status: 400, reason: 'Malformed To' });
  const aor = aorOf(to.uri);
  if (aor === undefined) return fail({ status: 404, reason: 'Address Of Record Has No User' });
  if (aor.length > MAX_AOR_CHARS) return fail({ status: 400, reason: 'Address Of Record Too Long' });
  const header = expiresHeader(req);
  if (header === 'bad') return fail({ status: 400, reason: 'Malformed Expires' });

  const raw = req.headers.values('contact');
  if (raw.length === 0) return ok({ kind: 'query', aor, aorUri: to.uri });
  const contacts = req.contacts();
  if (contacts === undefined) return fail({ status: 400, reason: raw.includes('*') ? 'Wildcard Contact Must Stand Alone' : 'Malformed Contact' });
  if (contacts === '*') {
    // RFC 3261 §10.3 step 6: "*" only with Expires: 0.
    if (header !== 0) return fail({ status: 400, reason: 'Wildcard Contact Needs Expires: 0' });
    return ok({ kind: 'remove-all', aor, aorUri: to.uri });
  }
  if (contacts.length > MAX_CONTACTS_PER_REGISTER) return fail({ status: 403, reason: 'Too Many Contacts In One Request' });

  const out: RequestedContact[] = [];
  for (const c of contacts) {
    const read = readContact(c, header, rules);
    if (!read.ok) return read;
    out.push(read.value);
  }
  return ok({ kind: 'update', aor, aorUri: to.uri, contacts: out });
}

function readContact(c: NameAddr, header: number | undefined, rules: ExpiryRules): Result<RequestedContact, RegisterRefusal> {
  if (c.uri.scheme !== 'sip' && c.uri.scheme !== 'sips') return fail({ status: 400, reason: 'Contact Must Be A SIP URI' });
  const param = c.params.get('expires');
  // A malformed expires parameter counts as absent (RFC 3261 §10.2.1.1 falls back to the header, then 3600).
  const asked = param !== undefined && param !== null && /^\d{1,10}$/.test(param) ? Number(param) : header ?? DEFAULT_EXPIRES_SECONDS;
  if (asked > 0 && asked < rules.minExpires) {
    return fail({ status: 423, reason: 'Interval Too Brief', headers: { 'Min-Expires': String(rules.minExpires) } });
  }
  const expires = Math.min(asked, rules.maxExpires);
  const uri = formatUri(c.uri);
  if (uri.length > MAX_CONTACT_URI_CHARS) return fail({ status: 400, reason: 'Contact URI Too Long' });
  const contact: RequestedContact = { key: uriKey(c.uri), uri, expires };

  const q = c.params.get('q');
  if (q !== undefined) {
    const value = q === null || !/^(0(\.\d{0,3})?|1(\.0{0,3})?)$/.test(q) ? NaN : Number(q);
    if (Number.isNaN(value)) return fail({ status: 400, reason: 'Malformed q Value' });
    contact.q = value;
  }
  const instance = c.params.get('+sip.instance');
  if (instance !== undefined && instance !== null) contact.instance = unquote(instance);
  const regId = c.params.get('reg-id');
  if (regId !== undefined) {
    if (regId === null || !/^\d{1,9}$/.test(regId)) return fail({ status: 400, reason: 'Malformed reg-id' });
    contact.regId = Number(regId);
  }
  // RFC 5626 §6: a binding with instance and reg-id is that flow of that UA;
  // the same pair from a new flow replaces it.
  if (contact.instance !== undefined && contact.regId !== undefined) contact.key = `${contact.instance} ${contact.regId}`;
  return ok(contact);
}

/** The Expires header: a number, absent, or malformed. */
function expiresHeader(req: SipRequest): number | undefined | 'bad' {
  const v = req.headers.get('expires');
  if (v === undefined) return undefined;
  const t = v.trim();
  return /^\d{1,10}$/.test(t) ? Number(t) : 'bad';
}

/**
 * A Contact URI's identity for comparison (RFC 3261 §19.1.4 in the ways that
 * matter for bindings): scheme, user, host (case-insensitive), port, transport.
 */
function uriKey(uri: SipUri): string {
  const transport = uri.params.get('transport');
  return `${uri.scheme}:${uri.user ?? ''}@${uri.host.toLowerCase()}:${uri.port ?? ''};${typeof transport === 'string' ? transport.toLowerCase() : ''}`;
}

function unquote(v: string): string {
  return v.length >= 2 && v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1) : v;
}
