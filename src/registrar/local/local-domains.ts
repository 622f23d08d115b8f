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
    // Reachable names first: the first one is offered to pages opened by a name that is not ours.
    const names: string[] = listeners.map((l) => l.advertise);
    for (const l of listeners) if (l.address !== '0.0.0.0' && l.address !== '::') names.push(l.address);
    names.push(host);
    if (host.includes('.')) names.push(host.slice(0, host.indexOf('.')));
    names.push('localhost', '127.0.0.1');
    return new LocalDomains(names);
  }

  has(host: string): boolean {
    return this.#names.has(host.toLowerCase());
  }

  /** The names, for the start-up log; the first is the page's fallback domain. */
  list(): string[] {
    return [...this.#names];
  }
}
