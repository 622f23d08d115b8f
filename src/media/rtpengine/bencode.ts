/**
 * Bencode, the encoding of RTPEngine ng dicts ([ng] "Bencode"; PROTOCOLS.md §1.1).
 *
 *   string   <byte-length>:<bytes>     lengths count bytes, not UTF-16 units
 *   integer  i<digits>e                no leading zeros, no "-0"
 *   list     l<value>*e
 *   dict     d(<string key><value>)*e  keys sorted by raw bytes on encode
 *
 * Encoding takes strings (written as UTF-8) or Buffers; decoding is fed bytes
 * from the network, so it never throws: it returns a Result and bounds the
 * input size, nesting depth and item count.
 */

/** A value bencode can carry. Strings decode as UTF-8 text unless asked for bytes. */
export type BencodeValue = string | Buffer | number | BencodeValue[] | BencodeDict;
export interface BencodeDict {
  [key: string]: BencodeValue;
}

/** What `encodeBencode` accepts: `undefined` dict entries are left out. */
export type BencodeInput = string | Buffer | number | readonly BencodeInput[] | { readonly [key: string]: BencodeInput | undefined };

/** Limits applied while decoding untrusted bytes. */
export interface BencodeDecodeOptions {
  /** Largest input accepted, in bytes. @default 1_048_576 */
  maxBytes?: number;
  /** Deepest nesting of lists and dicts. @default 32 */
  maxDepth?: number;
  /** Most values (strings, integers, lists, dicts) in one input. @default 100_000 */
  maxItems?: number;
  /** `utf8` gives strings; `buffer` gives the raw bytes of every string value (keys stay strings). @default "utf8" */
  strings?: 'utf8' | 'buffer';
}

export const BENCODE_LIMITS = { maxBytes: 1_048_576, maxDepth: 32, maxItems: 100_000 } as const;

export type BencodeErrorCode = 'too-large' | 'too-deep' | 'too-many-items' | 'truncated' | 'bad-integer' | 'bad-string' | 'bad-key' | 'unexpected-byte' | 'trailing-bytes';

export interface BencodeError {
  code: BencodeErrorCode;
  /** Byte offset in the input where the problem was found. */
  offset: number;
  message: string;
}

export type BencodeResult = { ok: true; value: BencodeValue } | { ok: false; error: BencodeError };

const CH_I = 0x69;
const CH_L = 0x6c;
const CH_D = 0x64;
const CH_E = 0x65;
const CH_COLON = 0x3a;
const CH_MINUS = 0x2d;
const CH_0 = 0x30;
const CH_9 = 0x39;

/**
 * Encode a value. Dict keys are sorted by their UTF-8 bytes, as bencode
 * requires (rtpengine does not check the order, but others might).
 * @throws TypeError for values bencode cannot carry (non-integers, booleans, null); a programming error, not input.
 */
export function encodeBencode(value: BencodeInput): Buffer {
  const chunks: Buffer[] = [];
  encodeInto(value, chunks, 0);
  return Buffer.concat(chunks);
}

function encodeInto(value: BencodeInput, out: Buffer[], depth: number): void {
  if (depth > BENCODE_LIMITS.maxDepth) throw new TypeError('bencode: value nested too deeply');
  if (typeof value === 'string') {
    const bytes = Buffer.from(value, 'utf8');
    out.push(Buffer.from(`${bytes.length}:`, 'latin1'), bytes);
  } else if (Buffer.isBuffer(value)) {
    out.push(Buffer.from(`${value.length}:`, 'latin1'), value);
  } else if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new TypeError(`bencode: ${value} is not a safe integer`);
    out.push(Buffer.from(`i${value}e`, 'latin1'));
  } else if (Array.isArray(value)) {
    out.push(Buffer.from('l', 'latin1'));
    for (const item of value as readonly BencodeInput[]) encodeInto(item, out, depth + 1);
    out.push(Buffer.from('e', 'latin1'));
  } else if (typeof value === 'object' && value !== null) {
    const entries: Array<[Buffer, BencodeInput]> = [];
    for (const [key, item] of Object.entries(value as { readonly [key: string]: BencodeInput | undefined })) {
      if (item !== undefined) entries.push([Buffer.from(key, 'utf8'), item]);
    }
    entries.sort((a, b) => Buffer.compare(a[0], b[0]));
    out.push(Buffer.from('d', 'latin1'));
    for (const [key, item] of entries) {
      out.push(Buffer.from(`${key.length}:`, 'latin1'), key);
      encodeInto(item, out, depth + 1);
    }
    out.push(Buffer.from('e', 'latin1'));
  } else {
    throw new TypeError(`bencode: cannot encode ${value === null ? 'null' : typeof value}`);
  }
}

/** Decode exactly one value filling all of `input`. Never throws. */
export function decodeBencode(input: Buffer, options: BencodeDecodeOptions = {}): BencodeResult {
  const maxBytes = options.maxBytes ?? BENCODE_LIMITS.maxBytes;
  if (input.length > maxBytes) return fail('too-large', 0, `input of ${input.length} bytes exceeds ${maxBytes}`);
  const decoder = new Decoder(input, options.maxDepth ?? BENCODE_LIMITS.maxDepth, options.maxItems ?? BENCODE_LIMITS.maxItems, options.strings === 'buffer');
  const result = decoder.value(0);
  if (!result.ok) return result;
  if (decoder.pos !== input.length) return fail('trailing-bytes', decoder.pos, `${input.length - decoder.pos} bytes after the value`);
  return result;
}

