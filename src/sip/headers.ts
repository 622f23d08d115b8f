/**
 * The header section of a SIP message: an ordered list of fields whose values
 * stay raw text until a parsed view is asked for (see message.ts).
 * Names are compared case-insensitively and compact forms are expanded
 * (RFC 3261 §7.3.3), so callers always use the canonical lower-case long name.
 */

const COMPACT: Readonly<Record<string, string>> = {
  v: 'via', f: 'from', t: 'to', i: 'call-id', m: 'contact', l: 'content-length',
  c: 'content-type', e: 'content-encoding', k: 'supported', s: 'subject', o: 'event',
  u: 'allow-events', r: 'refer-to', b: 'referred-by', x: 'session-expires',
  a: 'accept-contact', j: 'reject-contact', d: 'request-disposition', y: 'identity',
};

/** Display names for headers we write; other names are written as first seen. */
const DISPLAY: Readonly<Record<string, string>> = {
  'via': 'Via', 'from': 'From', 'to': 'To', 'call-id': 'Call-ID', 'cseq': 'CSeq',
  'contact': 'Contact', 'content-length': 'Content-Length', 'content-type': 'Content-Type',
  'max-forwards': 'Max-Forwards', 'route': 'Route', 'record-route': 'Record-Route',
  'path': 'Path', 'supported': 'Supported', 'require': 'Require', 'proxy-require': 'Proxy-Require',
  'unsupported': 'Unsupported', 'allow': 'Allow', 'user-agent': 'User-Agent', 'server': 'Server',
  'www-authenticate': 'WWW-Authenticate', 'authorization': 'Authorization',
  'proxy-authenticate': 'Proxy-Authenticate', 'proxy-authorization': 'Proxy-Authorization',
  'retry-after': 'Retry-After', 'expires': 'Expires', 'min-expires': 'Min-Expires',
  'accept': 'Accept', 'event': 'Event', 'refer-to': 'Refer-To', 'rseq': 'RSeq', 'rack': 'RAck',
  'session-expires': 'Session-Expires', 'flow-timer': 'Flow-Timer', 'warning': 'Warning',
};

/** Headers whose values may be comma-joined on one line (RFC 3261 §7.3.1). */
const MULTI_VALUE: ReadonlySet<string> = new Set([
  'via', 'route', 'record-route', 'contact', 'path', 'supported', 'require', 'proxy-require',
  'unsupported', 'allow', 'accept', 'accept-encoding', 'accept-language', 'allow-events',
  'content-encoding', 'in-reply-to', 'service-route', 'p-associated-uri',
]);

const canonicalCache = new Map<string, string>();

/** Lower-case long form of a header name. */
export function canonicalName(name: string): string {
  const cached = canonicalCache.get(name);
  if (cached !== undefined) return cached;
  const lower = name.toLowerCase();
  const canonical = COMPACT[lower] ?? lower;
  if (canonicalCache.size < 1024) canonicalCache.set(name, canonical);
  return canonical;
}

export function displayName(canonical: string): string {
  return DISPLAY[canonical] ?? canonical.replace(/(^|-)([a-z])/g, (_m, p: string, c: string) => p + c.toUpperCase());
}

export function isMultiValue(canonical: string): boolean {
  return MULTI_VALUE.has(canonical);
}

export interface HeaderField {
  /** Canonical lower-case long name. */
  readonly name: string;
  /** The name as written on the wire (kept so untouched headers are relayed as received). */
  readonly rawName: string;
  /** Value with line folding already collapsed to single spaces, surrounding whitespace trimmed. */
  readonly value: string;
}

/**
 * Index of the first top-level comma at or after `from` (commas inside
 * quotes, <...> or a quoted-pair do not count, RFC 3261 §7.3.1, §25.1), or
 * the value's length when there is none.
 */
