/**
 * The one place that holds every configuration key: its type, default, unit
 * and documentation. CONTRACT.md "Configuration keys" is the source of the
 * names and defaults; keys beyond it are documented here.
 *
 * Objects are strict (an unknown key is an error) and every nested object is
 * `prefault({})`, so a partial section gets the defaults of the keys it omits.
 */
import { isIP } from 'node:net';
import { createSecureContext } from 'node:tls';
import { z } from 'zod';
import { parseEngineUrl } from '../media/rtpengine/engine-url.js';
import { parseUri } from '../sip/uri.js';
import { checkCrossFields } from './cross-checks.js';
import { isCidr, isHostOrIp, parseHostPort } from './net-formats.js';
import { routeEntrySchema, routingSchema } from './routing-schema.js';
import { websocketSchema } from './websocket-schema.js';

/** SIP transports a listener can serve. */
export const TRANSPORTS = ['udp', 'tcp', 'tls', 'ws', 'wss'] as const;
export type ListenTransport = (typeof TRANSPORTS)[number];

/** Port a listener gets when its entry names none (CONTRACT.md "Default listeners"). */
export const DEFAULT_PORTS: Readonly<Record<ListenTransport, number>> = { udp: 5060, tcp: 5060, tls: 5061, ws: 5066, wss: 7443 };

export const BALANCING_ALGORITHMS = ['round-robin', 'weighted', 'priority', 'hash-callid', 'hash-from', 'hash-to', 'hash-ruri'] as const;
export const MEDIA_MODES = ['auto', 'rtpengine', 'embedded', 'passthrough'] as const;
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Methods that would create dialogs or registrations at the backend; never used as probes. */
const STATEFUL_METHODS = new Set(['INVITE', 'ACK', 'CANCEL', 'BYE', 'REGISTER', 'SUBSCRIBE', 'PRACK', 'UPDATE', 'REFER']);

const DEFAULT_BLOCKED_USER_AGENTS = ['friendly-scanner', 'sipvicious', 'sipcli', 'sip-scan', 'sundayddr', 'iwar', 'sivus', 'smap', 'sipsak'];

const port = z.int().min(0).max(65535);
const seconds = z.number().min(0);
const bindAddress = z.string().refine((a) => isIP(a) !== 0, { message: 'must be an IPv4 or IPv6 address to bind to' });
const hostPort = z.string().refine((s) => parseHostPort(s) !== undefined, { message: 'must be host:port or [IPv6]:port' });

const listenerSchema = z
  .strictObject({
    transport: z.enum(TRANSPORTS).describe('SIP transport: udp | tcp | tls | ws | wss. wss also serves the web page over HTTPS at /.'),
    address: bindAddress.default('0.0.0.0').describe('IP address to bind; 0.0.0.0 or :: for all. @default "0.0.0.0"'),
    port: port
      .optional()
      .describe('Port to bind; 0 picks a free one. @default 5060 for udp/tcp, 5061 tls, 5066 ws, 7443 wss'),
    advertise: z
      .string()
      .refine(isHostOrIp, { message: 'must be a host name or IP address' })
      .optional()
      .describe('Host or IP written into Via, Record-Route and Path for this listener (e.g. the public address behind NAT). @default the bound address'),
    interface: z.string().min(1).optional().describe('Label for multi-homed setups, e.g. "inside" or "outside".'),
  })
  .transform((l) => ({ ...l, port: l.port ?? DEFAULT_PORTS[l.transport] }));

const DEFAULT_LISTENERS = [
  { transport: 'udp', address: '0.0.0.0', port: 5060 },
  { transport: 'tcp', address: '0.0.0.0', port: 5060 },
  { transport: 'tls', address: '0.0.0.0', port: 5061 },
  { transport: 'wss', address: '0.0.0.0', port: 7443 },
] as const;

const probeSchema = z
  .strictObject({
    method: z
      .string()
      .regex(/^[A-Z]+$/, { message: 'must be an upper-case SIP method' })
      .refine((m) => !STATEFUL_METHODS.has(m), { message: 'must not be a method that creates state at the backend' })
      .default('OPTIONS')
      .describe('SIP method sent as a health probe. @default "OPTIONS"'),
    intervalSeconds: seconds.default(10).describe('Seconds between probes of one target; 0 turns probing off (targets stay up). @default 10'),
    failuresToDown: z.int().min(1).default(3).describe('Consecutive failed probes that mark a target down. @default 3'),
    successesToUp: z.int().min(1).default(1).describe('Consecutive answered probes that bring a down target back. @default 1'),
    timeoutMs: z.int().min(1).default(5000).describe('Milliseconds a probe waits for a final response before it counts as failed. @default 5000'),
    aliveCodes: z
      .array(z.int().min(200).max(699))
      .min(1)
      .optional()
      .describe(
        'Final response codes that count as alive. When absent, any final response from the target counts except 408 and 503 ' +
          '(a target that answers 404 or 405 is up; 503 means it refuses work). No response within timeoutMs, or a transport error, always counts as a failure.',
      ),
  })
  .prefault({});

