/**
 * Read-only navigation of the config schema: what type lives at a key path.
 * Used to coerce string overrides (env, --set) and to suggest key names.
 */
import type { z } from 'zod';

type AnySchema = z.core.$ZodType;

/** The shape of a schema node once defaults, optionals and transforms are looked through. */
export type SchemaNode =
  | { kind: 'object'; keys: readonly string[]; child(key: string): AnySchema }
  | { kind: 'record'; value: AnySchema }
  | { kind: 'array'; element: AnySchema }
  | { kind: 'number' }
  | { kind: 'boolean' }
  | { kind: 'string' }
  | { kind: 'enum'; values: readonly (string | number)[] }
  | { kind: 'other' };

/** Strip wrappers (default, prefault, optional, nullable, pipe input side) down to the node that takes input. */
export function describeNode(schema: AnySchema): SchemaNode {
  let current: AnySchema = schema;
  for (let depth = 0; depth < 16; depth++) {
    const def = current._zod.def as unknown as Record<string, unknown> & { type: string };
    switch (def.type) {
      case 'default':
      case 'prefault':
      case 'optional':
      case 'nullable':
      case 'readonly':
      case 'catch':
        current = def['innerType'] as AnySchema;
        continue;
      case 'pipe':
        current = def['in'] as AnySchema;
        continue;
      case 'object': {
        const shape = def['shape'] as Record<string, AnySchema>;
        return { kind: 'object', keys: Object.keys(shape), child: (key) => shape[key] as AnySchema };
      }
      case 'record':
        return { kind: 'record', value: def['valueType'] as AnySchema };
      case 'array':
        return { kind: 'array', element: def['element'] as AnySchema };
      case 'number':
        return { kind: 'number' };
      case 'boolean':
        return { kind: 'boolean' };
      case 'string':
        return { kind: 'string' };
      case 'enum':
        return { kind: 'enum', values: Object.values(def['entries'] as Record<string, string | number>) };
      case 'literal':
        return { kind: 'enum', values: def['values'] as (string | number)[] };
      default:
        return { kind: 'other' };
    }
  }
  return { kind: 'other' };
}

/** The schema at `path` (object keys matched exactly), or undefined when the path leaves the schema. */
export function schemaAt(root: AnySchema, path: readonly PropertyKey[]): AnySchema | undefined {
  let current: AnySchema = root;
  for (const segment of path) {
    const node = describeNode(current);
    if (node.kind === 'object' && typeof segment === 'string' && node.keys.includes(segment)) current = node.child(segment);
    else if (node.kind === 'record') current = node.value;
    else if (node.kind === 'array' && typeof segment === 'number') current = node.element;
    else return undefined;
  }
  return current;
}

/** The known key closest to a misspelt one, when it is close enough to be a likely typo. */
export function closestKey(wrong: string, known: readonly string[]): string | undefined {
  const target = wrong.toLowerCase();
  let best: string | undefined;
  // Short names get one edit of slack, longer ones about a third of their length.
  let bestDistance = (target.length <= 3 ? 1 : Math.max(2, Math.floor(target.length / 3))) + 1;
  for (const key of known) {
    const d = editDistance(target, key.toLowerCase());
    if (d < bestDistance) {
      best = key;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      row.push(Math.min((previous[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, substitution));
    }
    previous = row;
  }
  return previous[b.length] ?? 0;
}
