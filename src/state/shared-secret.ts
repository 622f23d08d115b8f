/**
 * One secret for every node and worker that share a state store: flow
 * tokens, digest nonces and topology keys are HMACs under it, so a token
 * one worker minted is accepted by every other. The first process to start
 * creates it (setIfAbsent), the others read it; each keeps it in memory and
 * puts it back if the store lost it (a flushed Redis), so a later node does
 * not mint a second one.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from '../log/logger.js';
import { KEY_FAMILY, stateKey } from './keys.js';
import type { StateStore } from './store.js';

/** Safe defaults, in one place. */
export const SHARED_SECRET_DEFAULTS = {
  /** TTL of the stored secret; refreshed far more often than it runs out. */
  ttlSeconds: 30 * 24 * 3600,
  refreshIntervalMs: 6 * 3600 * 1000,
  /** 32 random bytes as hex. */
  minLength: 32,
} as const;

export interface SharedSecret {
  readonly value: string;
  /** Stop refreshing the stored secret. Idempotent. */
  stop(): void;
}

/**
 * The secret named `name` (`<prefix>secret:<name>`) in `store`: the stored one,
 * or a new random one stored now.
 * @throws when the store fails (the caller cannot start without a secret the others share)
 */
export async function sharedSecret(store: StateStore, prefix: string, name: string, logger: Logger): Promise<SharedSecret> {
  const key = stateKey(prefix, KEY_FAMILY.secret, name);
  const { ttlSeconds, refreshIntervalMs, minLength } = SHARED_SECRET_DEFAULTS;
  await store.setIfAbsent(key, randomBytes(32).toString('hex'), ttlSeconds);
  let value = await store.get(key);
  if (value === undefined || value.length < minLength) {
    // Not one we wrote (or evicted in between): write ours over it, the others will read it.
    value = randomBytes(32).toString('hex');
    await store.set(key, value, ttlSeconds);
    logger.warn({ key }, 'shared secret in the state store was missing or too short: replaced');
  }
  const secret = value;
  const timer = setInterval(() => {
    store.setIfAbsent(key, secret, ttlSeconds)
      .then((restored) => {
        if (restored) logger.warn({ key }, 'shared secret was gone from the state store: put back');
        return store.expire(key, ttlSeconds);
      })
      .catch((err: unknown) => logger.warn({ err, key }, 'shared secret not refreshed'));
  }, refreshIntervalMs);
  timer.unref();
  return { value: secret, stop: () => clearInterval(timer) };
}
