/**
 * Digest authentication of initial requests from outside (security.auth.mode
 * local), in front of the backends like a proxy's auth module:
 *
 *   no credentials for our realm ──► 401 WWW-Authenticate (REGISTER) / 407 Proxy-Authenticate
 *   unparsable Digest credentials ─► 400 naming the problem
 *   nonce not ours / algorithm or qop we did not offer ─► fresh challenge
 *   wrong password (or unknown user) ─► challenge again; the 3rd consecutive
 *        failure of one source IP + user within the nonce lifetime ─► 403, and 403
 *        for that pair until the window ends
 *   right password, nonce too old or nc already used ─► challenge with stale=true
 *   right password, someone else's AOR (REGISTER: To user; else From user) ─► 403
 *   right password ─► our realm's credentials removed, request goes on
 *
 * Nonces are stateless (an HMAC over their issue time, a salt and the realm),
 * so any node sharing flowTokens.secret accepts them; nc is tracked per nonce
 * in a bounded map on this node to refuse replays. Under a supervisor
 * (`workers` > 1) a nonce also names the worker that issued it: the answer
 * normally comes back to that worker (same connection, or the kernel's UDP
 * affinity); at another worker, whose nc record it is not in, a right
 * password is re-challenged with stale=true rather than let a replay through.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { AuthDenial, Authenticator } from '../core/request-checks.js';
import type { Logger } from '../log/logger.js';
import {
  computeResponse,
  digestAlgorithm,
  digestHexLength,
  formatDigestChallenge,
  parseDigestCredentials,
  authScheme,
  type DigestAlgorithm,
  type DigestCredentials,
} from '../sip/digest.js';
import type { SipRequest } from '../sip/message.js';
import { fail, ok, type Result } from '../sip/result.js';
import type { Flow } from '../transport/flow.js';
import type { DigestUsers } from './users-file.js';

/** Defaults of the limits below, in one place. */
export const DIGEST_AUTH_DEFAULTS = {
  nonceMaxAgeSeconds: 300,
  maxFailures: 3,
  maxTrackedNonces: 100_000,
  maxTrackedFailures: 50_000,
} as const;

export interface DigestAuthOptions {
  users: DigestUsers;
  /** The flow-token secret; the nonce key is HMAC(secret, 'digest-nonce'). */
  secret: string | Buffer;
  /** security.auth.realm; absent = the Request-URI host for REGISTER, the From URI host otherwise. */
  realm?: string;
  logger: Logger;
  /** A nonce older than this is stale (re-challenge with stale=true). @default 300 */
  nonceMaxAgeSeconds?: number;
  /** Consecutive wrong answers of one source IP + user that earn a 403. @default 3 */
  maxFailures?: number;
  /** Nonces whose nc is remembered at once. @default 100000 */
  maxTrackedNonces?: number;
  /** Source IP + user pairs whose failures are remembered at once. @default 50000 */
  maxTrackedFailures?: number;
  /** Wall clock in ms (tests move it). @default Date.now */
  now?: () => number;
  /** This process's worker id under a supervisor (1..255), written into its nonces. @default 0 (not a worker) */
  issuer?: number;
}

/** 401 + WWW-Authenticate answered by Authorization (a registrar), or 407 + Proxy-Authenticate answered by Proxy-Authorization (a proxy). RFC 3261 §22.2, §22.3. */
interface ChallengeKind {
  status: 401 | 407;
  phrase: string;
  challengeHeader: 'WWW-Authenticate' | 'Proxy-Authenticate';
  credentialsHeader: 'Authorization' | 'Proxy-Authorization';
}

const AS_REGISTRAR: ChallengeKind = { status: 401, phrase: 'Unauthorized', challengeHeader: 'WWW-Authenticate', credentialsHeader: 'Authorization' };
const AS_PROXY: ChallengeKind = { status: 407, phrase: 'Proxy Authentication Required', challengeHeader: 'Proxy-Authenticate', credentialsHeader: 'Proxy-Authorization' };

