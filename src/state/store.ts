/**
 * The state store: everything that must outlive one message or be seen by
 * another SBC node (flow bindings, topology records, engine stickiness,
 * counters). Every key has a TTL; nothing is stored forever.
 * Two implementations: memory (one node) and Redis (a cluster).
 */
export interface StateStore {
  get(key: string): Promise<string | undefined>;
  /** ttlSeconds > 0 is required: the store never keeps a key forever. */
  set(key: string, value: string, ttlSeconds: number): Promise<void>;
  /** Set only when absent; resolves true when this call set it. */
  setIfAbsent(key: string, value: string, ttlSeconds: number): Promise<boolean>;
  delete(key: string): Promise<boolean>;
  /** Refresh a key's TTL; false when the key does not exist. */
  expire(key: string, ttlSeconds: number): Promise<boolean>;

  hget(key: string, field: string): Promise<string | undefined>;
  hgetall(key: string): Promise<Record<string, string>>;
  /** Sets fields and (re)sets the TTL of the whole hash. */
  hset(key: string, fields: Record<string, string>, ttlSeconds: number): Promise<void>;
  hdel(key: string, ...fields: string[]): Promise<number>;

  /** Atomic increment; the TTL is set when the counter is created and kept after. */
  incr(key: string, by: number, ttlSeconds: number): Promise<number>;

  publish(channel: string, message: string): Promise<void>;
  /** Returns an unsubscribe function. */
  subscribe(channel: string, onMessage: (message: string) => void): Promise<() => Promise<void>>;

  /** Idempotent; pending operations reject after close. */
  close(): Promise<void>;
}
