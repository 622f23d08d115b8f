/**
 * The store operations Redis has no single command for, as Lua scripts: each
 * runs atomically on the server, in one round trip, and names one key (so
 * a Cluster runs it on the node that owns that key). ioredis sends them by SHA and falls back
 * to the source when the server does not have them cached yet.
 */
import type { RedisClient } from './redis-connector.js';

/** Marker of the error the counter script raises instead of leaving the safe-integer range. */
export const COUNTER_OVERFLOW = 'SBC_COUNTER_OVERFLOW';

/**
 * KEYS[1] the hash; ARGV[1] TTL in ms; ARGV[2..] field, value, field, value…
 * Fields and TTL in one step, so no reader ever sees the hash without its TTL.
 * Without fields, only a live hash has its TTL refreshed (a hash never exists
 * empty), and a string still raises WRONGTYPE. HSET goes in chunks because a
 * Lua call takes a bounded number of arguments.
 */
const HSET_WITH_TTL = `
if #ARGV == 1 then
  if redis.call('HLEN', KEYS[1]) == 0 then return 0 end
else
  for i = 2, #ARGV, 1000 do
    redis.call('HSET', KEYS[1], unpack(ARGV, i, math.min(i + 999, #ARGV)))
  end
end
return redis.call('PEXPIRE', KEYS[1], ARGV[1])
`;

/**
 * KEYS[1] the counter; ARGV[1] the step; ARGV[2] TTL in ms, set only when this
 * call creates the counter (a rate window must end on time however busy it
 * is). A result outside ±(2^53 − 1) is undone: JavaScript could not hold it.
 */
const INCR_WITH_TTL = `
redis.call('SET', KEYS[1], '0', 'PX', ARGV[2], 'NX')
local n = redis.call('INCRBY', KEYS[1], ARGV[1])
if n > 9007199254740991 or n < -9007199254740991 then
  redis.call('DECRBY', KEYS[1], ARGV[1])
  return redis.error_reply('${COUNTER_OVERFLOW} counter would leave the safe integer range')
end
return n
`;

/**
 * KEYS[1] the channel; ARGV[1] the message. PUBLISH takes no key, so a
 * Cluster client would send each publish to any node, and two messages
 * entering the cluster at different nodes can reach a subscriber in either
 * order. Declared as a key, the channel sends every publish to its slot's
 * node, whose cluster bus link to each other node keeps them in order.
 */
const PUBLISH_IN_ORDER = `
return redis.call('PUBLISH', KEYS[1], ARGV[1])
`;

export interface StoreScripts {
  hsetWithTtl(key: string, ttlMs: number, ...fieldsAndValues: string[]): Promise<number>;
  incrWithTtl(key: string, by: number, ttlMs: number): Promise<number>;
  publishInOrder(channel: string, message: string): Promise<number>;
}

/** Teach `client` the store's scripts; the same client, typed with them. */
export function withStoreScripts(client: RedisClient): RedisClient & StoreScripts {
  client.defineCommand('hsetWithTtl', { numberOfKeys: 1, lua: HSET_WITH_TTL });
  client.defineCommand('incrWithTtl', { numberOfKeys: 1, lua: INCR_WITH_TTL });
  client.defineCommand('publishInOrder', { numberOfKeys: 1, lua: PUBLISH_IN_ORDER });
  return client as RedisClient & StoreScripts;
}