function fail(code: BencodeErrorCode, offset: number, message: string): { ok: false; error: BencodeError } {
  return { ok: false, error: { code, offset, message } };
}

/** A recursive-descent reader over one buffer; recursion is bounded by maxDepth. */
class Decoder {
  pos = 0;
  #items = 0;
  readonly #input: Buffer;
  readonly #maxDepth: number;
  readonly #maxItems: number;
  readonly #bytes: boolean;

  constructor(input: Buffer, maxDepth: number, maxItems: number, bytes: boolean) {
    this.#input = input;
    this.#maxDepth = maxDepth;
    this.#maxItems = maxItems;
    this.#bytes = bytes;
  }

  value(depth: number): BencodeResult {
    const start = this.pos;
    if (start >= this.#input.length) return fail('truncated', start, 'input ends where a value should start');
    if (++this.#items > this.#maxItems) return fail('too-many-items', start, `more than ${this.#maxItems} values`);
    const byte = this.#input[start]!;
    if (byte === CH_I) return this.#integer();
    if (byte >= CH_0 && byte <= CH_9) {
      const s = this.#string();
      if (!s.ok) return s;
      return { ok: true, value: this.#bytes ? s.value : s.value.toString('utf8') };
    }
    if (byte === CH_L || byte === CH_D) {
      if (depth >= this.#maxDepth) return fail('too-deep', start, `nested deeper than ${this.#maxDepth}`);
      return byte === CH_L ? this.#list(depth) : this.#dict(depth);
    }
    return fail('unexpected-byte', start, `unexpected byte 0x${byte.toString(16).padStart(2, '0')}`);
  }

  #integer(): BencodeResult {
    const start = this.pos;
    const end = this.#input.indexOf(CH_E, start + 1);
    if (end < 0) return fail('truncated', start, 'integer without its closing "e"');
    const text = this.#input.toString('latin1', start + 1, end);
    // Canonical form only: "0", or an optional "-" then a non-zero digit first.
    if (!/^(0|-?[1-9][0-9]*)$/.test(text)) return fail('bad-integer', start, `"${text.slice(0, 24)}" is not a bencode integer`);
    const n = Number(text);
    if (!Number.isSafeInteger(n)) return fail('bad-integer', start, 'integer beyond 2^53');
    this.pos = end + 1;
    return { ok: true, value: n };
  }

  #string(): { ok: true; value: Buffer } | { ok: false; error: BencodeError } {
    const start = this.pos;
    let length = 0;
    let i = start;
    for (; i < this.#input.length; i++) {
      const byte = this.#input[i]!;
      if (byte === CH_COLON) break;
      if (byte < CH_0 || byte > CH_9) return fail('bad-string', i, 'string length is not a decimal number');
      // A length longer than the input is wrong whatever follows; stop before it overflows.
      length = length * 10 + (byte - CH_0);
      if (length > this.#input.length) return fail('bad-string', start, 'string longer than the input');
    }
    if (i >= this.#input.length) return fail('truncated', start, 'string length without ":"');
    if (i - start > 1 && this.#input[start] === CH_0) return fail('bad-string', start, 'string length with a leading zero');
    const from = i + 1;
    if (from + length > this.#input.length) return fail('truncated', start, `string of ${length} bytes runs past the input`);
    this.pos = from + length;
    return { ok: true, value: this.#input.subarray(from, from + length) };
  }

  #list(depth: number): BencodeResult {
    const start = this.pos;
    this.pos++;
    const list: BencodeValue[] = [];
    for (;;) {
      if (this.pos >= this.#input.length) return fail('truncated', start, 'list without its closing "e"');
      if (this.#input[this.pos] === CH_E) break;
      const item = this.value(depth + 1);
      if (!item.ok) return item;
      list.push(item.value);
    }
    this.pos++;
    return { ok: true, value: list };
  }

  #dict(depth: number): BencodeResult {
    const start = this.pos;
    this.pos++;
    const dict: BencodeDict = {};
    for (;;) {
      if (this.pos >= this.#input.length) return fail('truncated', start, 'dict without its closing "e"');
      const byte = this.#input[this.pos]!;
      if (byte === CH_E) break;
      if (byte < CH_0 || byte > CH_9) return fail('bad-key', this.pos, 'dict key is not a string');
      if (++this.#items > this.#maxItems) return fail('too-many-items', this.pos, `more than ${this.#maxItems} values`);
      const key = this.#string();
      if (!key.ok) return key;
      const item = this.value(depth + 1);
      if (!item.ok) return item;
      // defineProperty so a "__proto__" key from the network stays plain data.
      Object.defineProperty(dict, key.value.toString('utf8'), { value: item.value, enumerable: true, writable: true, configurable: true });
    }
    this.pos++;
    return { ok: true, value: dict };
  }
}

/** True for a decoded dict (not a list, string, Buffer or integer). */
export function isBencodeDict(value: BencodeValue | undefined): value is BencodeDict {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !Buffer.isBuffer(value);
}
