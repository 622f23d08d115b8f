/**
 * Which domains the local registrar serves: `registrar.domains` when set,
 * else every name this gateway goes by on its own (the advertise and bound
 * addresses of its listeners, the machine's host name, localhost, 127.0.0.1).
 */
import { hostname } from 'node:os';

export class LocalDomains {
  readonly #names: ReadonlySet<string>;

  constructor(names: Iterable<string>) {
    const set = new Set<string>();
    for (const n of names) if (n !== '') set.add(n.toLowerCase());
    this.#names = set;
  }

  /** The default set for a gateway with these listeners. */
  static defaults(listeners: ReadonlyArray<{ address: string; advertise: string }>, host: string = hostname()): LocalDomains {
    const names = ['localhost', '127.0.0.1', host];
    if (host.includes('.')) names.push(host.slice(0, host.indexOf('.')));
    for (const l of listeners) {
      names.push(l.advertise);
      if (l.address !== '0.0.0.0' && l.address !== '::') names.push(l.address);
    }
    return new LocalDomains(names);
  }

  has(host: string): boolean {
    return this.#names.has(host.toLowerCase());
  }

  /** The names, for the start-up log and the page's pre-filled domain (first = most specific). */
  list(): string[] {
    return [...this.#names];
  }
}
