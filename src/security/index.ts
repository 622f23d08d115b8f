/** Security at the edge: request screening by source (rate limits, bans, scanner blocking). */
export { SourceScreen, SCREEN_LIMITS } from './request-screen.js';
export type { ScreenLimits, ScreenSettings, SourceScreenOptions } from './request-screen.js';
export { SourceRateLimiter } from './rate-limiter.js';
export type { SourceRateLimiterOptions } from './rate-limiter.js';
export { BanList } from './ban-list.js';
export type { BanListOptions } from './ban-list.js';
export { UserAgentBlocklist, USER_AGENT_INSPECTED_CHARS } from './scanner-block.js';
export { GenerationalMap } from './generational-map.js';
export { DigestAuthenticator, DigestNonces, DIGEST_AUTH_DEFAULTS } from './digest-auth.js';
export type { DigestAuthOptions } from './digest-auth.js';
export { UsersFile, loadUsersFile } from './users-file.js';
export type { DigestUsers } from './users-file.js';