const targetSchema = z.strictObject({
  uri: z
    .string()
    .superRefine((text, ctx) => {
      const problem = sipTargetProblem(text);
      if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
    })
    .describe('SIP URI of the target, e.g. "sip:10.0.0.5:5060;transport=udp".'),
  weight: z.int().min(0).default(1).describe('Share of traffic under the weighted algorithm; 0 takes none. @default 1'),
  priority: z.int().min(0).default(0).describe('Lower is preferred under the priority algorithm. @default 0'),
});

const backendGroupSchema = z.strictObject({
  algorithm: z.enum(BALANCING_ALGORITHMS).default('round-robin').describe(`How a target is chosen: ${BALANCING_ALGORITHMS.join(' | ')}. @default "round-robin"`),
  probe: probeSchema.describe('Health probing of every target in the group.'),
  targets: z.array(targetSchema).min(1).describe('The group\'s SIP servers; at least one.'),
});

/** A value in an ng flag set: what JSON/YAML can write and bencode can carry (no booleans). */
type NgFlagValue = string | number | NgFlagValue[] | { [key: string]: NgFlagValue };
const ngFlagValue: z.ZodType<NgFlagValue> = z.lazy(() =>
  z.union([z.string(), z.int(), z.array(ngFlagValue), z.record(z.string(), ngFlagValue)]),
);
/** Overrides for one direction: each key replaces the default's key; null removes it. */
const ngFlagOverrides = z
  .record(z.string().min(1), ngFlagValue.nullable())
  .optional();

const rtpengineSchema = z
  .strictObject({
    anchorPlainCalls: z
      .boolean()
      .default(true)
      .describe('Also run plain-RTP ⇄ plain-RTP calls (phones ⇄ backend) through the engine, so neither side sees the other\'s media address (topology hiding for SDP). @default true'),
    engines: z
      .array(
        z.strictObject({
          url: z
            .string()
            .refine(isEngineUrl, { message: 'must be udp:HOST:PORT, udp6:[IPv6]:PORT or ws://HOST:PORT (rtpengine --listen-http)' })
            .describe('ng control socket, e.g. "udp:127.0.0.1:22222", or "ws://127.0.0.1:8080" for ng over WebSocket (large SDPs).'),
          weight: z.int().min(1).default(1).describe('Share of new calls given to this engine. @default 1'),
        }),
      )
      .default([])
      .describe('RTPEngine instances (ng protocol). @default [] (none)'),
    timeoutMs: z.int().min(1).default(1000).describe('Milliseconds to wait for an ng answer before retrying or failing over. @default 1000'),
    tries: z.int().min(1).max(10).default(3).describe('Sends of one ng request (same cookie) before the engine counts as not answering; an offer then moves to the next engine. @default 3'),
    pingIntervalSeconds: z.number().positive().default(5).describe('Seconds between ng pings to each engine. @default 5'),
    failuresToDown: z.int().min(1).default(2).describe('Consecutive unanswered pings or commands that mark an engine down. @default 2'),
    successesToUp: z.int().min(1).default(1).describe('Consecutive answers that bring a down engine back. @default 1'),
    interfaces: z
      .strictObject({
        webrtc: z.string().min(1).describe('rtpengine interface name (--interface=NAME/IP) facing browsers, e.g. "pub".'),
        rtp: z.string().min(1).describe('rtpengine interface name facing the plain-RTP side, e.g. "priv".'),
      })
      .optional()
      .describe('For multi-homed engines: sent as the ng "direction" pair on initial offers. @default none (the engine\'s default interface)'),
    flags: z
      .strictObject({
        webrtcToRtp: ngFlagOverrides.describe('Merged over the default ng flags for SDPs from a browser toward plain RTP (RTP/AVP, ICE remove, DTLS off, rtcp-mux demux, DTLS-reverse passive).'),
        rtpToWebrtc: ngFlagOverrides.describe('Merged over the default ng flags for SDPs from plain RTP toward a browser (UDP/TLS/RTP/SAVPF, ICE force, DTLS passive, rtcp-mux require, generate-mid).'),
      })
      .prefault({})
      .describe('ng flag overrides per direction; a key replaces the default key, null removes it. @default {} (the working defaults)'),
  })
  .prefault({});