function nextTopLevelComma(value: string, from: number): number {
  let inQuotes = false;
  let inAngle = false;
  for (let i = from; i < value.length; i++) {
    const ch = value.charCodeAt(i);
    if (inQuotes) {
      if (ch === 92 /* \ */) i++;
      else if (ch === 34 /* " */) inQuotes = false;
    } else if (ch === 34) inQuotes = true;
    else if (ch === 60 /* < */) inAngle = true;
    else if (ch === 62 /* > */) inAngle = false;
    else if (ch === 44 /* , */ && !inAngle) return i;
  }
  return value.length;
}

/** Split a header value on top-level commas; empty parts are dropped. */
export function splitCommaValues(value: string): string[] {
  if (value.indexOf(',') === -1) return value.length > 0 ? [value] : [];
  const out: string[] = [];
  for (let start = 0; start <= value.length;) {
    const end = nextTopLevelComma(value, start);
    const part = value.slice(start, end).trim();
    if (part.length > 0) out.push(part);
    start = end + 1;
  }
  return out;
}

/**
 * The first non-empty value of a comma-joined line, without splitting the
 * rest (the top Via of a line that holds the whole chain).
 */
export function firstCommaValue(value: string): string | undefined {
  if (value.indexOf(',') === -1) return value.length > 0 ? value : undefined;
  for (let start = 0; start <= value.length;) {
    const end = nextTopLevelComma(value, start);
    const part = value.slice(start, end).trim();
    if (part.length > 0) return part;
    start = end + 1;
  }
  return undefined;
}

/**
 * Ordered header fields with edits in place. Every mutation drops the cached
 * parsed view of that header, so parsed accessors never see stale data.
 */
export class HeaderList {
  #fields: HeaderField[];
  /**
   * Parsed views, three slots each: header name, whether it is the view of
   * the first value alone, the view. A message has a handful (Via, CSeq,
   * From, To): a scan of constant names beats hashing them into a Map.
   * Made on the first one (most kept messages never get one).
   */
  #views: unknown[] | undefined;

  constructor(fields: HeaderField[] = []) {
    this.#fields = fields;
  }

  get fields(): readonly HeaderField[] {
    return this.#fields;
  }

  get size(): number {
    return this.#fields.length;
  }

