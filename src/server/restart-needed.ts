/** POST /api/reload: the top-level sections a re-read configuration changed that only a restart applies. */
import type { Config } from '../config/index.js';
import { LIVE_SECURITY_KEYS } from '../security/security-part.js';

/** Sections a reload applies whole (tls: the pair is re-read, its settings applied to new connections). */
const LIVE_SECTIONS = new Set(['backends', 'routes', 'capture', 'routing', 'callRecords', 'tls']);

export function restartNeeded(current: Config, next: Config): string[] {
  return Object.keys(next).filter((k) => !LIVE_SECTIONS.has(k) && JSON.stringify(withoutLiveKeys(next, k)) !== JSON.stringify(withoutLiveKeys(current, k)));
}

/** A top-level section as far as a restart is concerned: security without the keys a reload applies. */
function withoutLiveKeys(config: Config, key: string): unknown {
  const section = (config as Record<string, unknown>)[key];
  if (key !== 'security') return section;
  const rest: Record<string, unknown> = { ...config.security };
  for (const k of LIVE_SECURITY_KEYS) delete rest[k];
  return rest;
}
