/**
 * URI or header parameters in wire order: names lower-cased, a flag
 * parameter has value null. A SIP parameter list holds a handful of entries
 * (branch, rport, received; tag; lr, transport), so they live in one flat
 * array searched in order: cheaper to build and to read than a Map, which
 * hashes every name and allocates a table per parsed value. The first
 * occurrence of a name wins, as in the parsers.
 */

/** What callers use of a parameter list; a `Map<string, string | null>` is one too. */
export interface Params extends Iterable<[string, string | null]> {
  readonly size: number;
  get(name: string): string | null | undefined;
  has(name: string): boolean;
  set(name: string, value: string | null): this;
  delete(name: string): boolean;
  keys(): IterableIterator<string>;
}

export class ParamList implements Params {
  /** name, value, name, value, … */
  readonly #items: Array<string | null>;

  /** A list of its own with the entries of `from` (another list is copied without iterating it). */
  constructor(from?: Iterable<readonly [string, string | null]>) {
    if (from instanceof ParamList) {
      this.#items = from.#items.slice();
      return;
    }
    this.#items = [];
    if (from !== undefined) for (const [name, value] of from) this.set(name, value);
  }

  get size(): number {
    return this.#items.length >> 1;
  }

  get(name: string): string | null | undefined {
    const items = this.#items;
    for (let i = 0; i < items.length; i += 2) if (items[i] === name) return items[i + 1];
    return undefined;
  }

  has(name: string): boolean {
    return this.#indexOf(name) >= 0;
  }

  /** Replace the value of `name` where it stands, or add it at the end. */
  set(name: string, value: string | null): this {
    const at = this.#indexOf(name);
    if (at >= 0) this.#items[at + 1] = value;
    else this.#items.push(name, value);
    return this;
  }

  /** Add `name` at the end unless it is there already (a repeated parameter: the first one counts). */
  addFirst(name: string, value: string | null): void {
    if (this.#indexOf(name) < 0) this.#items.push(name, value);
  }

  delete(name: string): boolean {
    const at = this.#indexOf(name);
    if (at < 0) return false;
    this.#items.splice(at, 2);
    return true;
  }

  /** `;name=value;flag` in order. */
  format(): string {
    const items = this.#items;
    let out = '';
    for (let i = 0; i < items.length; i += 2) {
      const value = items[i + 1];
      out += value === null ? `;${items[i]!}` : `;${items[i]!}=${value!}`;
    }
    return out;
  }

  *[Symbol.iterator](): IterableIterator<[string, string | null]> {
    const items = this.#items;
    for (let i = 0; i < items.length; i += 2) yield [items[i]!, items[i + 1] as string | null];
  }

  *keys(): IterableIterator<string> {
    const items = this.#items;
    for (let i = 0; i < items.length; i += 2) yield items[i]!;
  }

  #indexOf(name: string): number {
    const items = this.#items;
    for (let i = 0; i < items.length; i += 2) if (items[i] === name) return i;
    return -1;
  }
}