  has(name: string): boolean {
    const n = canonicalName(name);
    for (const f of this.#fields) if (f.name === n) return true;
    return false;
  }

  /** Value of the first field with this name. */
  get(name: string): string | undefined {
    const n = canonicalName(name);
    for (const f of this.#fields) if (f.name === n) return f.value;
    return undefined;
  }

  /** Values of every field with this name, one per header line. */
  getAll(name: string): string[] {
    const n = canonicalName(name);
    const out: string[] = [];
    for (const f of this.#fields) if (f.name === n) out.push(f.value);
    return out;
  }

  /** Every individual value, comma-joined lines split (for multi-value headers). */
  values(name: string): string[] {
    const n = canonicalName(name);
    const out: string[] = [];
    for (const f of this.#fields) {
      if (f.name !== n) continue;
      if (isMultiValue(n)) for (const v of splitCommaValues(f.value)) out.push(v);
      else out.push(f.value);
    }
    return out;
  }

  /** Replace every field of this name with one field (appended where the first one was). */
  set(name: string, value: string): void {
    const n = canonicalName(name);
    const idx = this.#fields.findIndex((f) => f.name === n);
    const field: HeaderField = { name: n, rawName: idx >= 0 ? this.#fields[idx]!.rawName : displayName(n), value };
    this.#removeAll(n);
    if (idx >= 0) this.#fields.splice(Math.min(idx, this.#fields.length), 0, field);
    else this.#fields.push(field);
    this.#invalidate(n);
  }

  /** Insert a field above every existing field of this name (Via, Record-Route, Path). */
  prepend(name: string, value: string): void {
    const n = canonicalName(name);
    const idx = this.#fields.findIndex((f) => f.name === n);
    const field: HeaderField = { name: n, rawName: displayName(n), value };
    if (idx >= 0) this.#fields.splice(idx, 0, field);
    else this.#fields.unshift(field);
    this.#invalidate(n);
  }

  append(name: string, value: string): void {
    const n = canonicalName(name);
    this.#fields.push({ name: n, rawName: displayName(n), value });
    this.#invalidate(n);
  }

  /** Remove every field of this name; returns how many were removed. */
  remove(name: string): number {
    const n = canonicalName(name);
    this.#invalidate(n);
    return this.#removeAll(n);
  }

  /**
   * Remove and return the first individual value of a multi-value header
   * (pops the top Via or Route even when values are comma-joined on one line).
   */
  shiftValue(name: string): string | undefined {
    const n = canonicalName(name);
    const idx = this.#fields.findIndex((f) => f.name === n);
    if (idx < 0) return undefined;
    const field = this.#fields[idx]!;
    const parts = splitCommaValues(field.value);
    const first = parts.shift();
    if (parts.length === 0) this.#fields.splice(idx, 1);
    else this.#fields[idx] = { name: n, rawName: field.rawName, value: parts.join(', ') };
    this.#invalidate(n);
    return first;
  }

  /**
   * Replace the first individual value of a header (the top Via, say) and,
   * when the caller already has it, the parsed view of the whole header, so
   * an edit made from the parsed form does not cost a re-parse.
   */
  replaceFirstValue(name: string, value: string, parsedView?: unknown, firstView?: unknown): boolean {
    const n = canonicalName(name);
    const idx = this.#fields.findIndex((f) => f.name === n);
    if (idx < 0) return false;
    const field = this.#fields[idx]!;
    const parts = field.value.indexOf(',') === -1 ? [] : splitCommaValues(field.value);
    parts[0] = value;
    this.#fields[idx] = { name: n, rawName: field.rawName, value: parts.length > 1 ? parts.join(', ') : value };
    this.#invalidate(n);
    if (parsedView !== undefined) (this.#views ??= []).push(n, false, parsedView);
    if (firstView !== undefined) (this.#views ??= []).push(n, true, firstView);
    return true;
  }

  /**
   * Cached parsed view of the header `name` (canonical: lower-case long
   * form), of its first value alone when `first`; `parse(list, name)` runs at
   * most once until the header is edited.
   */
  parsed<T>(name: string, parse: (list: HeaderList, name: string) => T, first = false): T {
    const views = (this.#views ??= []);
    for (let i = 0; i < views.length; i += 3) if (views[i] === name && views[i + 1] === first) return views[i + 2] as T;
    const value = parse(this, name);
    views.push(name, first, value);
    return value;
  }

  /**
   * Keep only the fields named in `names`, each value passed through `copy`
   * (a detaching copy, see detached.ts), and drop every parsed view. For a
   * message kept long after it was handled: its values then no longer pin
   * the whole message text.
   */
  retainOnly(names: ReadonlySet<string>, copy: (value: string) => string): void {
    // A new array of the exact size: the old one keeps the capacity of the whole header section.
    let n = 0;
    for (const f of this.#fields) if (names.has(f.name)) n++;
    const kept = new Array<HeaderField>(n);
    let i = 0;
    for (const f of this.#fields) {
      if (!names.has(f.name)) continue;
      // The usual spelling ("Via", "Call-ID") becomes the one shared constant string.
      const display = displayName(f.name);
      kept[i++] = { name: f.name, rawName: f.rawName === display ? display : copy(f.rawName), value: copy(f.value) };
    }
    this.#fields = kept;
    this.#views = undefined;
  }

  /** Same fields (shared, they are immutable) and the same parsed views; edits to either side stay apart. */
  clone(): HeaderList {
    const copy = new HeaderList(this.#fields.slice());
    if (this.#views !== undefined && this.#views.length > 0) copy.#views = this.#views.slice();
    return copy;
  }

  /** Drop the parsed views of a header: the whole list and its first value. */
  #invalidate(n: string): void {
    const views = this.#views;
    if (views === undefined) return;
    for (let i = views.length - 3; i >= 0; i -= 3) if (views[i] === n) views.splice(i, 3);
  }

  #removeAll(n: string): number {
    let removed = 0;
    for (let i = this.#fields.length - 1; i >= 0; i--) {
      if (this.#fields[i]!.name === n) {
        this.#fields.splice(i, 1);
        removed++;
      }
    }
    return removed;
  }
}
