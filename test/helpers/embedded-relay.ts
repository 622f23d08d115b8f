/**
 * What the tests read about the embedded media relay from the admin API, as
 * an operator would: GET /api/engines lists it with its session count.
 */

export interface RelayHolding {
  /** Sessions the relay holds now; undefined when /api/engines does not list it. */
  sessions: number | undefined;
  /** The whole answer, for a failure message. */
  raw: unknown;
}

/** GET /api/engines and the embedded relay's sessions in it. */
export async function relayHolding(adminUrl: string): Promise<RelayHolding> {
  const res = await fetch(`${adminUrl}/api/engines`);
  if (res.status !== 200) throw new Error(`GET /api/engines: ${res.status}`);
  const raw = (await res.json()) as unknown;
  return { sessions: embeddedSessions(raw), raw };
}

/**
 * The entry whose kind, name, type or url says "embedded", its `sessions`
 * (a number, or an object with `active`/`count`).
 */
export function embeddedSessions(body: unknown): number | undefined {
  const list = Array.isArray(body) ? body : isRecord(body) && Array.isArray(body['engines']) ? body['engines'] : [];
  for (const e of list as unknown[]) {
    if (!isRecord(e)) continue;
    const label = ['kind', 'name', 'url', 'type'].map((k) => String(e[k] ?? '')).join(' ');
    if (!/embedded/i.test(label)) continue;
    const s = e['sessions'];
    if (typeof s === 'number') return s;
    if (isRecord(s)) {
      const n = s['active'] ?? s['count'];
      if (typeof n === 'number') return n;
    }
  }
  return undefined;
}

/** What /api/engines says the embedded relay holds and has free (with workers, summed over them). */
export interface RelayCounts {
  sessions: number;
  legsOpen: number;
  portPairsFree: number;
  portPairsTotal: number;
}

/** GET /api/engines: the embedded relay's entry; fails when it is not listed with these counts. */
export async function relayCounts(adminUrl: string): Promise<RelayCounts> {
  const { raw } = await relayHolding(adminUrl);
  const list = isRecord(raw) && Array.isArray(raw['engines']) ? (raw['engines'] as unknown[]) : [];
  const e = list.find((x) => isRecord(x) && x['name'] === 'embedded');
  const n = (k: string): number => {
    const v = isRecord(e) ? e[k] : undefined;
    if (typeof v !== 'number') throw new Error(`GET /api/engines lists no embedded relay with ${k}: ${JSON.stringify(raw)}`);
    return v;
  };
  return { sessions: n('sessions'), legsOpen: n('legsOpen'), portPairsFree: n('portPairsFree'), portPairsTotal: n('portPairsTotal') };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
