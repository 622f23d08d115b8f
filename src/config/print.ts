import { stringify } from 'yaml';
import type { Config } from './schema.js';

export const REDACTED = '[redacted]';

/**
 * The effective configuration as YAML, for `check-config` and start-up
 * diagnostics. Secrets that are set show as "[redacted]"; an empty one stays
 * empty so the reader can see it is unset.
 */
export function printConfig(config: Config): string {
  return stringify(redactConfig(config), { lineWidth: 0 });
}

/** A copy of `config` safe to show or log. */
export function redactConfig(config: Config): Config {
  const copy = structuredClone(config);
  if (copy.admin.token !== '') copy.admin.token = REDACTED;
  if (copy.flowTokens.secret !== '') copy.flowTokens.secret = REDACTED;
  if (copy.capture.hep.password !== '') copy.capture.hep.password = REDACTED;
  if (copy.security.websocket.token.secret !== '') copy.security.websocket.token.secret = REDACTED;
  copy.state.redis.url = redactUrlPassword(copy.state.redis.url);
  return copy;
}

/** `redis://user:secret@host` → `redis://user:[redacted]@host`. */
function redactUrlPassword(text: string): string {
  if (!URL.canParse(text)) return text;
  const url = new URL(text);
  if (url.password === '') return text;
  const at = text.indexOf('@');
  const schemeEnd = text.indexOf('//') + 2;
  const userinfo = text.slice(schemeEnd, at);
  const colon = userinfo.indexOf(':');
  return `${text.slice(0, schemeEnd)}${userinfo.slice(0, colon + 1)}${REDACTED}${text.slice(at)}`;
}
