/**
 * One face for the three ways to reach Redis: a standalone server from
 * `state.redis.url`, a master found through Sentinel, or a Cluster. The store
 * asks for clients and never needs to know which kind it got.
 */
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { parseHostPort, type HostPort } from '../config/net-formats.js';
import { StateStoreUnavailableError } from './errors.js';

/** The `state.redis` section, as far as connecting goes. */
export interface RedisConnectionConfig {
  /** `redis://` or `rediss://`; its credentials and database also apply to sentinels and cluster. */
  url: string;
  /** Find the master through these sentinels instead of the url's host. */
  sentinels?: { name: string; nodes: readonly string[] };
  /** Seed nodes of a Redis Cluster, instead of the url's host. */
  cluster?: { nodes: readonly string[] };
}

/** How one connection behaves when Redis is slow or gone. */
export interface RedisClientTuning {
  /** A reply not in by then fails the command. */
  commandTimeoutMs: number;
  /** A TCP connect not done by then counts as a failed attempt. */
  connectTimeoutMs: number;
  /** Longest pause between reconnect attempts; they go on until close. */
  reconnectMaxDelayMs: number;
  /** Shown by CLIENT LIST, so operators can tell our connections apart. */
  connectionName: string;
}

export type RedisClient = Redis | Cluster;
export type RedisMode = 'standalone' | 'sentinel' | 'cluster';

interface UrlParts {
  host: string;
  port: number;
  username: string | undefined;
  password: string | undefined;
  db: number;
  tls: boolean;
}

export class RedisConnector {
  readonly mode: RedisMode;
  /** Where the store connects, without the password: safe for logs and error messages. */
  readonly location: string;
  readonly #url: UrlParts;
  readonly #sentinels: { name: string; nodes: HostPort[] } | undefined;
  readonly #clusterNodes: HostPort[] | undefined;

  /**
   * @throws StateStoreUnavailableError naming the key when the url or a node address cannot be used
   */
  constructor(config: RedisConnectionConfig) {
    this.#url = parseRedisUrl(config.url);
    const shown = urlWithoutPassword(config.url);
    if (config.cluster !== undefined) {
      if (this.#url.db !== 0) throw new StateStoreUnavailableError(`state.redis.url selects database ${this.#url.db}, but Redis Cluster has only database 0: drop the /${this.#url.db}`);
      this.mode = 'cluster';
      this.#clusterNodes = config.cluster.nodes.map((n) => nodeAddress('state.redis.cluster.nodes', n));
      this.location = `cluster ${config.cluster.nodes.join(', ')}`;
    } else if (config.sentinels !== undefined) {
      this.mode = 'sentinel';
      this.#sentinels = { name: config.sentinels.name, nodes: config.sentinels.nodes.map((n) => nodeAddress('state.redis.sentinels.nodes', n)) };
      this.location = `master "${config.sentinels.name}" via sentinels ${config.sentinels.nodes.join(', ')}`;
    } else {
      this.mode = 'standalone';
      this.location = shown;
    }
  }

  /**
   * A new client that starts connecting at once. It never queues a command
   * while disconnected and fails commands that were in flight when the
   * connection dropped, so no caller waits longer than `commandTimeoutMs`
   * on a Redis that is gone; it keeps reconnecting in the background.
   */
  createClient(tuning: RedisClientTuning): RedisClient {
    const retry = (attempt: number): number => Math.min(attempt * 100, tuning.reconnectMaxDelayMs);
    const perConnection: RedisOptions = {
      username: this.#url.username,
      password: this.#url.password,
      connectTimeout: tuning.connectTimeoutMs,
      commandTimeout: tuning.commandTimeoutMs,
      // Fail what was in flight when the connection dropped instead of resending it later.
      maxRetriesPerRequest: 0,
      connectionName: tuning.connectionName,
      disableClientInfo: true,
      // Node's TLS defaults the SNI name to each host it connects to.
      ...(this.#url.tls ? { tls: {} } : {}),
    };
    switch (this.mode) {
      case 'cluster': {
        const options: ClusterOptions = {
          enableOfflineQueue: false,
          clusterRetryStrategy: retry,
          redisOptions: perConnection,
        };
        return new Cluster(this.#clusterNodes!, options);
      }
      case 'sentinel':
        return new Redis({
          ...perConnection,
          sentinels: this.#sentinels!.nodes,
          name: this.#sentinels!.name,
          db: this.#url.db,
          enableOfflineQueue: false,
          retryStrategy: retry,
          sentinelRetryStrategy: retry,
        });
      case 'standalone':
        return new Redis({
          ...perConnection,
          host: this.#url.host,
          port: this.#url.port,
          db: this.#url.db,
          enableOfflineQueue: false,
          retryStrategy: retry,
        });
    }
  }
}

/**
 * Resolves once `client` is ready; rejects after `timeoutMs` (or when the
 * client gives up) with the last connection error seen.
 */
export function untilReady(client: RedisClient, timeoutMs: number): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    let lastError: string | undefined;
    const onError = (err: Error): void => {
      lastError = err.message;
    };
    const onReady = (): void => {
      cleanUp();
      resolve();
    };
    const onEnd = (): void => {
      cleanUp();
      reject(new Error(lastError ?? 'connection closed'));
    };
    const timer = setTimeout(() => {
      cleanUp();
      reject(new Error(`not ready within ${timeoutMs} ms${lastError !== undefined ? `: ${lastError}` : ''}`));
    }, timeoutMs);
    function cleanUp(): void {
      clearTimeout(timer);
      client.off('error', onError);
      client.off('ready', onReady);
      client.off('end', onEnd);
    }
    client.on('error', onError);
    client.once('ready', onReady);
    client.once('end', onEnd);
  });
}

