/**
 * Which Request-URIs reach a built-in service: the user part is one of the
 * service's numbers (case-insensitive) and the host one of the local domains.
 */
import type { Config } from '../config/schema.js';
import type { SipUri } from '../sip/uri.js';

export type ServiceSpec =
  | { kind: 'echo'; name: string; numbers: readonly string[]; maxSeconds: number }
  | { kind: 'tone'; name: string; numbers: readonly string[]; maxSeconds: number; hz: number };

export class ServiceNumbers {
  readonly #byNumber = new Map<string, ServiceSpec>();
  readonly specs: readonly ServiceSpec[];

  constructor(services: Config['services']) {
    const specs: ServiceSpec[] = [];
    if (services.echo !== undefined) specs.push({ kind: 'echo', name: 'echo', numbers: services.echo.numbers, maxSeconds: services.echo.maxSeconds });
    if (services.tone !== undefined) specs.push({ kind: 'tone', name: 'tone', numbers: services.tone.numbers, maxSeconds: services.tone.maxSeconds, hz: services.tone.hz });
    for (const s of specs) for (const n of s.numbers) this.#byNumber.set(n.toLowerCase(), s);
    this.specs = specs;
  }

  get size(): number {
    return this.specs.length;
  }

  /** The service a Request-URI names, if any. */
  match(uri: SipUri | undefined, isLocalDomain: (host: string) => boolean): ServiceSpec | undefined {
    if (uri === undefined || uri.user === undefined || this.#byNumber.size === 0) return undefined;
    const spec = this.#byNumber.get(uri.user.toLowerCase());
    return spec !== undefined && isLocalDomain(uri.host) ? spec : undefined;
  }

  /** For the page and the start-up log: each service by its first number. */
  list(): Array<{ name: string; number: string }> {
    return this.specs.map((s) => ({ name: s.name, number: s.numbers[0]! }));
  }
}
