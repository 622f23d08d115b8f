/**
 * `routes:` entries and the `routing:` section (operator routing logic,
 * src/routing/call-router.ts). Kept beside schema.ts so the rule grammar
 * reads in one place; schema.ts holds them in the config object.
 */
import { z } from 'zod';
import { isCidr, isHostOrIp } from './net-formats.js';

/** Longest user part a rule's regular expression is run on (longer never match): bounds the regex's work. */
export const RULE_MAX_USER_LENGTH = 256;

const domainPattern = z
  .string()
  .refine((d) => d === '*' || isHostOrIp(d.startsWith('*.') ? d.slice(2) : d), { message: 'must be a domain name, *.domain, * or an IP address' })
  .transform((d) => d.toLowerCase());

const regexSource = z.string().min(1).max(512).superRefine((src, ctx) => {
  try {
    new RegExp(src, 'u');
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: `is not a valid regular expression: ${(err as Error).message}` });
  }
});

const userMatch = z
  .strictObject({
    prefix: z.string().min(1).max(64).optional().describe('The user part starts with this text.'),
    regex: regexSource.optional().describe('The user part matches this regular expression (JavaScript, unicode mode); anchor it with ^…$ for a whole match.'),
  })
  .refine((m) => (m.prefix === undefined) !== (m.regex === undefined), { message: 'give exactly one of prefix or regex' });

const ruleMatch = z
  .strictObject({
    ruriUser: userMatch.optional().describe('Request-URI user part.'),
    fromUser: userMatch.optional().describe('From URI user part.'),
    domain: domainPattern.optional().describe('Request-URI host: exact, *.suffix or *.'),
    source: z
      .union([z.string(), z.array(z.string()).min(1)])
      .transform((s) => (Array.isArray(s) ? s : [s]))
      .pipe(z.array(z.string().refine(isCidr, { message: 'must be a CIDR such as 192.0.2.0/24 or 2001:db8::/32' })))
      .optional()
      .describe('Source address in this CIDR (or any of a list).'),
  })
  .describe('Every condition given must hold; {} matches every request.');

const replyAction = z.strictObject({
  status: z.int().min(300).max(699).describe('Status code of the answer, 300-699.'),
  reason: z.string().max(128).regex(/^[^\r\n\0]*$/, { message: 'must be on one line' }).optional().describe('Reason phrase. @default the standard phrase'),
});

const ruleAction = z
  .strictObject({
    strip: z.int().min(0).max(64).optional().describe('Remove this many leading characters of the Request-URI user part.'),
    prefix: z.string().max(64).regex(/^[A-Za-z0-9+*#._-]*$/, { message: 'may hold digits, letters, + * # . _ -' }).optional().describe('Put this in front of the Request-URI user part (after strip).'),
    group: z.string().min(1).optional().describe('Backend group that receives the request.'),
    reply: replyAction.optional().describe('Answer the request here instead of relaying it.'),
  })
  .refine((a) => a.reply === undefined || (a.group === undefined && a.strip === undefined && a.prefix === undefined), { message: 'reply cannot be combined with strip, prefix or group', path: ['reply'] })
  .refine((a) => a.reply !== undefined || a.group !== undefined || a.strip !== undefined || a.prefix !== undefined, { message: 'give at least one of strip, prefix, group or reply' });

/** One `routes[i]`: the domain form, or a rule. */
export const routeEntrySchema = z
  .strictObject({
    domain: domainPattern.optional().describe('Domain form: Request-URI host to match, case-insensitively (exact, *.suffix or *).'),
    backend: z.string().min(1).optional().describe('Domain form: backend group that receives the matching requests.'),
    match: ruleMatch.optional().describe('Rule form: what the request must look like.'),
    action: ruleAction.optional().describe('Rule form: what to do with a matching request.'),
  })
  .superRefine((r, ctx) => {
    const domainForm = r.domain !== undefined || r.backend !== undefined;
    const ruleForm = r.match !== undefined || r.action !== undefined;
    if (domainForm && ruleForm) {
      ctx.addIssue({ code: 'custom', path: [r.match !== undefined ? 'match' : 'action'], message: 'an entry is either { domain, backend } or { match, action }; put the domain under match.domain' });
    } else if (domainForm) {
      if (r.domain === undefined) ctx.addIssue({ code: 'custom', path: ['domain'], message: 'is required with backend' });
      if (r.backend === undefined) ctx.addIssue({ code: 'custom', path: ['backend'], message: 'is required with domain' });
    } else if (r.action === undefined) {
      ctx.addIssue({ code: 'custom', path: ['action'], message: ruleForm ? 'is required with match' : 'an entry needs { domain, backend } or { match, action }' });
    }
  });

export type RouteEntry = z.infer<typeof routeEntrySchema>;

export const routingSchema = z
  .strictObject({
    script: z.string().default('').describe('JavaScript module (.js/.mjs) whose default export route(request) decides initial requests: { relay } | { reply } | undefined. Reloaded by webrtc-sbc reload. @default "" (none)'),
    timeoutMs: z.int().min(1).max(60_000).default(1000).describe('A script decision that takes longer is answered 500 and its late result ignored. @default 1000'),
    isolation: z
      .enum(['event-loop', 'worker'])
      .default('event-loop')
      .describe('Where the script runs. event-loop: cheapest, but a script that never yields (an endless loop) or calls process.exit stops the gateway. worker: its own thread; a stuck one is ended and restarted, costing a structured-clone round trip per call. @default "event-loop"'),
    http: z
      .strictObject({
        url: z
          .string()
          .default('')
          .refine((u) => u === '' || /^https?:\/\/[^\s]+$/.test(u), { message: 'must be an http:// or https:// URL' })
          .describe('Routing service: the request is POSTed as JSON, the decision read back (204, null or {} = usual routing). @default "" (none)'),
        timeoutMs: z.int().min(1).max(60_000).default(1000).describe('How long to wait for the service. @default 1000'),
        onError: z.enum(['default', '503']).default('default').describe('When the service times out, is down or answers nonsense: default = route as usual, 503 = refuse the call. @default default'),
      })
      .prefault({}),
  })
  .prefault({})
  .describe('Operator routing logic, consulted for initial requests after the security checks: routes rules first, then the script, then the HTTP service.');
