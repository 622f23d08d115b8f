/**
 * What the page pre-fills when the gateway serving it is its own registrar
 * (registrar.mode local, as with `npm start` on the defaults): the gateway
 * says so in /gateway.json. Pure, so it runs in Node tests too.
 */

/** /gateway.json as the SBC serves it. */
export interface GatewayInfo {
  registrar: 'local' | 'path';
  /** The local domain to register in (the host the page was opened by, when it is one of ours). */
  domain?: string;
  /** Built-in services a user can call, e.g. `{ name: 'echo', number: '9196' }`. */
  services?: Array<{ name: string; number: string }>;
}

export interface AccountDefaults {
  aor: string;
  hint: string;
}

/** The gateway's answer, checked: anything unexpected reads as "nothing to pre-fill". */
export function readGatewayInfo(value: unknown): GatewayInfo | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  if (v['registrar'] !== 'local' && v['registrar'] !== 'path') return undefined;
  const info: GatewayInfo = { registrar: v['registrar'] };
  if (typeof v['domain'] === 'string' && /^[A-Za-z0-9.:[\]-]{1,253}$/.test(v['domain'])) info.domain = v['domain'];
  if (Array.isArray(v['services'])) {
    info.services = v['services']
      .filter((s): s is { name: string; number: string } => typeof s === 'object' && s !== null && typeof (s as Record<string, unknown>)['name'] === 'string' && typeof (s as Record<string, unknown>)['number'] === 'string')
      .slice(0, 4);
  }
  return info;
}

/**
 * A random user on the gateway's domain and the one line saying what to
 * try; undefined unless the gateway is its own registrar.
 * @param random a number in [0, 1), Math.random by default
 */
export function accountDefaults(info: GatewayInfo | undefined, random: () => number = Math.random): AccountDefaults | undefined {
  if (info?.registrar !== 'local' || info.domain === undefined) return undefined;
  const user = `user${String(Math.floor(random() * 9000) + 1000)}`;
  const services = (info.services ?? []).map((s) => `${s.number} (${s.name})`);
  const hint = `Open this page twice and call each other${services.length > 0 ? `, or call ${services.join(' or ')}` : ''}.`;
  return { aor: `sip:${user}@${info.domain}`, hint };
}
