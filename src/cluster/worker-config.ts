import type { Config } from '../config/index.js';
import { parsePortRange } from '../config/schema.js';

/**
 * What one worker of `count` runs with: the configuration, with the embedded
 * media port range cut into `count` slices of even length and worker `id`
 * given its own (two workers must not bind the same media ports).
 */
export function workerConfig(config: Config, id: number, count: number): Config {
  const range = parsePortRange(config.media.embedded.ports);
  if (range === undefined || count <= 1) return config;
  const pairs = Math.floor((range.max - range.min + 1) / 2);
  const perWorker = Math.floor(pairs / count);
  // Too few ports to share: every worker keeps the whole range (and binds what is free).
  if (perWorker < 1) return config;
  const min = range.min + (id - 1) * perWorker * 2;
  const max = min + perWorker * 2 - 1;
  return { ...config, media: { ...config.media, embedded: { ...config.media.embedded, ports: `${min}-${max}` } } };
}