const FORBIDDEN: AuthDenial = { status: 403, phrase: 'Forbidden' };

/** Algorithms we accept an answer in: MD5 is what we challenge with (SIP.js 0.21 knows no other), SHA-256 per RFC 8760. */
const ACCEPTED_ALGORITHMS: ReadonlySet<DigestAlgorithm> = new Set(['MD5', 'SHA-256']);

type Verdict =
  | { kind: 'ok' }
  /** Nothing to hold against the user: answer with a fresh challenge. */
  | { kind: 'rechallenge'; stale: boolean }
  | { kind: 'wrong' }
  | { kind: 'bad-request'; phrase: string };

export class DigestAuthenticator implements Authenticator {
  #users: DigestUsers;
  readonly #realm: string | undefined;
  readonly #log: Logger;
  readonly #nonces: DigestNonces;
  readonly #counts: NonceCounts;
  readonly #failures: FailureCounts;
  readonly #maxAgeMs: number;
  readonly #maxFailures: number;
  readonly #now: () => number;
  readonly #opaque: string;

  constructor(options: DigestAuthOptions) {
    this.#users = options.users;
    this.#realm = options.realm;
    this.#log = options.logger;
    this.#nonces = new DigestNonces(options.secret, options.issuer ?? 0);
    this.#maxAgeMs = (options.nonceMaxAgeSeconds ?? DIGEST_AUTH_DEFAULTS.nonceMaxAgeSeconds) * 1000;
    this.#maxFailures = options.maxFailures ?? DIGEST_AUTH_DEFAULTS.maxFailures;
    this.#counts = new NonceCounts(options.maxTrackedNonces ?? DIGEST_AUTH_DEFAULTS.maxTrackedNonces);
    this.#failures = new FailureCounts(options.maxTrackedFailures ?? DIGEST_AUTH_DEFAULTS.maxTrackedFailures, this.#maxAgeMs);
    this.#now = options.now ?? Date.now;
    this.#opaque = this.#nonces.opaque;
  }

  /** A re-read users file (POST /api/reload): nonces, replay windows and failure counts carry on. */
  setUsers(users: DigestUsers): void {
    this.#users = users;
  }

