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

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
