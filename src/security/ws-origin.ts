/**
 * The Origin allowlist of WebSocket handshakes (security.websocket.allowedOrigins):
 * a page on another site must not open a SIP connection with the visitor's
 * browser (cross-site WebSocket hijacking, RFC 6455 §10.2). Browsers always
 * send Origin; native clients send none (allowMissingOrigin).
 */

export type OriginVerdict = 'allowed' | 'origin-missing' | 'origin-not-allowed';

/** Longest Origin header looked at; browsers send scheme://host:port. */
const MAX_ORIGIN_CHARS = 512;

interface ExactOrigin {
  kind: 'exact';
  /** scheme://host[:port], lower case, default port left out. */
  origin: string;
}

interface WildcardOrigin {
  kind: 'wildcard';
  /** "https:", or undefined for any scheme. */
  protocol: string | undefined;
  /** ".example.com": the host must end with it and have a label before it. */
  suffix: string;
  /** Port as URL.port gives it ("" = default); undefined = any. */
  port: string | undefined;
}

type OriginPattern = ExactOrigin | WildcardOrigin | { kind: 'null' };

export class OriginPolicy {
  readonly #patterns: readonly OriginPattern[];
  readonly #allowMissing: boolean;

  /** `allowedOrigins` as validated by the config schema (originPatternProblem); empty = any Origin. */
  constructor(settings: { allowedOrigins: readonly string[]; allowMissingOrigin: boolean }) {
    this.#patterns = settings.allowedOrigins.map(compilePattern);
    this.#allowMissing = settings.allowMissingOrigin;
  }

  check(origin: string | undefined): OriginVerdict {
    if (origin === undefined || origin === '') return this.#allowMissing ? 'allowed' : 'origin-missing';
    if (this.#patterns.length === 0) return 'allowed';
    if (origin.length > MAX_ORIGIN_CHARS) return 'origin-not-allowed';
    if (origin === 'null') return this.#patterns.some((p) => p.kind === 'null') ? 'allowed' : 'origin-not-allowed';
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      return 'origin-not-allowed';
    }
    for (const p of this.#patterns) if (matches(p, url)) return 'allowed';
    return 'origin-not-allowed';
  }
}

function matches(p: OriginPattern, url: URL): boolean {
  switch (p.kind) {
    case 'null':
      return false;
    case 'exact':
      return serialized(url) === p.origin;
    case 'wildcard': {
      if (p.protocol !== undefined && url.protocol !== p.protocol) return false;
      if (p.port !== undefined && url.port !== p.port) return false;
      const host = url.hostname;
      return host.length > p.suffix.length && host.endsWith(p.suffix);
    }
  }
}

function compilePattern(text: string): OriginPattern {
  if (text === 'null') return { kind: 'null' };
  if (text.startsWith('*.')) return { kind: 'wildcard', protocol: undefined, suffix: text.slice(1).toLowerCase(), port: undefined };
  const star = text.indexOf('://*.');
  if (star >= 0) {
    // Parse with a stand-in label so URL normalizes the scheme, host and port for us.
    const url = new URL(`${text.slice(0, star)}://wildcard${text.slice(star + 4)}`);
    return { kind: 'wildcard', protocol: url.protocol, suffix: url.hostname.slice('wildcard'.length), port: url.port };
  }
  return { kind: 'exact', origin: serialized(new URL(text)) };
}

/** scheme://host[:port] as URL normalizes them (URL.origin is "null" for schemes such as chrome-extension:, which would match each other). */
function serialized(url: URL): string {
  return `${url.protocol}//${url.host.toLowerCase()}`;
}