  check(req: SipRequest, flow: Flow): AuthDenial | undefined {
    // ACK cannot be answered and CANCEL cannot be resubmitted: never challenged (RFC 3261 §22.1).
    if (req.method === 'ACK' || req.method === 'CANCEL') return undefined;
    const kind = req.method === 'REGISTER' ? AS_REGISTRAR : AS_PROXY;
    const realm = this.#realm ?? (kind === AS_REGISTRAR ? req.requestUri()?.host : req.from()?.uri.host);
    if (realm === undefined || realm === '') return { status: 400, phrase: 'Bad Request: no realm host' };
    const now = this.#now();

    const found = ourCredentials(req, kind.credentialsHeader, realm);
    if (!found.ok) return { status: 400, phrase: `Malformed ${kind.credentialsHeader}: ${found.error}` };
    const creds = found.value;
    if (creds === undefined) return this.#challenge(kind, realm, now, false);

    const pair = failurePair(flow.remote.address, creds.username);
    const user = loggable(creds.username);
    if (this.#failures.count(pair, now) >= this.#maxFailures) {
      this.#log.debug({ callId: req.callId, user, source: flow.remote.address }, 'digest: still refused after repeated failures');
      return FORBIDDEN;
    }
    const verdict = this.#verify(req, creds, realm, now);
    switch (verdict.kind) {
      case 'bad-request':
        return { status: 400, phrase: verdict.phrase };
      case 'rechallenge':
        return this.#challenge(kind, realm, now, verdict.stale);
      case 'wrong': {
        const failures = this.#failures.add(pair, now);
        if (failures < this.#maxFailures) return this.#challenge(kind, realm, now, false);
        this.#log.warn({ callId: req.callId, user, realm, source: flow.remote.address, failures }, 'digest: refused after repeated wrong credentials');
        return FORBIDDEN;
      }
      case 'ok':
        break;
    }
    this.#failures.clear(pair);

    // A REGISTER may only bind the authenticated user's own AOR (RFC 3261 §10.2); other requests speak as the From user.
    const claimed = kind === AS_REGISTRAR ? req.to()?.uri.user : req.from()?.uri.user;
    if (claimed !== creds.username) {
      this.#log.warn({ callId: req.callId, user, method: req.method, source: flow.remote.address }, kind === AS_REGISTRAR ? 'digest: registering another AOR' : 'digest: From user is not the authenticated user');
      return FORBIDDEN;
    }
    consumeCredentials(req, kind.credentialsHeader, realm);
    this.#log.debug({ callId: req.callId, user, realm }, 'digest: authenticated');
    return undefined;
  }

  #verify(req: SipRequest, creds: DigestCredentials, realm: string, now: number): Verdict {
    const algorithm = digestAlgorithm(creds.algorithm);
    if (algorithm === undefined || !ACCEPTED_ALGORITHMS.has(algorithm)) return { kind: 'rechallenge', stale: false };
    // We always offer qop="auth" (RFC 8760 §2.4); nc is what makes replays detectable.
    if (creds.qop !== 'auth' || creds.nc === undefined || creds.cnonce === undefined) return { kind: 'rechallenge', stale: false };
    // The digest covers the Request-URI (RFC 3261 §22.4); RFC 2617 §3.2.2.5 answers a mismatch with 400.
    if (creds.uri !== req.uri) return { kind: 'bad-request', phrase: 'Bad Request: digest uri is not the Request-URI' };
    const issuedAt = this.#nonces.issuedAt(creds.nonce, realm);
    // Not ours, or from before a restart with a random secret: nothing to hold against the user.
    if (issuedAt === undefined) return { kind: 'rechallenge', stale: false };

    const stored = this.#users.ha1(creds.username, realm, algorithm);
    // An unknown user costs the same as a known one, so timing does not tell them apart.
    const ha1 = stored ?? '0'.repeat(digestHexLength(algorithm));
    const expected = computeResponse({ algorithm, ha1, method: req.method, uri: creds.uri, nonce: creds.nonce, qop: 'auth', nc: creds.nc, cnonce: creds.cnonce });
    const offered = creds.response;
    const match = offered.length === expected.length && timingSafeEqual(Buffer.from(offered, 'latin1'), Buffer.from(expected, 'latin1'));
    if (!match || stored === undefined) return { kind: 'wrong' };

    // Right password: a stale nonce or a used nc only needs a new nonce (RFC 7616 §3.3 stale).
    if (now - issuedAt > this.#maxAgeMs) return { kind: 'rechallenge', stale: true };
    // Another worker's nonce: its nc record is there, not here.
    if (!this.#nonces.isOwn(creds.nonce)) return { kind: 'rechallenge', stale: true };
    if (!this.#counts.use(creds.nonce, issuedAt, Number.parseInt(creds.nc, 16), issuedAt + this.#maxAgeMs, now)) {
      this.#log.info({ callId: req.callId, user: loggable(creds.username) }, 'digest: nonce count reused (replay refused)');
      return { kind: 'rechallenge', stale: true };
    }
    return { kind: 'ok' };
  }

  #challenge(kind: ChallengeKind, realm: string, now: number, stale: boolean): AuthDenial {
    const challenge = formatDigestChallenge({
      realm,
      nonce: this.#nonces.issue(realm, now),
      opaque: this.#opaque,
      // MD5 alone: SIP.js 0.21 reads only the first challenge and aborts on any other algorithm.
      algorithm: 'MD5',
      qop: ['auth'],
      stale,
    });
    return { status: kind.status, phrase: kind.phrase, headers: { [kind.challengeHeader]: challenge } };
  }
}

/**
 * Our realm's Digest credentials among the request's Authorization or
 * Proxy-Authorization lines (each line is one credential: these headers are
 * never comma-joined, RFC 3261 §7.3.1). Other schemes are left alone; an
 * unparsable Digest line is an error since we cannot tell whose it is.
 */
function ourCredentials(req: SipRequest, header: string, realm: string): Result<DigestCredentials | undefined, string> {
  let mine: DigestCredentials | undefined;
  for (const line of req.headers.getAll(header)) {
    if (authScheme(line) !== 'digest') continue;
    const parsed = parseDigestCredentials(line);
    if (!parsed.ok) return fail(parsed.error);
    if (parsed.value.realm === realm) mine ??= parsed.value;
  }
  return ok(mine);
}

/** Fixed-size key of a source IP + user name (the name is the client's to choose, and could be kilobytes long). */
function failurePair(address: string, username: string): string {
  return createHash('sha256').update(address).update('\0').update(username).digest('base64');
}

/** A user name as it may appear in a log line: a hostile one is cut short. */
function loggable(username: string): string {
  return username.length <= 64 ? username : `${username.slice(0, 64)}...`;
}

/** Remove our realm's credentials, keep other realms' for the proxies behind us (like Kamailio's consume_credentials()). */
function consumeCredentials(req: SipRequest, header: string, realm: string): void {
  const lines = req.headers.getAll(header);
  const kept = lines.filter((line) => {
    const parsed = authScheme(line) === 'digest' ? parseDigestCredentials(line) : undefined;
    return !(parsed?.ok === true && parsed.value.realm === realm);
  });
  if (kept.length === lines.length) return;
  req.headers.remove(header);
  for (const line of kept) req.headers.append(header, line);
}

const NONCE_TIME_BYTES = 8;
const NONCE_SALT_BYTES = 8;
const NONCE_MAC_BYTES = 16;
const NONCE_BYTES = NONCE_TIME_BYTES + NONCE_SALT_BYTES + NONCE_MAC_BYTES;
const NONCE_TEXT = /^[A-Za-z0-9_-]{43}$/;

/**
 * Stateless nonces: base64url(issue time ms ‖ salt ‖ HMAC(key, time ‖ salt ‖ realm)[0..16]).
 * The salt's first byte is the issuing worker (0 outside a supervisor), the
 * other seven are random: they keep two challenges of the same millisecond
 * apart, so their nc counts never collide. The key is HMAC(secret, 'digest-nonce'): shared by
 * nodes that share flowTokens.secret, and useless for anything else.
 */
export class DigestNonces {
  readonly #key: Buffer;
  readonly #issuer: number;

