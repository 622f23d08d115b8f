/**
 * Screening, digest authentication, call limits and the WebSocket handshake
 * check (Origin allowlist, token) as a part of the gateway. Started before
 * the transport: a bad users file stops start-up before any listener opens.
 * Reload: the users file first (a bad one refuses the reload and the users
 * in force stay), then the screen, call limits and handshake checks.
 */
import type { Config } from '../config/index.js';
import type { Authenticator } from '../core/request-checks.js';
import { SbcError } from '../errors.js';
import type { Part, PartContext, ReloadOutcome } from '../server/part.js';
import { configPath, started } from '../server/part.js';
import { CallLimits } from './call-limits.js';
import { DigestAuthenticator } from './digest-auth.js';
import { SourceScreen, type ScreenSettings } from './request-screen.js';
import { TokenUserBinding } from './token-user-binding.js';
import { SharedCallLimits } from './shared-call-limits.js';
import { SharedScreen } from './shared-screen.js';
import type { StateStore } from '../state/store.js';
import { gatewayWorkerCount, gatewayWorkerId } from '../cluster/worker-env.js';
import { loadUsersFile } from './users-file.js';
import { WsHandshakeGate } from './ws-handshake-gate.js';

/** security keys POST /api/reload applies without a restart. */
export const LIVE_SECURITY_KEYS = ['rateLimit', 'blockedUserAgents', 'maxCallsPerUser', 'websocket'] as const;

export interface SecurityPartOptions extends PartContext {
  /** Settled by the state part's start (shared between workers and nodes). */
  flowTokenSecret: () => string | Buffer;
  /** Where bans and rate counts are shared; undefined when nothing else sees the store (one node, memory). */
  sharedStore: () => StateStore | undefined;
}

export class SecurityPart implements Part {
  readonly name = 'security';
  readonly #o: SecurityPartOptions;
  #auth: DigestAuthenticator | undefined;
  #screen: SourceScreen | undefined;
  #callLimits: CallLimits | undefined;
  #handshake: WsHandshakeGate | undefined;
  #authenticator: TokenUserBinding | undefined;
  #sharedScreen: SharedScreen | undefined;
  #sharedCalls: SharedCallLimits | undefined;

  constructor(options: SecurityPartOptions) {
    this.#o = options;
  }

  /** security.auth.mode local: digest challenges of requests from outside. */
  get auth(): DigestAuthenticator | undefined {
    return this.#auth;
  }

