import { firstCommaValue, type HeaderList } from './headers.js';
import { parseCSeq, type CSeq } from './headers/cseq.js';
import { parseNameAddr, type NameAddr } from './headers/name-addr.js';
import { parseVia, type Via } from './headers/via.js';
import { parseUri, type SipUri } from './uri.js';

export type SipMessage = SipRequest | SipResponse;

const EMPTY = Buffer.alloc(0);

/**
 * Common part of requests and responses. Headers stay raw until a parsed view
 * is asked for; views are cached and dropped when the header is edited.
 * A parsed view is `undefined` when the header is absent or malformed: the
 * core's sanity check turns that into a 400 before routing.
 */
abstract class SipMessageBase {
  readonly headers: HeaderList;
  body: Buffer;

  constructor(headers: HeaderList, body: Buffer = EMPTY) {
    this.headers = headers;
    this.body = body;
  }

  get callId(): string | undefined {
    return this.headers.get('call-id');
  }

  vias(): Via[] | undefined {
    return this.headers.parsed('via', parseVias);
  }

  /**
   * The top Via alone: most messages only need this one (transaction
   * matching, received/rport), so the rest of the chain is not parsed for it.
   */
  topVia(): Via | undefined {
    return this.headers.parsed('via', parseTopVia, true);
  }

  cseq(): CSeq | undefined {
    return this.headers.parsed('cseq', parseCSeqView);
  }

  from(): NameAddr | undefined {
    return this.headers.parsed('from', parseSingle);
  }

  to(): NameAddr | undefined {
    return this.headers.parsed('to', parseSingle);
  }

  /** Route values, top first; undefined when one is malformed. */
  routes(): NameAddr[] | undefined {
    return this.#list('route');
  }

  recordRoutes(): NameAddr[] | undefined {
    return this.#list('record-route');
  }

  paths(): NameAddr[] | undefined {
    return this.#list('path');
  }

  /** Contact values, or `'*'` for the REGISTER wildcard (RFC 3261 §10.2.2). */
  contacts(): NameAddr[] | '*' | undefined {
    const values = this.headers.values('contact');
    if (values.length === 1 && values[0] === '*') return '*';
    return this.#list('contact');
  }

  maxForwards(): number | undefined {
    const v = this.headers.get('max-forwards');
    // 1*DIGIT (RFC 3261 §20.22): leading zeros are legal (RFC 4475 §3.1.1.1); values over 255 are not sane.
    if (v === undefined || v.length === 0 || v.length > 10) return undefined;
    for (let i = 0; i < v.length; i++) {
      const c = v.charCodeAt(i);
      if (c < 48 || c > 57) return undefined;
    }
    const n = Number(v);
    return n > 255 ? undefined : n;
  }

  /** Option tags of Supported / Require / Proxy-Require / Unsupported, lower-cased. */
  optionTags(name: 'supported' | 'require' | 'proxy-require' | 'unsupported'): string[] {
    return this.headers.values(name).map((t) => t.toLowerCase());
  }

  get contentType(): string | undefined {
    return this.headers.get('content-type');
  }

  #list(name: string): NameAddr[] | undefined {
    return this.headers.parsed(name, parseList);
  }
}

// The parsers of the cached views: module functions, so asking for a view allocates no closure.

function parseVias(h: HeaderList): Via[] | undefined {
  const out: Via[] = [];
  for (const line of h.getAll('via')) {
    const r = parseVia(line);
    if (!r.ok) return undefined;
    out.push(...r.value);
  }
  return out.length > 0 ? out : undefined;
}

function parseTopVia(h: HeaderList): Via | undefined {
  const line = h.get('via');
  if (line === undefined) return undefined;
  const first = firstCommaValue(line);
  if (first === undefined) return undefined;
  const r = parseVia(first);
  return r.ok ? r.value[0] : undefined;
}

function parseCSeqView(h: HeaderList): CSeq | undefined {
  const v = h.get('cseq');
  if (v === undefined) return undefined;
  const r = parseCSeq(v);
  return r.ok ? r.value : undefined;
}

function parseSingle(h: HeaderList, name: string): NameAddr | undefined {
  const v = h.get(name);
  if (v === undefined) return undefined;
  const r = parseNameAddr(v);
  return r.ok ? r.value : undefined;
}

function parseList(h: HeaderList, name: string): NameAddr[] | undefined {
  const out: NameAddr[] = [];
  for (const v of h.values(name)) {
    const r = parseNameAddr(v);
    if (!r.ok) return undefined;
    out.push(r.value);
  }
  return out;
}

export class SipRequest extends SipMessageBase {
  readonly kind = 'request' as const;
  method: string;
  #uri: string;
  #parsedUri: SipUri | null | undefined;

  constructor(method: string, uri: string, headers: HeaderList, body?: Buffer) {
    super(headers, body);
    this.method = method;
    this.#uri = uri;
  }

  /** Request-URI as text. */
  get uri(): string {
    return this.#uri;
  }

  set uri(value: string) {
    this.#uri = value;
    this.#parsedUri = undefined;
  }

  /** A copy whose header edits do not touch this request (one per forwarded branch); the body is shared. */
  clone(): SipRequest {
    return new SipRequest(this.method, this.#uri, this.headers.clone(), this.body);
  }

  /** Parsed Request-URI; undefined when malformed. */
  requestUri(): SipUri | undefined {
    if (this.#parsedUri === undefined) {
      const r = parseUri(this.#uri);
      this.#parsedUri = r.ok ? r.value : null;
    }
    return this.#parsedUri ?? undefined;
  }
}

export class SipResponse extends SipMessageBase {
  readonly kind = 'response' as const;
  status: number;
  reason: string;

  constructor(status: number, reason: string, headers: HeaderList, body?: Buffer) {
    super(headers, body);
    this.status = status;
    this.reason = reason;
  }
}