/** `LOW-HIGH`, both within 1024-65535, at least one even/odd pair (RTP on the even port, RTCP on the next). */
export function parsePortRange(text: string): { min: number; max: number } | undefined {
  const m = /^\s*(\d{1,5})\s*-\s*(\d{1,5})\s*$/.exec(text);
  if (m === null) return undefined;
  const min = Number(m[1]);
  const max = Number(m[2]);
  if (min < 1024 || max > 65535 || max < min) return undefined;
  const firstEven = min + (min % 2);
  return firstEven + 1 <= max ? { min, max } : undefined;
}

const embeddedMediaSchema = z
  .strictObject({
    address: z.string().refine((a) => isIP(a) === 4, { message: 'must be an IPv4 address to bind to' }).default('0.0.0.0').describe('IPv4 address the relay binds its media sockets to (browser ICE candidates and plain RTP). @default "0.0.0.0"'),
    advertise: z
      .string()
      .refine((a) => a === '' || isIP(a) === 4, { message: 'must be an IPv4 address (or empty for the bound address)' })
      .default('')
      .describe('IPv4 address written into SDP (c=, candidates) instead of the bound one, e.g. the public address behind 1:1 NAT. @default "" (the bound address; for 0.0.0.0 the first non-internal IPv4 address)'),
    ports: z
      .string()
      .refine((r) => parsePortRange(r) !== undefined, { message: 'must be LOW-HIGH within 1024-65535 with room for at least one even/odd port pair, e.g. "30000-39999"' })
      .default('30000-39999')
      .describe('UDP port range for media: each browser leg and each plain leg takes one even/odd pair. @default "30000-39999"'),
    maxSessions: z.int().min(1).default(1000).describe('Calls with embedded media at once; a new call above it gets 503. @default 1000'),
    inactivitySeconds: z.number().positive().default(60).describe('A call whose media receives no RTP for this long is freed (logged and counted); ICE-lite sees no consent checks. @default 60'),
    holdInactivitySeconds: z.number().positive().default(3600).describe('The same limit while the call is on hold or not yet answered. @default 3600'),
    maxCallSeconds: z.number().positive().default(86400).describe('Media of a call nobody ended is freed after this long. @default 86400'),
  })
  .prefault({});

const redisSchema = z
  .strictObject({
    url: z
      .string()
      .refine(isRedisUrl, { message: 'must be a redis:// or rediss:// URL' })
      .default('redis://127.0.0.1:6379')
      .describe('Standalone Redis, or the credentials and database used with sentinels / cluster. @default "redis://127.0.0.1:6379"'),
    keyPrefix: z.string().default('sbc:').describe('Prefix of every key this SBC writes. @default "sbc:"'),
    sentinels: z
      .strictObject({
        name: z.string().min(1).describe('Master group name known to the sentinels.'),
        nodes: z.array(hostPort).min(1).describe('Sentinel addresses, host:port.'),
      })
      .optional()
      .describe('Use Redis Sentinel instead of the url\'s host.'),
    cluster: z
      .strictObject({ nodes: z.array(hostPort).min(1).describe('Seed nodes, host:port.') })
      .optional()
      .describe('Use Redis Cluster instead of the url\'s host.'),
  })
  .prefault({});

/** A service number: the user part of a Request-URI (digits or a word), compared case-insensitively. */
const serviceNumbersSchema = (defaults: string[]) =>
  z
    .array(z.string().regex(/^[A-Za-z0-9._+-]{1,32}$/, { message: 'must be a user part of letters, digits, . _ + -' }))
    .min(1)
    .default(() => [...defaults])
    .describe(`Request-URI user parts that reach it on a local domain. @default ${JSON.stringify(defaults)}`);

const serviceMaxSecondsSchema = z.int().min(1).default(600).describe('We hang up (BYE) after this many seconds. @default 600');

