/**
 * Proxy-mode topology hiding (PROTOCOLS.md §5, Kamailio topos-like, but the
 * record lives as long as the dialog and re-INVITEs refresh it).
 *
 *   toward outside  only our Via; only our outside-facing Record-Route entry,
 *                   which carries `;tk=KEY`; the inside Contact becomes
 *                   `sip:KEY@us`; inside-only headers stripped; Call-IDs of
 *                   dialogs that started inside masked (optional)
 *   stored          topo:KEY → r.<insideTag> = the route set behind our entry,
 *                   c.<insideTag> = the inside party's Contact
 *   from outside    the Route of ours carrying tk gets the stored route set
 *                   back; a Request-URI `sip:KEY@us` gets the stored Contact
 *
 * Vias need no record: the server transaction still holds the request's
 * own Vias, and the pipeline puts them back on the responses.
 * The inside tag is the tag of the inside party: From-tag of requests from
 * inside, To-tag of requests (and responses) coming the other way.
 */
import { ParamList } from '../sip/param-list.js';
import { formatParams, formatUri, parseUri } from '../sip/uri.js';
import { formatNameAddr, parseNameAddr, type NameAddr } from '../sip/headers/name-addr.js';
import type { SipMessage, SipRequest, SipResponse } from '../sip/message.js';
import { randomToken } from '../sip/ids.js';
import { KEY_FAMILY, stateKey } from '../state/index.js';
import { hashFields } from '../state/hash-fields.js';
import type { RecordStore } from '../state/mirrored-records.js';
import type { ListenerInfo } from '../transport/flow.js';
import type { Logger } from '../log/logger.js';
import { ownContactUri } from '../core/record-route.js';
import { ownString } from '../transaction/index.js';
import { CallIdMask } from './call-id-mask.js';
import { DEFAULT_STRIP_HEADERS, HeaderPolicy } from './header-policy.js';

/** Defaults of the `topologyHiding` keys the schema leaves optional. */
export const TOPOLOGY_DEFAULTS = {
  hideClientVias: false,
  dialogTtlSeconds: 12 * 3600,
  earlyTtlSeconds: 180,
  stripHeaders: DEFAULT_STRIP_HEADERS,
} as const;

export interface TopologyHidingOptions {
  /** Where the records live (the state store, or a worker's MirroredRecords). */
  store: RecordStore;
  /** state.redis.keyPrefix: every key of ours starts with it. */
  keyPrefix: string;
  /** Key of the Call-ID mask; share it across nodes (flowTokens.secret). */
  secret: string | Buffer;
  maskCallId: boolean;
  hideClientVias?: boolean;
  stripHeaders?: readonly string[];
  dialogTtlSeconds?: number;
  earlyTtlSeconds?: number;
  /** Written as Server / User-Agent in place of the inside ones. */
  productName?: string;
  logger: Logger;
}

/** URI parameter of our outside-facing Record-Route entry that names the record. */
export const TOPOLOGY_KEY_PARAM = 'tk';
/** `k` = plain dialog, `m` = dialog whose Call-ID is masked; then 72 random bits. */
const KEY_SHAPE = /^[km][0-9a-f]{18}$/;
/** Keys issued by this node remembered for `liveRecords()` (diagnostics, tests). */
const ISSUED_MAX = 10_000;
/** A stored route list (JSON text of the entries); most dialogs have no proxy inside record-routing, so nothing to store. */
const EMPTY_ROUTES = '[]';
const routeListText = (entries: readonly string[]): string => (entries.length === 0 ? EMPTY_ROUTES : JSON.stringify(entries));
/** Contact header parameters a REGISTER's 200 may keep on its way to the client. */
const REGISTER_CONTACT_PARAMS: ReadonlySet<string> = new Set(['expires', 'q', '+sip.instance', 'reg-id']);

/** What `hideRequest` removed that the response on the way back needs. */
export interface HiddenRequest {
  /** Record-Route entries below our outside-facing one (RR order), to put back in responses going inside. */
  recordRouteBelow?: string[];
}

export class TopologyHiding {
  readonly hideClientVias: boolean;
  readonly #store: RecordStore;
  readonly #prefix: string;
  readonly #mask: CallIdMask | undefined;
  readonly #policy: HeaderPolicy;
  readonly #dialogTtl: number;
  readonly #earlyTtl: number;
  readonly #log: Logger;
  /** The last ISSUED_MAX keys issued, a ring (newest at #issuedNext - 1): no hashing per call. */
  readonly #issued: string[] = [];
  #issuedNext = 0;

