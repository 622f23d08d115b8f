/**
 * The few figures the overload bench reads from the gateway's admin
 * /metrics (Prometheus text format): pure parsing, then sums by name and
 * label. Metrics that do not exist (yet) read as undefined, so the bench
 * runs against any src/ in the tree.
 */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parse Prometheus text exposition: one sample per non-comment line. */
export function parsePromText(text: string): Sample[] {
  const out: Sample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const brace = line.indexOf('{');
    const space = line.lastIndexOf(' ');
    if (space <= 0) continue;
    let name: string;
    const labels: Record<string, string> = {};
    let rest: string;
    if (brace >= 0 && brace < space) {
      name = line.slice(0, brace);
      const close = line.lastIndexOf('}');
      if (close < brace) continue;
      for (const m of line.slice(brace + 1, close).matchAll(/([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
        labels[m[1] ?? ''] = (m[2] ?? '').replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
      }
      rest = line.slice(close + 1).trim();
    } else {
      name = line.slice(0, line.indexOf(' '));
      rest = line.slice(line.indexOf(' ') + 1).trim();
    }
    // "value [timestamp]"
    const value = Number(rest.split(' ')[0]);
    if (name === '' || Number.isNaN(value)) continue;
    out.push({ name, labels, value });
  }
  return out;
}

/** Sum of the samples named `name` whose labels include `match`; undefined when none exists. */
export function sumOf(samples: readonly Sample[], name: string, match: Record<string, string> = {}): number | undefined {
  let sum: number | undefined;
  for (const s of samples) {
    if (s.name !== name) continue;
    if (!Object.entries(match).every(([k, v]) => s.labels[k] === v)) continue;
    sum = (sum ?? 0) + s.value;
  }
  return sum;
}

/** Smallest and largest value of the samples named `name`; undefined when none exists. */
export function rangeOf(samples: readonly Sample[], name: string): { min: number; max: number } | undefined {
  let r: { min: number; max: number } | undefined;
  for (const s of samples) {
    if (s.name !== name) continue;
    r = r === undefined ? { min: s.value, max: s.value } : { min: Math.min(r.min, s.value), max: Math.max(r.max, s.value) };
  }
  return r;
}

/** `name`'s samples as label value of `label` → value (e.g. shed counts by reason). */
export function byLabel(samples: readonly Sample[], name: string, label: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of samples) {
    if (s.name !== name) continue;
    const key = s.labels[label] ?? '';
    out[key] = (out[key] ?? 0) + s.value;
  }
  return out;
}