/** Built-in services (registrar.mode local, embedded media): absent = echo and tone, {} = none. */
const servicesSchema = z
  .strictObject({
    echo: z
      .strictObject({ numbers: serviceNumbersSchema(['9196', 'echo']), maxSeconds: serviceMaxSecondsSchema })
      .optional()
      .describe('Returns the caller\'s own audio (RTP reflected, in the caller\'s codec).'),
    tone: z
      .strictObject({
        numbers: serviceNumbersSchema(['9197', 'tone']),
        hz: z.int().min(1).max(3999).default(440).describe('Frequency of the tone (PCMU/PCMA, 8 kHz). @default 440'),
        maxSeconds: serviceMaxSecondsSchema,
      })
      .optional()
      .describe('Plays a steady tone, to test one-way audio.'),
  })
  .default(() => ({ echo: { numbers: ['9196', 'echo'], maxSeconds: 600 }, tone: { numbers: ['9197', 'tone'], hz: 440, maxSeconds: 600 } }))
  .superRefine((s, ctx) => {
    const seen = new Set<string>();
    for (const [name, svc] of Object.entries(s)) {
      for (const n of svc?.numbers ?? []) {
        if (seen.has(n.toLowerCase())) ctx.addIssue({ code: 'custom', path: [name, 'numbers'], message: `number ${n} is used by two services` });
        seen.add(n.toLowerCase());
      }
    }
  })
  .describe('Built-in services on the local domain (registrar.mode local), answered by the SBC with the embedded media relay. @default echo (9196) and tone (9197); {} turns them off');

