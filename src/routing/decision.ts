/**
 * The decision a routing script, an HTTP routing service or a declarative
 * rule returns, checked as a whole before anything of it is applied: an
 * invalid decision is refused (500) and never acted on half-way.
 */
import { z } from 'zod';
import { canonicalName } from '../sip/headers.js';
import { parseUri } from '../sip/uri.js';
import type { RoutingDecision } from './script/types.js';

/**
 * Header fields a decision may not set or remove: they make up the
 * transaction and the dialog (RFC 3261 §8.1.1), or the gateway owns them
 * (routing, hop count, body framing).
 */
const PROTECTED_HEADERS: ReadonlySet<string> = new Set([
  'via', 'from', 'to', 'call-id', 'cseq', 'contact', 'route', 'record-route', 'path',
  'max-forwards', 'content-length', 'content-type',
]);

// RFC 3261 §25.1 token; values on one line (no CR, LF or NUL: no header injection).
const headerName = z
  .string()
  .regex(/^[A-Za-z0-9!%'*+._`~-]{1,64}$/, { message: 'is not a header name' })
  .refine((n) => !PROTECTED_HEADERS.has(canonicalName(n)), { message: 'is a header the gateway owns (Via, From, To, Call-ID, CSeq, Contact, Route, Record-Route, Path, Max-Forwards, Content-*)' });
const headerValue = z.string().max(1024).regex(/^[^\r\n\0]*$/, { message: 'must be on one line' });
const headerMap = z.record(headerName, headerValue).refine((m) => Object.keys(m).length <= 32, { message: 'at most 32 headers' });
// RFC 3261 §25.1 user: unreserved, escaped and user-unreserved characters.
const uriUser = z.string().min(1).max(128).regex(/^(?:[A-Za-z0-9\-_.!~*'()&=+$,;?/]|%[0-9A-Fa-f]{2})+$/, { message: 'is not a SIP URI user part' });
const uriHost = z.string().min(1).max(253).regex(/^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.?)+$|^\[[0-9A-Fa-f:.]+\]$/, { message: 'is not a host name or IP address' });
const sipUri = z.string().max(512).refine((u) => {
  const p = parseUri(u);
  return p.ok && (p.value.scheme === 'sip' || p.value.scheme === 'sips');
}, { message: 'is not a sip: or sips: URI' });

export const relaySchema = z.strictObject({
  group: z.string().min(1).max(128).optional(),
  uri: sipUri.optional(),
  ruriUser: uriUser.optional(),
  ruriHost: uriHost.optional(),
  setHeaders: headerMap.optional(),
  removeHeaders: z.array(headerName).max(32).optional(),
}).refine((r) => r.group === undefined || r.uri === undefined, { message: 'group and uri exclude each other', path: ['uri'] });

export const replySchema = z.strictObject({
  status: z.int().min(300).max(699),
  reason: z.string().max(128).regex(/^[^\r\n\0]*$/, { message: 'must be on one line' }).optional(),
  headers: headerMap.optional(),
});

export const decisionSchema = z.union([
  z.strictObject({ relay: relaySchema }),
  z.strictObject({ reply: replySchema }),
]);

/** A decision checked as a whole, or what is wrong with it (`path: message`). */
export type CheckedDecision = { ok: true; decision: RoutingDecision | undefined } | { ok: false; error: string };

/** `undefined`, `null` and `{}` mean "route as usual"; anything else must be one whole decision. */
export function checkDecision(value: unknown): CheckedDecision {
  if (value === undefined || value === null) return { ok: true, decision: undefined };
  if (typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length === 0) return { ok: true, decision: undefined };
  const parsed = decisionSchema.safeParse(value);
  if (parsed.success) return { ok: true, decision: parsed.data as RoutingDecision };
  const issue = bestIssue(parsed.error.issues);
  const path = issue.path.length === 0 ? '(decision)' : issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p))).join('.').replace(/\.\[/g, '[');
  return { ok: false, error: `${path}: ${issue.message}` };
}

/** The issue that says most: a union's failure points into the branch the value tried to be. */
function bestIssue(issues: readonly z.core.$ZodIssue[]): z.core.$ZodIssue {
  const first = unwrapKey(issues[0]!);
  if (first.code === 'invalid_union') {
    for (const branch of first.errors) {
      // The branch whose key the value used (relay or reply) is the one it meant.
      const inner = branch.find((i) => i.code !== 'unrecognized_keys' && i.path.length > 0);
      if (inner !== undefined) return unwrapKey({ ...inner, path: [...first.path, ...inner.path] });
    }
    return { ...first, message: 'must be { relay: {...} } or { reply: {...} }' };
  }
  return first;
}

/** A record key that failed its own check: say why (the key's message), not "invalid key". */
function unwrapKey(issue: z.core.$ZodIssue): z.core.$ZodIssue {
  if (issue.code !== 'invalid_key') return issue;
  const why = issue.issues[0];
  return why === undefined ? issue : { ...issue, message: why.message };
}
