import type { HeaderList } from '../sip/headers.js';

/** Headers from inside that never reach a client by default (topologyHiding.stripHeaders). */
export const DEFAULT_STRIP_HEADERS: readonly string[] = ['Server', 'User-Agent', 'Warning', 'Organization', 'X-*'];

/**
 * Which headers of an inside message are removed before it goes outside:
 * exact names, or prefixes written `X-*`. Server and User-Agent are replaced
 * by our product name rather than dropped, so the far end still sees who
 * answered.
 */
export class HeaderPolicy {
  readonly #exact = new Set<string>();
  readonly #prefixes: string[] = [];
  readonly #product: string | undefined;

  constructor(names: readonly string[], product?: string) {
    for (const n of names) {
      const lower = n.trim().toLowerCase();
      if (lower.endsWith('*')) this.#prefixes.push(lower.slice(0, -1));
      else if (lower.length > 0) this.#exact.add(lower);
    }
    this.#product = product;
  }

  /** Apply to a message leaving toward the outside; `kind` picks Server (response) or User-Agent (request). */
  apply(headers: HeaderList, kind: 'request' | 'response'): void {
    const ours = kind === 'response' ? 'server' : 'user-agent';
    let replace = false;
    for (let i = headers.fields.length - 1; i >= 0; i--) {
      const name = headers.fields[i]!.name;
      if (!this.#strips(name)) continue;
      if (name === ours && this.#product !== undefined) {
        replace = true;
        continue;
      }
      headers.remove(name);
      i = Math.min(i, headers.fields.length);
    }
    // set() keeps the header where it was.
    if (replace) headers.set(ours, this.#product!);
  }

  #strips(name: string): boolean {
    if (this.#exact.has(name)) return true;
    for (const p of this.#prefixes) if (name.startsWith(p)) return true;
    return false;
  }
}