  constructor(secret: string | Buffer, issuer = 0) {
    if (!Number.isInteger(issuer) || issuer < 0 || issuer > 255) throw new RangeError(`nonce issuer must be 0..255 (got ${issuer})`);
    this.#key = createHmac('sha256', secret).update('digest-nonce').digest();
    this.#issuer = issuer;
  }

  /** A constant for the challenge's opaque parameter (clients must echo it; RFC 7616 §3.3). */
  get opaque(): string {
    return createHmac('sha256', this.#key).update('opaque').digest().subarray(0, 12).toString('base64url');
  }

  issue(realm: string, nowMs: number): string {
    const head = Buffer.alloc(NONCE_TIME_BYTES + NONCE_SALT_BYTES);
    head.writeBigUInt64BE(BigInt(Math.max(0, Math.floor(nowMs))));
    randomBytes(NONCE_SALT_BYTES).copy(head, NONCE_TIME_BYTES);
    head[NONCE_TIME_BYTES] = this.#issuer;
    return Buffer.concat([head, this.#mac(head, realm)]).toString('base64url');
  }

  /** When we issued this nonce for this realm (ms); undefined when it is not one of ours. */
  issuedAt(nonce: string, realm: string): number | undefined {
    if (!NONCE_TEXT.test(nonce)) return undefined;
    const raw = Buffer.from(nonce, 'base64url');
    if (raw.length !== NONCE_BYTES) return undefined;
    const head = raw.subarray(0, NONCE_TIME_BYTES + NONCE_SALT_BYTES);
    if (!timingSafeEqual(raw.subarray(head.length), this.#mac(head, realm))) return undefined;
    return Number(raw.readBigUInt64BE(0));
  }

  /** Whether this issuer (worker) issued the nonce; only meaningful for a nonce issuedAt() accepted. */
  isOwn(nonce: string): boolean {
    return Buffer.from(nonce, 'base64url')[NONCE_TIME_BYTES] === this.#issuer;
  }

  #mac(head: Buffer, realm: string): Buffer {
    return createHmac('sha256', this.#key).update(head).update(realm, 'utf8').digest().subarray(0, NONCE_MAC_BYTES);
  }
}

/** Width of the window of nc values below the highest seen that may still arrive late (UDP reorders). */
const NC_WINDOW = 32;

interface NonceUse {
  issuedAt: number;
  expiresAt: number;
  highest: number;
  /** Bit i set = nc (highest - i) used. */
  seen: number;
}

/**
 * nc values used per nonce, so a captured request cannot be replayed while
 * its nonce is fresh (RFC 7616 §3.4). Bounded: when full, the oldest entry
 * goes, and every nonce issued no later than an evicted one counts as used
 * up (its client gets stale=true and a new nonce) rather than replayable.
 */
class NonceCounts {
  readonly #uses = new Map<string, NonceUse>();
  readonly #max: number;
  /** Issue time of the newest nonce whose record was evicted. */
  #evictedUpTo = -Infinity;

  constructor(max: number) {
    this.#max = max;
  }

  /** True when `nc` had not been used with this nonce (and is now recorded). */
  use(nonce: string, issuedAt: number, nc: number, expiresAt: number, now: number): boolean {
    const entry = this.#uses.get(nonce);
    if (entry === undefined) {
      if (issuedAt <= this.#evictedUpTo) return false;
      this.#sweep(now);
      this.#uses.set(nonce, { issuedAt, expiresAt, highest: nc, seen: 1 });
      return true;
    }
    if (nc > entry.highest) {
      const shift = nc - entry.highest;
      entry.seen = (shift >= NC_WINDOW ? 0 : entry.seen << shift) | 1;
      entry.highest = nc;
      return true;
    }
    const back = entry.highest - nc;
    if (back >= NC_WINDOW) return false;
    const bit = 1 << back;
    if ((entry.seen & bit) !== 0) return false;
    entry.seen |= bit;
    return true;
  }

  #sweep(now: number): void {
    // Insertion order is first-use order, close to expiry order: expired entries gather at the front.
    for (const [nonce, use] of this.#uses) {
      if (use.expiresAt > now && this.#uses.size < this.#max) break;
      if (use.expiresAt > now) this.#evictedUpTo = Math.max(this.#evictedUpTo, use.issuedAt);
      this.#uses.delete(nonce);
    }
  }
}

interface Failures {
  count: number;
  expiresAt: number;
}

/**
 * Consecutive wrong answers per source IP + user, forgotten one window
 * (the nonce lifetime) after the first. Bounded: when full, the oldest pair goes.
 */
class FailureCounts {
  readonly #byPair = new Map<string, Failures>();
  readonly #max: number;
  readonly #windowMs: number;

  constructor(max: number, windowMs: number) {
    this.#max = max;
    this.#windowMs = windowMs;
  }

  count(pair: string, now: number): number {
    const f = this.#byPair.get(pair);
    if (f === undefined) return 0;
    if (f.expiresAt <= now) {
      this.#byPair.delete(pair);
      return 0;
    }
    return f.count;
  }

  /** One more failure; returns the count within the current window. */
  add(pair: string, now: number): number {
    const f = this.#byPair.get(pair);
    if (f !== undefined && f.expiresAt > now) return ++f.count;
    this.#byPair.delete(pair);
    // Entries are added in time order with equal windows: the expired ones are at the front.
    for (const [key, old] of this.#byPair) {
      if (old.expiresAt > now && this.#byPair.size < this.#max) break;
      this.#byPair.delete(key);
    }
    this.#byPair.set(pair, { count: 1, expiresAt: now + this.#windowMs });
    return 1;
  }

  clear(pair: string): void {
    this.#byPair.delete(pair);
  }
}
