/**
 * GET /api/engines under a supervisor (`workers: N`): every worker has its
 * own ng clients to the rtpengine pool, or its own embedded relay on its
 * slice of the media port range, so what one engine entry counts (sessions,
 * requests, port pairs) is one worker's share. The gateway's figure is the
 * sum over the workers; health and the rest stay as the first view has them.
 */

/** Per-worker amounts in an engine entry (media/rtpengine/engine.ts EngineSnapshot, media/embedded EmbeddedSnapshot). */
export const SUMMED_ENGINE_FIELDS = ['sessions', 'maxSessions', 'portPairsFree', 'portPairsTotal', 'legsOpen', 'requests', 'errors', 'timeouts'] as const;

/**
 * `merged` (the first worker's view) with each entry of its `engines` list
 * given the sum of the SUMMED_ENGINE_FIELDS over every worker's entry for the
 * same engine (same `url`, else same `name`). Anything else is left as it is.
 */
export function withEngineTotals(merged: unknown, views: readonly unknown[]): unknown {
  if (!isRecord(merged) || !Array.isArray(merged.engines)) return merged;
  const lists = views.map((v) => (isRecord(v) && Array.isArray(v.engines) ? (v.engines as unknown[]) : []));
  const engines = merged.engines.map((entry: unknown) => {
    if (!isRecord(entry)) return entry;
    const id = engineId(entry);
    if (id === undefined) return entry;
    const same = lists.map((list) => list.find((e) => isRecord(e) && engineId(e) === id)).filter(isRecord);
    const out: Record<string, unknown> = { ...entry };
    for (const field of SUMMED_ENGINE_FIELDS) {
      if (typeof entry[field] !== 'number') continue;
      out[field] = same.reduce((sum, e) => sum + (typeof e[field] === 'number' && Number.isFinite(e[field]) ? e[field] : 0), 0);
    }
    return out;
  });
  return { ...merged, engines };
}

function engineId(e: Record<string, unknown>): string | undefined {
  if (typeof e.url === 'string') return `url ${e.url}`;
  if (typeof e.name === 'string') return `name ${e.name}`;
  return undefined;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