  /**
   * What authenticates initial requests from outside: flows bound to a
   * handshake token's user are held to that user (no digest); others go to
   * digest authentication when security.auth.mode is local.
   */
  get authenticator(): Authenticator {
    return started(this.#authenticator);
  }

  /** The Origin allowlist and handshake token of WS/WSS upgrades (security.websocket). */
  get handshake(): WsHandshakeGate {
    return started(this.#handshake);
  }

  /** Rate limits, bans and scanner blocking for requests from outside. */
  get screen(): SourceScreen {
    return started(this.#screen);
  }

  get callLimits(): CallLimits {
    return started(this.#callLimits);
  }

  async start(): Promise<void> {
    const c = this.#o.config;
    if (c.security.auth.mode === 'local') this.#auth = await this.#digestAuth();
    this.#authenticator = new TokenUserBinding(this.#auth);
    // Built even when nothing is configured (it then passes every handshake), so a reload can turn checks on.
    this.#handshake = new WsHandshakeGate({ settings: c.security.websocket, logger: this.#o.logger.child({ part: 'security' }), metrics: this.#o.metrics });
    logWebSocketChecks(c, this.#o.logger);
    // Built even when the configuration turns everything off (it then passes every request), so a reload can turn it on.
    const logger = this.#o.logger.child({ part: 'security' });
    this.#screen = new SourceScreen({ ...screenSettings(c), logger });
    const store = this.#o.sharedStore();
    if (store !== undefined) {
      // Workers (and nodes) on one store are one gateway to an attacker.
      this.#sharedScreen = new SharedScreen({ store, prefix: c.state.redis.keyPrefix, screen: this.#screen, settings: screenSettings(c), peers: gatewayWorkerCount(), logger });
      await this.#sharedScreen.start();
    }
    // Always there (0 = unlimited tracks nothing), so a reload can set a limit.
    this.#callLimits = new CallLimits({ maxPerUser: c.security.maxCallsPerUser });
    if (store !== undefined) {
      this.#sharedCalls = new SharedCallLimits({ store, prefix: c.state.redis.keyPrefix, limits: this.#callLimits, logger });
      await this.#sharedCalls.start();
    }
  }

  async stop(): Promise<void> {
    await this.#sharedScreen?.close();
    await this.#sharedCalls?.close();
    this.#screen?.close();
  }

  async reload(next: Config): Promise<ReloadOutcome> {
    const users = await this.#reloadUsers(next);
    if (!users.ok) return users;
    this.#screen?.reconfigure(screenSettings(next));
    this.#sharedScreen?.reconfigure(screenSettings(next));
    this.#callLimits?.setMaxPerUser(next.security.maxCallsPerUser);
    this.#handshake?.reconfigure(next.security.websocket);
    return { ok: true, applied: [...LIVE_SECURITY_KEYS.map((key) => `security.${key}`), ...(users.applied ? ['security.auth.usersFile'] : [])] };
  }

  /** security.auth.mode local: digest challenges against the users file (a bad file throws SBC_ERR_CONFIG_KEY naming the line). */
  async #digestAuth(): Promise<DigestAuthenticator> {
    const a = this.#o.config.security.auth;
    const log = this.#o.logger;
    if (a.usersFile === undefined) throw new SbcError('SBC_ERR_CONFIG_KEY', 'security.auth.usersFile: required when security.auth.mode is local');
    const users = await loadUsersFile(configPath(a.usersFile));
    log.info({ usersFile: a.usersFile, users: users.size, realm: a.realm ?? '(request host)' }, 'digest authentication of requests from outside (security.auth.mode local)');
    const worker = gatewayWorkerId();
    return new DigestAuthenticator({ users, secret: this.#o.flowTokenSecret(), ...(worker !== undefined ? { issuer: worker } : {}), ...(a.realm !== undefined ? { realm: a.realm } : {}), logger: log.child({ part: 'auth' }) });
  }

  /** Re-read the users file when digest authentication stays on; applied false when there is none to re-read. */
  async #reloadUsers(next: Config): Promise<{ ok: true; applied: boolean } | { ok: false; error: string; key: string }> {
    const a = next.security.auth;
    if (this.#auth === undefined || a.mode !== 'local' || a.usersFile === undefined) return { ok: true, applied: false };
    try {
      const users = await loadUsersFile(configPath(a.usersFile));
      this.#auth.setUsers(users);
      this.#o.logger.info({ usersFile: a.usersFile, users: users.size }, 'users file re-read');
      return { ok: true, applied: true };
    } catch (err) {
      // The users in force stay as they were.
      return { ok: false, error: (err as Error).message, key: 'security.auth.usersFile' };
    }
  }
}

function logWebSocketChecks(config: Config, logger: SecurityPartOptions['logger']): void {
  const w = config.security.websocket;
  const t = w.token;
  const token = t.secret !== '' || t.publicKey !== undefined;
  if (w.allowedOrigins.length === 0 && !token) return;
  logger.info({
    allowedOrigins: w.allowedOrigins.length > 0 ? w.allowedOrigins : 'any',
    allowMissingOrigin: w.allowMissingOrigin,
    handshakeToken: token ? { key: t.publicKey !== undefined ? 'publicKey' : 'secret', param: t.param, userClaim: t.userClaim, audience: t.audience, issuer: t.issuer } : 'none',
  }, 'websocket handshake checks');
}

function screenSettings(config: Config): ScreenSettings {
  const s = config.security;
  return { requestsPerSecondPerIp: s.rateLimit.requestsPerSecondPerIp, burst: s.rateLimit.burst, banSeconds: s.rateLimit.banSeconds, blockedUserAgents: s.blockedUserAgents };
}
