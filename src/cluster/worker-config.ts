import type { Config } from '../config/index.js';
import { parsePortRange } from '../config/schema.js';

/**
 * What one worker of `count` runs with: the configuration, with the embedded
 * media port range cut into `count` slices of even length and worker `id`
 * given its own (two workers must not bind the same media ports), and
 * `media.embedded.maxSessions` shared out the same way (each worker its
 * part, rounded up), so the gateway as a whole holds about that many.
 */
export function workerConfig(config: Config, id: number, count: number): Config {
  if (count <= 1) return config;
  const embedded = config.media.embedded;
  const maxSessions = Math.max(1, Math.ceil(embedded.maxSessions / count));
  const range = parsePortRange(embedded.ports);
  const pairs = range === undefined ? 0 : Math.floor((range.max - range.min + 1) / 2);
  const perWorker = Math.floor(pairs / count);
  // Too few ports to share: every worker keeps the whole range (and binds what is free).
  if (range === undefined || perWorker < 1) return { ...config, media: { ...config.media, embedded: { ...embedded, maxSessions } } };
  const min = range.min + (id - 1) * perWorker * 2;
  const max = min + perWorker * 2 - 1;
  return { ...config, media: { ...config.media, embedded: { ...embedded, ports: `${min}-${max}`, maxSessions } } };
}