/**
 * Close `client` politely (QUIT after what is in flight), or at once when
 * Redis does not answer within `timeoutMs`.
 */
export async function closeClient(client: RedisClient, timeoutMs: number): Promise<void> {
  if (client.status === 'end') return;
  let timer: NodeJS.Timeout | undefined;
  try {
    if (client.status === 'ready') {
      await Promise.race([
        client.quit().catch(() => undefined),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, timeoutMs);
        }),
      ]);
    }
  } finally {
    clearTimeout(timer);
    // Also stops a reconnect loop in progress.
    client.disconnect();
  }
}

function parseRedisUrl(text: string): UrlParts {
  const url = URL.canParse(text) ? new URL(text) : undefined;
  if (url === undefined || (url.protocol !== 'redis:' && url.protocol !== 'rediss:') || url.hostname === '') {
    throw new StateStoreUnavailableError(`state.redis.url: ${urlWithoutPassword(text)} is not a redis:// or rediss:// URL`);
  }
  const dbText = url.pathname.replace(/^\//, '');
  const db = dbText === '' ? 0 : Number(dbText);
  if (!Number.isSafeInteger(db) || db < 0) throw new StateStoreUnavailableError(`state.redis.url: "/${dbText}" is not a database number`);
  return {
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: url.port === '' ? 6379 : Number(url.port),
    username: url.username === '' ? undefined : decodeURIComponent(url.username),
    password: url.password === '' ? undefined : decodeURIComponent(url.password),
    db,
    tls: url.protocol === 'rediss:',
  };
}

/** `redis://user:secret@host/0` → `redis://user@host/0`; text that is no URL comes back unchanged only when it has no `@`. */
function urlWithoutPassword(text: string): string {
  if (!URL.canParse(text)) return text.includes('@') ? '(unparsable URL)' : text;
  const url = new URL(text);
  url.password = '';
  return url.toString();
}

function nodeAddress(key: string, text: string): HostPort {
  const address = parseHostPort(text);
  if (address === undefined) throw new StateStoreUnavailableError(`${key}: "${text}" is not host:port`);
  return address;
}
