/**
 * `routes:` as an ordered rule list: the domain form `{ domain, backend }`
 * and the rule form `{ match, action }`, first match wins. A matching rule
 * answers the request (reply), or rewrites the Request-URI user (strip,
 * prefix) and picks a group; the domain form only picks a group.
 */
import type { BlockList } from 'node:net';
import type { RouteEntry } from '../config/routing-schema.js';
import { RULE_MAX_USER_LENGTH } from '../config/routing-schema.js';
import type { RouteSpec } from './spec.js';
import { cidrList, inCidrList } from '../config/net-formats.js';
import { hostPattern, normalizeHost } from './domain-routes.js';

/** What the first matching rule says. */
export interface RuleOutcome {
  /** Index in `routes`, for logs. */
  index: number;
  /** The domain the rule matched on (the request's tenant), if it names one. */
  tenant: string | undefined;
  group: string | undefined;
  /** The Request-URI user after strip and prefix; undefined when the rule does not rewrite it. */
  ruriUser: string | undefined;
  reply: { status: number; reason: string | undefined } | undefined;
}

/** What rules look at. */
export interface RuleInput {
  ruriUser: string | undefined;
  ruriHost: string;
  fromUser: string | undefined;
  sourceAddress: string;
}

type UserTest = (user: string | undefined) => boolean;

interface CompiledRule {
  index: number;
  domain: DomainTest | undefined;
  ruriUser: UserTest | undefined;
  fromUser: UserTest | undefined;
  source: BlockList | undefined;
  action: NonNullable<RouteEntry['action']>;
  /** True for `{ domain, backend }`: it only picks a group. */
  domainForm: boolean;
}

interface DomainTest {
  /** As configured, for `tenant`. */
  domain: string;
  match: (host: string) => boolean;
}

/** The `{ domain, backend }` entries, for the dispatcher's domain routes. */
export function domainRoutesOf(entries: readonly RouteEntry[]): RouteSpec[] {
  const out: RouteSpec[] = [];
  for (const e of entries) if (e.domain !== undefined && e.backend !== undefined) out.push({ domain: e.domain, backend: e.backend });
  return out;
}

export class RouteRules {
  readonly #rules: CompiledRule[];
  /** Whether any entry is in the rule form (the domain form alone needs no routing step). */
  readonly hasRules: boolean;

  /** `entries` were validated by the config schema (regexes compile, CIDRs parse). */
  constructor(entries: readonly RouteEntry[]) {
    this.#rules = entries.map((e, index) => compile(e, index));
    this.hasRules = this.#rules.some((r) => !r.domainForm);
  }

  /** The first rule that matches, or undefined. */
  evaluate(input: RuleInput): RuleOutcome | undefined {
    const host = normalizeHost(input.ruriHost);
    for (const rule of this.#rules) {
      if (rule.domain !== undefined && !rule.domain.match(host)) continue;
      if (rule.ruriUser !== undefined && !rule.ruriUser(input.ruriUser)) continue;
      if (rule.fromUser !== undefined && !rule.fromUser(input.fromUser)) continue;
      if (rule.source !== undefined && !inCidrList(rule.source, input.sourceAddress)) continue;
      const a = rule.action;
      let user: string | undefined;
      if ((a.strip !== undefined || a.prefix !== undefined) && input.ruriUser !== undefined) {
        user = (a.prefix ?? '') + input.ruriUser.slice(a.strip ?? 0);
      }
      return {
        index: rule.index,
        tenant: rule.domain?.domain,
        group: a.group,
        ruriUser: user === '' ? undefined : user,
        reply: a.reply === undefined ? undefined : { status: a.reply.status, reason: a.reply.reason },
      };
    }
    return undefined;
  }

  /** The domain of the first entry whose domain matches `host` (the request's tenant). */
  tenantOf(host: string): string | undefined {
    const h = normalizeHost(host);
    for (const rule of this.#rules) if (rule.domain?.match(h) === true) return rule.domain.domain;
    return undefined;
  }
}

function compile(e: RouteEntry, index: number): CompiledRule {
  if (e.domain !== undefined && e.backend !== undefined) {
    return { index, domain: domainTest(e.domain), ruriUser: undefined, fromUser: undefined, source: undefined, action: { group: e.backend }, domainForm: true };
  }
  const m = e.match ?? {};
  return {
    index,
    domain: m.domain === undefined ? undefined : domainTest(m.domain),
    ruriUser: m.ruriUser === undefined ? undefined : userTest(m.ruriUser),
    fromUser: m.fromUser === undefined ? undefined : userTest(m.fromUser),
    source: m.source === undefined ? undefined : cidrList(m.source),
    action: e.action ?? {},
    domainForm: false,
  };
}

function userTest(m: { prefix?: string | undefined; regex?: string | undefined }): UserTest {
  if (m.prefix !== undefined) {
    const prefix = m.prefix;
    return (user) => user !== undefined && user.startsWith(prefix);
  }
  const re = new RegExp(m.regex ?? '', 'u');
  return (user) => user !== undefined && user.length <= RULE_MAX_USER_LENGTH && re.test(user);
}

/** Exact, `*.suffix` (names under it, not itself) or `*` (everything), as the domain routes match. */
function domainTest(domain: string): DomainTest {
  return { domain, match: hostPattern(domain) };
}