  constructor(o: TopologyHidingOptions) {
    this.#store = o.store;
    this.#prefix = o.keyPrefix;
    this.#mask = o.maskCallId ? new CallIdMask(o.secret) : undefined;
    this.#policy = new HeaderPolicy(o.stripHeaders ?? TOPOLOGY_DEFAULTS.stripHeaders, o.productName);
    this.hideClientVias = o.hideClientVias ?? TOPOLOGY_DEFAULTS.hideClientVias;
    this.#dialogTtl = o.dialogTtlSeconds ?? TOPOLOGY_DEFAULTS.dialogTtlSeconds;
    this.#earlyTtl = o.earlyTtlSeconds ?? TOPOLOGY_DEFAULTS.earlyTtlSeconds;
    this.#log = o.logger;
  }

  // ── keys ──────────────────────────────────────────────────────────────

  /** A key for a new dialog; `startedInside` dialogs get their Call-ID masked when masking is on. */
  newKey(startedInside: boolean): string {
    const key = (startedInside && this.#mask !== undefined ? 'm' : 'k') + randomToken(9);
    this.#issued[this.#issuedNext] = key;
    this.#issuedNext = (this.#issuedNext + 1) % ISSUED_MAX;
    return key;
  }

  isKey(text: string | undefined | null): text is string {
    return typeof text === 'string' && KEY_SHAPE.test(text);
  }

  /** Our Record-Route parameter carrying `key`. */
  routeParam(key: string): string {
    return `;${TOPOLOGY_KEY_PARAM}=${key}`;
  }

  // ── Call-ID ───────────────────────────────────────────────────────────

  /** Does this dialog's Call-ID go outside masked? */
  masks(key: string | undefined): boolean {
    return this.#mask !== undefined && key !== undefined && key.startsWith('m');
  }

  /** The Call-ID a dialog shows outside when it is masked (for its call record); undefined when it is not. */
  outsideCallId(callId: string, key: string | undefined): string | undefined {
    return this.masks(key) ? this.#mask!.mask(callId) : undefined;
  }

  /** Cheap first test before `unmaskIncoming`: masking is on and the Call-ID has our prefix. */
  mayBeMasked(msg: SipMessage): boolean {
    return this.#mask !== undefined && CallIdMask.looksMasked(msg.callId ?? '');
  }

  /** Undo our mask on a message from outside, in place; returns the masked form when there was one. */
  unmaskIncoming(msg: SipMessage): string | undefined {
    if (this.#mask === undefined) return undefined;
    const callId = msg.callId;
    if (callId === undefined || !CallIdMask.looksMasked(callId)) return undefined;
    const plain = this.#mask.unmask(callId);
    if (plain === undefined) return undefined;
    msg.headers.set('call-id', plain);
    return callId;
  }

  maskCallId(msg: SipMessage): void {
    const callId = msg.callId;
    if (this.#mask === undefined || callId === undefined) return;
    msg.headers.set('call-id', this.#mask.mask(callId));
  }

  // ── requests ──────────────────────────────────────────────────────────

  /**
   * A request leaving toward an outside flow through `listener` (our Via is
   * already the only one). Keeps only our Record-Route entry carrying `key`
   * and stores what was below it; replaces an inside Contact by ours.
   * @throws when the store fails (the pipeline answers 500)
   */
  async hideRequest(req: SipRequest, o: { sourceInside: boolean; listener: ListenerInfo; key: string | undefined; recordRouted: boolean }): Promise<HiddenRequest> {
    const hidden: HiddenRequest = {};
    const fields = hashFields();
    let count = 0;
    const insideTag = req.from()?.params.get('tag') ?? '';
    const rr = req.headers.values('record-route');
    if (rr.length > 0) {
      const at = o.recordRouted && o.key !== undefined ? rr.findIndex((v) => v.includes(this.routeParam(o.key!))) : -1;
      // Ours alone (the usual case) is already what leaves: the header stays as it is.
      const oursAlone = at === 0 && rr.length === 1;
      if (!oursAlone) req.headers.remove('record-route');
      if (at >= 0) {
        // A request from inside: ours are on top, everything below is inside.
        if (!oursAlone) req.headers.prepend('record-route', rr[at]!);
        // Kept for the responses (as long as the INVITE's proxy context): copied out of the message text.
        hidden.recordRouteBelow = rr.slice(at + 1).map(ownString);
        fields[`r.${insideTag}`] = routeListText(hidden.recordRouteBelow);
        count++;
      }
    }
    req.headers.remove('path');
    req.headers.remove('service-route');
    if (o.sourceInside) {
      if (req.method !== 'REGISTER') {
        const original = this.#replaceContacts(req, o.listener, o.key);
        if (original !== undefined && o.key !== undefined) {
          fields[`c.${insideTag}`] = original;
          count++;
        }
      }
      this.#policy.apply(req.headers, 'request');
      if (this.masks(o.key)) this.maskCallId(req);
    }
    if (o.key !== undefined && count > 0) {
      const early = req.method === 'INVITE' && o.recordRouted;
      await this.#store.hset(this.#key(o.key), fields, early ? this.#earlyTtl : this.#dialogTtl);
    }
    return hidden;
  }

  /**
   * An in-dialog request from outside that named `key` (our Route entry's
   * tk, or the user of our Contact in its Request-URI): the stored route
   * set goes back on top of its Route header and our Contact in the
   * Request-URI becomes the inside party's. False when no record exists.
   * @throws when the store fails
   */
  async restoreRequest(req: SipRequest, key: string, contactKey: boolean): Promise<boolean> {
    const record = await this.#store.hgetall(this.#key(key));
    const insideTag = req.to()?.params.get('tag') ?? '';
    const routes = pick(record, 'r.', insideTag);
    const contact = pick(record, 'c.', insideTag);
    if (routes === undefined && contact === undefined) return false;
    if (routes !== undefined && routes !== EMPTY_ROUTES) {
      const list = JSON.parse(routes) as unknown;
      if (Array.isArray(list)) {
        for (let i = list.length - 1; i >= 0; i--) {
          const v = list[i];
          if (typeof v === 'string') req.headers.prepend('route', v);
        }
      }
    }
    if (contactKey && contact !== undefined) req.uri = contact;
    // Re-INVITE and UPDATE keep the dialog alive: so does its record (unlike topos).
    if (req.method === 'INVITE' || req.method === 'UPDATE') await this.#store.expire(this.#key(key), this.#dialogTtl);
    return true;
  }

  // ── responses ─────────────────────────────────────────────────────────

  /**
   * A response from inside going to an outside upstream through `listener`
   * (its Vias are already the request's). Keeps our Record-Route entry and
   * what is below it (the client's side), stores what was above (reversed:
   * the client's route set runs the other way), replaces the Contact.
   * Store errors are logged: the response still goes up.
   */
  async hideResponse(res: SipResponse, o: { request: SipRequest; listener: ListenerInfo; key: string | undefined; recordRouted: boolean; confirmed: boolean; ownPaths?: readonly string[] }): Promise<void> {
    const fields = hashFields();
    let count = 0;
    const insideTag = res.to()?.params.get('tag') ?? '';
    const rr = res.headers.values('record-route');
    if (rr.length > 0) {
      const at = o.recordRouted && o.key !== undefined ? rr.findIndex((v) => v.includes(this.routeParam(o.key!))) : -1;
      // Nothing above ours (no proxy inside record-routed, the usual case): the header leaves as it came.
      if (at !== 0) {
        res.headers.remove('record-route');
        const kept = at > 0 ? rr.slice(at) : [];
        for (let i = kept.length - 1; i >= 0; i--) res.headers.prepend('record-route', kept[i]!);
      }
      if (at >= 0 && res.status < 300) {
        fields[`r.${insideTag}`] = routeListText(rr.slice(0, at).reverse());
        count++;
      }
    }
    // A registrar echoes every Path (RFC 3327 §5.3): only ours go back, already on the client's listener.
    res.headers.remove('path');
    for (const p of o.ownPaths ?? []) res.headers.append('path', p);
    res.headers.remove('service-route');
    const method = res.cseq()?.method;
    if (method === 'REGISTER') this.#keepOwnBindings(res, o.request);
    else if (res.status >= 300 && res.status < 400) {
      // A redirect's targets are inside addresses we keep no record for.
      res.headers.remove('contact');
    } else {
      const original = this.#replaceContacts(res, o.listener, o.key);
      if (original !== undefined && o.key !== undefined && res.status < 300 && insideTag !== '') {
        fields[`c.${insideTag}`] = original;
        count++;
      }
    }
    this.#policy.apply(res.headers, 'response');
    if (o.key === undefined || count === 0) return;
    const early = res.status < 200 && !o.confirmed;
    try {
      await this.#store.hset(this.#key(o.key), fields, early ? this.#earlyTtl : this.#dialogTtl);
    } catch (err) {
      this.#log.error({ err, callId: res.callId }, 'topology record not stored; in-dialog requests from outside will fail');
    }
  }

  /** A response from outside going inside: our Record-Route entry gets the entries below it back. */
  restoreResponse(res: SipResponse, key: string | undefined, below: readonly string[] | undefined): void {
    if (key === undefined || below === undefined || below.length === 0) return;
    const rr = res.headers.values('record-route');
    const at = rr.findIndex((v) => v.includes(this.routeParam(key)));
    if (at < 0) return;
    const full = [...rr.slice(0, at + 1), ...below, ...rr.slice(at + 1)];
    res.headers.remove('record-route');
    for (let i = full.length - 1; i >= 0; i--) res.headers.prepend('record-route', full[i]!);
  }

  // ── lifetime ──────────────────────────────────────────────────────────

  /** The dialog is confirmed (2xx to its INVITE): the record lives as long as the dialog. */
  async confirm(key: string): Promise<void> {
    await this.#guard(() => this.#store.expire(this.#key(key), this.#dialogTtl));
  }

  /**
   * A final response decides the record's fate: an initial INVITE confirmed
   * from inside refreshes it (from outside the 2xx's own write did), a failed
   * one deletes it, and so does any final to BYE except a challenge (the
   * dialog is over whatever the answer, RFC 3261 §15.1.1).
   */
  async settle(key: string, req: SipRequest, status: number, initial: boolean, inside: boolean): Promise<void> {
    if (req.method === 'INVITE' && initial) {
      if (status >= 300) await this.end(key);
      else if (inside) await this.confirm(key);
    } else if (req.method === 'BYE' && status !== 401 && status !== 407) {
      await this.end(key);
    }
  }

  /** The dialog ended (BYE) or never started (failed INVITE): its record goes. */
  async end(key: string): Promise<void> {
    await this.#guard(() => this.#store.delete(this.#key(key)));
  }

  /** How many records issued by this node (the last 10,000) are still in the store. */
  async liveRecords(): Promise<number> {
    let n = 0;
    for (const key of this.#issued) {
      const record = await this.#store.hgetall(this.#key(key)).catch(() => ({}));
      if (Object.keys(record).length > 0) n++;
    }
    return n;
  }

  // ── helpers ───────────────────────────────────────────────────────────

  #key(key: string): string {
    return stateKey(this.#prefix, KEY_FAMILY.topology, key);
  }

  async #guard(op: () => Promise<unknown>): Promise<void> {
    try {
      await op();
    } catch (err) {
      this.#log.warn({ err }, 'topology record update failed; it expires by TTL');
    }
  }

  /**
   * Every Contact becomes our URI on `listener` with `key` as user (header
   * parameters kept); returns the first original URI, to be stored.
   */
  #replaceContacts(msg: SipMessage, listener: ListenerInfo, key: string | undefined): string | undefined {
    const values = msg.headers.values('contact');
    if (values.length === 0 || (values.length === 1 && values[0] === '*')) return undefined;
    let first: string | undefined;
    // Our URI is written as text once; only the header parameters of each Contact are kept.
    const ours = `<${ownContactUri(listener, key)}>`;
    const out: string[] = [];
    for (const v of values) {
      const na = parseNameAddr(v);
      if (!na.ok) continue;
      first ??= formatUri(na.value.uri);
      out.push(na.value.params.size === 0 ? ours : ours + formatParams(na.value.params));
    }
    msg.headers.remove('contact');
    if (out.length > 0) msg.headers.set('contact', out.join(', '));
    return first;
  }

  /**
   * A registrar's 200 lists every binding of the AOR; only the client's own
   * go back to it (other bindings can be inside phones), with the parameters
   * a UA needs (expires, q, instance, reg-id).
   */
  #keepOwnBindings(res: SipResponse, request: SipRequest): void {
    const values = res.headers.values('contact');
    if (values.length === 0) return;
    const own = new Set<string>();
    const sent = request.contacts();
    if (Array.isArray(sent)) for (const c of sent) own.add(bindingId(c));
    const kept: string[] = [];
    for (const v of values) {
      const na = parseNameAddr(v);
      if (!na.ok || !own.has(bindingId(na.value))) continue;
      const params = new ParamList([...na.value.params].filter(([k]) => REGISTER_CONTACT_PARAMS.has(k)));
      kept.push(formatNameAddr({ ...na.value, params }));
    }
    res.headers.remove('contact');
    if (kept.length > 0) res.headers.set('contact', kept.join(', '));
  }
}

/** `user@host:port` of a Contact, which a registrar keeps while it may change parameters. */
function bindingId(na: NameAddr): string {
  return `${na.uri.user ?? ''}@${na.uri.host}:${na.uri.port ?? ''}`;
}

/** The field for this tag, else any field of that kind (a request that lost its tag, forks aside). */
function pick(record: Record<string, string>, kind: 'r.' | 'c.', tag: string): string | undefined {
  const exact = record[kind + tag];
  if (exact !== undefined) return exact;
  for (const [k, v] of Object.entries(record)) if (k.startsWith(kind)) return v;
  return undefined;
}