/** The whole configuration schema; parse `{}` to get the embedded defaults. */
export const configSchema = z
  .strictObject({
    listen: z
      .array(listenerSchema)
      .default(() => DEFAULT_LISTENERS.map((l) => ({ ...l })))
      .describe('SIP listeners. @default udp, tcp on 0.0.0.0:5060, tls on 0.0.0.0:5061, wss on 0.0.0.0:7443 (ws off; 5066 when listed)'),
    tls: z
      .strictObject({
        cert: z.string().min(1).default('certs/server.crt').describe('PEM certificate for tls and wss, relative to the working directory. @default "certs/server.crt"'),
        key: z.string().min(1).default('certs/server.key').describe('PEM private key. When neither file exists a self-signed pair is generated there. @default "certs/server.key"'),
        watch: z.boolean().default(true).describe('Watch the directories of cert and key: a changed pair is taken for new connections (open ones keep theirs); a broken pair is refused and the old one stays. webrtc-sbc reload re-reads the pair too. @default true'),
        minVersion: z.enum(['TLSv1.2', 'TLSv1.3']).default('TLSv1.2').describe('Oldest TLS version tls and wss listeners accept. @default "TLSv1.2"'),
        ciphers: z
          .string()
          .min(1)
          .refine(isCipherList, { message: 'not a cipher list OpenSSL accepts (e.g. "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256")' })
          .optional()
          .describe("OpenSSL cipher list for TLS 1.2 (TLS 1.3 suites may be listed too). @default Node's default list"),
      })
      .prefault({}),
    mode: z.enum(['proxy', 'b2bua']).default('proxy').describe('proxy keeps one dialog end to end; b2bua starts a new one inward. @default "proxy"'),
    topologyHiding: z
      .strictObject({
        enabled: z.boolean().default(true).describe('Hide inside Via, Record-Route and Contact from the outside. @default true'),
        maskCallId: z.boolean().default(false).describe('Also replace the Call-ID on the way out. @default false'),
        // The keys below have no schema default so the section reads as CONTRACT.md
        // prints it; src/topology (TOPOLOGY_DEFAULTS) applies the documented defaults.
        hideClientVias: z.boolean().optional().describe('Send requests from clients to the backend with our Via only (their Via chain stays outside). @default false'),
        stripHeaders: z
          .array(z.string().regex(/^[A-Za-z0-9!%'+._~-]+\*?$/, { message: 'a header name, or a prefix ending in * such as X-*' }))
          .optional()
          .describe('Headers of inside messages removed on the way out; Server and User-Agent are replaced by ours. @default ["Server","User-Agent","Warning","Organization","X-*"]'),
        dialogTtlSeconds: z.int().min(60).optional().describe('Lifetime of a dialog\'s topology record; re-INVITE and UPDATE refresh it, BYE deletes it. @default 43200'),
        earlyTtlSeconds: z.int().min(10).optional().describe('Lifetime of the record of a dialog not yet answered with a 2xx. @default 180'),
      })
      .prefault({}),
    trustedSources: z
      .array(z.string().refine(isCidr, { message: 'must be a CIDR such as 10.0.0.0/8 or fd00::/8' }))
      .default([])
      .describe('Networks treated as inside besides backend targets; a bare address means one host. @default []'),
    backends: z
      .record(z.string().regex(/^[A-Za-z0-9_.-]+$/, { message: 'group names use letters, digits, _ . -' }), backendGroupSchema)
      .default({})
      .describe('Dispatcher groups by name. @default {} (none: requests get 503 and start-up says so)'),
    routes: z
      .array(routeEntrySchema)
      .default([])
      .describe('Routes and routing rules, first match wins: { domain, backend } sends a Request-URI host to a group; { match, action } rewrites digits, picks a group or replies. No match goes to backend group "default". @default []'),
    routing: routingSchema,
    registrar: z
      .strictObject({
        mode: z
          .enum(['path', 'local'])
          .optional()
          .describe('path: the backend keeps registrations (we add Path); local: the SBC is the registrar and routes calls to registered users itself. @default local when no backend is configured (and mode is proxy), else path'),
        domains: z
          .array(z.string().refine(isHostOrIp, { message: 'must be a domain name or IP address' }).transform((d) => d.toLowerCase()))
          .default([])
          .describe('Local mode: the domains we register for and route calls to. @default [] (our advertise addresses, the host name, localhost and 127.0.0.1)'),
        minExpires: z.int().min(1).default(60).describe('Local mode: shortest registration accepted, seconds; shorter gets 423 with Min-Expires. @default 60'),
        maxExpires: z.int().min(1).default(3600).describe('Local mode: longer registrations are granted this many seconds. @default 3600'),
        maxBindingsPerAor: z.int().min(1).default(10).describe('Local mode: contacts one AOR may register; beyond it bindings whose flow is gone make room, else 403. @default 10'),
        maxBindings: z.int().min(1).default(100_000).describe('Local mode: bindings this node holds in total (with workers, all its workers together); beyond it new ones get 503. @default 100000'),
        backend: z.string().min(1).default('default').describe('Backend group that receives REGISTER. @default "default"'),
        pathMode: z.boolean().default(true).describe('Add Path with a flow token (RFC 3327, RFC 5626) so calls find the client\'s flow. @default true'),
        rewriteWsContact: z
          .boolean()
          .default(false)
          .describe('Rewrite transport=ws/wss in REGISTER Contacts to the inside transport, for backends (FreeSWITCH) that otherwise try to dial WebSocket contacts themselves; the user part is kept. @default false'),
        maxBindingsPerFlow: z.int().min(1).default(20).describe('AORs remembered per flow in our view of registrations (a REGISTER storm from one connection cannot grow it further). @default 20'),
        maxFlows: z.int().min(1).default(200_000).describe('Flows with registrations remembered in our view. @default 200000'),
      })
      .prefault({}),
    services: servicesSchema,
    media: z
      .strictObject({
        mode: z
          .enum(MEDIA_MODES)
          .default('auto')
          .describe('auto (rtpengine when engines are listed, else embedded) | rtpengine | embedded | passthrough. @default "auto"'),
        rtpengine: rtpengineSchema,
        embedded: embeddedMediaSchema,
      })
      .prefault({}),
    capture: z
      .strictObject({
        hep: z
          .strictObject({
            address: z
              .string()
              .refine((a) => a === '' || parseHostPort(a) !== undefined, { message: 'must be host:port, [IPv6]:port, or "" (off)' })
              .default('')
              .describe('HEP collector (Homer, heplify-server) as host:port: every SIP message in and out, on every transport (WS/WSS and TLS as the SIP they carry), is sent there as HEPv3 over UDP with Call-ID correlation. "" = off. @default ""'),
            id: z.int().min(0).max(0xffffffff).default(2001).describe('Capture agent id written into every packet. @default 2001'),
            password: z.string().default('').describe('Auth key sent in every packet when not empty (the collector\'s password). @default ""'),
            maxQueue: z.int().min(1).max(1_000_000).default(10000).describe('Messages waiting for the collector socket at most; more are dropped and counted in sbc_hep_dropped_total, the calls never wait. @default 10000'),
          })
          .prefault({}),
      })
      .prefault({}),
    state: z
      .strictObject({
        store: z.enum(['memory', 'redis']).default('memory').describe('memory for one node; redis to share state between nodes. @default "memory"'),
        redis: redisSchema,
      })
      .prefault({}),
    security: z
      .strictObject({
        auth: z
          .strictObject({
            mode: z.enum(['none', 'local', 'backend']).default('none').describe('none | local (users file) | backend (pass challenges through). @default "none"'),
            usersFile: z.string().min(1).optional().describe('Users file for mode local, relative to the working directory: one `user:password` or `user:realm:HA1` (hex H(user:realm:password)) a line, `#` comments. A bad line stops start-up naming the line.'),
            realm: z.string().min(1).optional().describe('Digest realm for mode local. @default the Request-URI host for REGISTER, the From URI host for other requests'),
          })
          .prefault({}),
        rateLimit: z
          .strictObject({
            requestsPerSecondPerIp: z.number().min(0).default(50).describe('Sustained requests per second one IP may send; 0 = unlimited. @default 50'),
            burst: z.int().min(1).default(100).describe('Requests one IP may send at once before the rate applies. @default 100'),
            banSeconds: seconds.default(300).describe('Seconds an IP stays banned after exceeding the limit. @default 300'),
          })
          .prefault({}),
        blockedUserAgents: z
          .array(z.string().min(1))
          .default(() => [...DEFAULT_BLOCKED_USER_AGENTS])
          .describe('Requests whose User-Agent contains one of these (case-insensitive) are dropped silently.'),
        maxCallsPerUser: z.int().min(0).default(0).describe('Concurrent calls one caller (From user@host) may place from outside; a new INVITE over it gets 403 Too Many Calls. 0 = unlimited. @default 0'),
        maxMessageBytes: z.int().min(512).max(16_777_216).default(65535).describe('Largest SIP message accepted, in bytes. @default 65535'),
        websocket: websocketSchema,
      })
      .prefault({}),
    admin: z
      .strictObject({
        listen: hostPort.default('127.0.0.1:9060').describe('Admin HTTP API and metrics, host:port. @default "127.0.0.1:9060"'),
        token: z.string().default('').describe('Bearer token required by the admin API; empty = none. @default ""'),
      })
      .prefault({}),
    overload: z
      .strictObject({
        enabled: z.boolean().default(true).describe('Admission control: above any threshold new out-of-dialog requests from outside get a stateless 503 with a short random Retry-After; ACK, CANCEL, BYE, PRACK, in-dialog requests and responses are never shed. false = nothing is shed; the load is still watched so our own lateness never marks a backend down. @default true'),
        loopDelayMs: z.number().positive().default(100).describe('Lateness target, ms: how long a request arriving now may wait before we look at it (99th percentile event-loop delay plus the estimated wait in the kernel UDP receive queue). Shedding starts when the lateness has stayed over it for 3 samples in a row (a standing backlog, as in CoDel; a burst that drains, a GC pause or a JIT warm-up does not shed); while shedding, a backlog over it is worked off. @default 100'),
        eventLoopUtilization: z.number().gt(0).max(1).default(0.9).describe('While shedding, the demand on the event loop (its utilization, counting the work waiting in the receive queue) the admitted rate is steered to: below it the rate grows with the idle time, between it and 1 the rate holds, over 1 it is cut. Busy alone never starts shedding. @default 0.9'),
        udpQueueBytes: z.int().min(4096).default(4194304).describe('Hard limit: shed (and cut the admitted rate on every sample) when this many bytes (kernel accounting, about 1.3–2.3 KiB per datagram) wait in the receive queues of our UDP sockets and the backlog is not shrinking, or when the kernel drops datagrams on them (Linux /proc/net/udp; not read elsewhere). The default is half of what the kernel holds with transport.udpReceiveBufferBytes 4 MiB (it doubles the value set). @default 4194304'),
        maxPendingInvites: z.int().min(1).default(20000).describe('Hard limit: shed when this many INVITE transactions are pending (no final response yet), for 2 samples in a row. @default 20000'),
        heapFraction: z.number().gt(0).max(1).default(0.75).describe('Hard limit: shed when the old generation still alive after the last full GC exceeds this fraction of its limit (--max-old-space-size; the whole heap in use now over 0.95 of its limit counts too), at once; above it inside requests are refused too (503 without Retry-After). @default 0.75'),
        sampleIntervalMs: z.int().min(20).max(5000).default(100).describe('How often the load is sampled, ms. While shedding, new out-of-dialog requests from outside are admitted up to a rate (the rest get a 503); on each sample it is cut (at most by half, at most every other sample) while the loop is asked more than it can do, and raised in proportion to the idle time. @default 100'),
        recoverSamples: z.int().min(1).default(5).describe('Samples in a row with nothing shed and the lateness under half its target before shedding ends (hysteresis). @default 5'),
        retryAfterMaxSeconds: z.int().min(1).max(3600).default(4).describe('Retry-After on a shed 503 is random between 1 and this, s. @default 4'),
      })
      .prefault({}),
    callRecords: z
      .strictObject({
        file: z.string().default('').describe('Append one JSON line per call to this file (relative to the working directory); reopened on SIGHUP and on reload, for log rotation. Empty = no file. @default ""'),
        maxCallSeconds: z.int().min(60).default(43200).describe('A call whose end the SBC never saw is written as max-duration after this many seconds. @default 43200'),
        maxCalls: z.int().min(1).default(200000).describe('Calls in progress tracked for their records; beyond it new calls get none (counted in sbc_call_records_dropped_total). @default 200000'),
        webhook: z
          .strictObject({
            url: z
              .string()
              .refine((u) => u === '' || /^https?:\/\/[^\s/]+/i.test(u), { message: 'must be an http:// or https:// URL, or empty' })
              .default('')
              .describe('POST the records in batches, as a JSON array, to this URL; empty = off. @default ""'),
            timeoutMs: z.int().min(1).default(5000).describe('Longest one POST may take, ms. @default 5000'),
            batchSize: z.int().min(1).max(10000).default(100).describe('Most records in one POST. @default 100'),
            maxQueue: z.int().min(1).default(10000).describe('Records waiting for the webhook; beyond it the oldest are dropped and counted. @default 10000'),
            retries: z.int().min(0).max(20).default(3).describe('Retries of a failed POST (back-off 0.5 s, doubling, at most 30 s) before its batch is dropped. @default 3'),
          })
          .prefault({}),
      })
      .prefault({})
      .describe('Call records: one JSON line per call (README "Call records").'),
    flowRecovery: z
      .strictObject({
        graceSeconds: seconds
          .max(3600)
          .default(30)
          .describe('A client connection (ws, wss, tcp, tls) that closes with dialogs on it is held this long: the same client (RFC 5626 +sip.instance and reg-id, else Contact user and host) coming back on a new connection keeps its calls; requests for them meanwhile get 480. Then each call is ended with a BYE toward the other side (Reason: SIP;cause=480). 0 = calls end when their connection closes. @default 30'),
      })
      .prefault({}),
    shutdown: z
      .strictObject({
        drainSeconds: seconds.default(30).describe('On SIGTERM/SIGINT, seconds dialogs may continue before exit. @default 30'),
      })
      .prefault({}),
    workers: z
      .union([z.literal('auto'), z.int().min(1).max(64)])
      .default(1)
      .describe('Gateway processes on this machine: 1, N, or auto (one per core). Above 1 a supervisor runs N workers behind the same ports (UDP through SO_REUSEPORT, built by npm install; without it one worker runs). Each worker also has its own inside UDP port (picked by the kernel), written in its Via, Record-Route and Path. @default 1'),
    log: z
      .strictObject({
        level: z.enum(LOG_LEVELS).default('info').describe(`${LOG_LEVELS.join(' | ')}. @default "info"`),
      })
      .prefault({}),
    transport: z
      .strictObject({
        maxHeaderCount: z.int().min(8).default(128).describe('Most header fields one message may carry. @default 128'),
        maxConnectionsPerIp: z.int().min(1).default(100).describe('Open inbound connections (tcp, tls, ws, wss together) from one IP. @default 100'),
        handshakeTimeoutSeconds: z.number().positive().default(10).describe('A connection that sends no complete message within this is closed. @default 10'),
        idleTimeoutSeconds: z.number().positive().default(900).describe('A connection silent this long is closed; above SIP.js\'s 600 s re-REGISTER. @default 900'),
        wsPingIntervalSeconds: z.number().min(0).default(30).describe('Seconds between WebSocket pings; 0 = off. @default 30'),
        udpReceiveBufferBytes: z
          .int()
          .min(65536)
          .default(4 * 1024 * 1024)
          .describe('Kernel receive buffer per UDP socket; bursts beyond it are dropped by the kernel. Capped by net.core.rmem_max. @default 4194304'),
        workerPortBase: port
          .default(0)
          .describe('With workers above 1: the first of the ports each worker has of its own (its inside port on every udp, tcp and tls listener, in listen order): worker N gets base + (N-1)·L … base + N·L - 1 for L such listeners, the same after a restart, so Paths and Record-Routes it issued stay valid. 0 = ports the kernel picks (new ones after a restart). @default 0'),
      })
      .prefault({}),
    flowTokens: z
      .strictObject({
        secret: z
          .string()
          .default('')
          .describe('HMAC key for flow tokens in Path and Record-Route (also digest nonces and topology keys). Empty: with state.store memory and one process, random per process (tokens die with it); workers and nodes on a shared store (workers > 1, or redis) share one created in the store (<prefix>secret:flow-token). @default ""'),
      })
      .prefault({}),
    web: z
      .strictObject({
        enabled: z.boolean().default(true).describe('Serve the softphone page at / on the wss listener. @default true'),
        root: z.string().min(1).default('web').describe('Directory of the page, relative to the working directory. @default "web"'),
      })
      .prefault({}),
    nat: z
      .strictObject({
        keepaliveIntervalSeconds: seconds.default(30).describe('Seconds between keepalives towards registered UDP clients; 0 = off. @default 30'),
        keepaliveMethod: z.enum(['OPTIONS', 'CRLF']).default('OPTIONS').describe('OPTIONS request or CRLF (RFC 5626 §4.4.1). @default "OPTIONS"'),
        keepaliveFailures: z.int().min(1).default(3).describe('Unanswered OPTIONS keepalives in a row before a registered UDP flow is closed. @default 3'),
      })
      .prefault({}),
    proxy: z
      .strictObject({
        flowFailedStatus: z
          .literal([430, 480])
          .default(430)
          .describe('Status for a request whose flow is gone: 430 Flow Failed (RFC 5626 §5.3.1) or 480 for backends that do not know 430. @default 430'),
        failoverTimeoutMs: z
          .int()
          .min(50)
          .default(4000)
          .describe('An initial request that hears nothing at all (not even 100 Trying) from a backend target for this long moves to the next target of its group, ms. @default 4000'),
      })
      .prefault({}),
    timers: z
      .strictObject({
        t1Ms: z.int().min(1).default(500).describe('RFC 3261 T1, RTT estimate, ms. @default 500'),
        t2Ms: z.int().min(1).default(4000).describe('RFC 3261 T2, longest non-INVITE retransmit interval, ms. @default 4000'),
        t4Ms: z.int().min(1).default(5000).describe('RFC 3261 T4, longest a message stays in the network, ms. @default 5000'),
        timerCSeconds: z.number().min(1).default(180).describe('Proxy INVITE Timer C, s (RFC 3261 §16.6 step 11: at least 3 minutes). @default 180'),
      })
      .prefault({}),
  })
  // Cross-field checks only make sense once every key parsed on its own.
  .superRefine(checkCrossFields, { when: (payload) => payload.issues.length === 0 });

/** The effective configuration, defaults filled in. */
export type Config = z.output<typeof configSchema>;
/** What a config file may contain: every key optional. */
export type ConfigInput = z.input<typeof configSchema>;
export type ListenerConfig = Config['listen'][number];
export type BackendGroupConfig = Config['backends'][string];
export type ProbeConfig = BackendGroupConfig['probe'];

/** The embedded defaults, a fresh object on every call. */
export function defaultConfig(): Config {
  return configSchema.parse({});
}

function sipTargetProblem(text: string): string | undefined {
  const parsed = parseUri(text);
  if (!parsed.ok) return `not a SIP URI: ${parsed.error}`;
  const uri = parsed.value;
  if (uri.scheme !== 'sip' && uri.scheme !== 'sips') return 'must be a sip: or sips: URI';
  if (uri.host === '') return 'must name a host';
  const transport = uri.params.get('transport');
  if (transport !== undefined && (transport === null || !(TRANSPORTS as readonly string[]).includes(transport.toLowerCase()))) {
    return `transport must be one of ${TRANSPORTS.join(', ')}`;
  }
  return undefined;
}

/** True when OpenSSL takes `text` as a cipher list (it throws "no cipher match" otherwise). */
function isCipherList(text: string): boolean {
  try {
    createSecureContext({ ciphers: text });
    return true;
  } catch {
    return false;
  }
}

function isEngineUrl(text: string): boolean {
  return parseEngineUrl(text) !== undefined;
}

function isRedisUrl(text: string): boolean {
  if (!URL.canParse(text)) return false;
  const url = new URL(text);
  return (url.protocol === 'redis:' || url.protocol === 'rediss:') && url.hostname !== '';
}
