/**
 * Overrides from the environment (`SBC_MEDIA__MODE=rtpengine`) and the command
 * line (`--set media.mode=rtpengine`). Both arrive as strings; each is placed
 * into the raw config at its key path and coerced to the type the schema
 * expects there, before the whole config is validated.
 */
import type { z } from 'zod';
import { fail, ok, type Result } from '../sip/result.js';
import { configError, formatKeyPath, type ConfigError } from './config-error.js';
import { closestKey, describeNode, type SchemaNode } from './schema-walk.js';

/** One override as written by the user. */
export interface Override {
  /** Path segments as written; matched to schema keys case-insensitively. */
  segments: string[];
  value: string;
  /** Where it came from, for error messages: `SBC_LOG__LEVEL` or `--set log.level`. */
  origin: string;
  /** Record keys (backend group names) not already present are lower-cased: env names are upper-case by convention. */
  lowerCaseNewNames: boolean;
}

const ENV_PREFIX = 'SBC_';

/** Every `SBC_*` variable as an override, shallow paths first so `SBC_LISTEN` can be refined by `SBC_LISTEN__0__PORT`. */
export function overridesFromEnv(env: NodeJS.ProcessEnv): Result<Override[], ConfigError> {
  const overrides: Override[] = [];
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || value === undefined) continue;
    const segments = name.slice(ENV_PREFIX.length).split('__');
    if (segments.some((s) => s === '')) return fail(configError(name, 'empty key segment; separate levels with "__", e.g. SBC_LOG__LEVEL'));
    overrides.push({ segments, value, origin: name, lowerCaseNewNames: true });
  }
  overrides.sort((a, b) => a.segments.length - b.segments.length || a.origin.localeCompare(b.origin));
  return ok(overrides);
}

/** Parse one `--set key.path=value` argument; `listen[0].port` and `listen.0.port` are the same key. */
export function parseSetArgument(argument: string): Result<Override, ConfigError> {
  const eq = argument.indexOf('=');
  if (eq <= 0) return fail(configError(argument, 'expected --set key.path=value'));
  const keyText = argument.slice(0, eq);
  const segments = keyText.replace(/\[(\d+)\]/g, '.$1').split('.');
  if (segments.some((s) => s === '')) return fail(configError(keyText, 'empty key segment'));
  return ok({ segments, value: argument.slice(eq + 1), origin: `--set ${keyText}`, lowerCaseNewNames: false });
}

/**
 * Write `override` into `raw` (the config as read from the file), creating
 * missing sections from `defaults` so that overriding one field of a default
 * list entry keeps the rest of the default list. Returns the resolved key path.
 */
export function applyOverride(
  raw: Record<string, unknown>,
  override: Override,
  root: z.core.$ZodType,
  defaults: unknown,
): Result<PropertyKey[], ConfigError> {
  const resolved: PropertyKey[] = [];
  let container: Record<string | number, unknown> = raw;
  let schema = root;
  let fallback: unknown = defaults;
  const { segments } = override;

  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i] as string;
    const node = describeNode(schema);
    let key: string | number;
    let child: z.core.$ZodType;
    if (node.kind === 'object') {
      const match = node.keys.find((k) => k.toLowerCase() === segment.toLowerCase());
      if (match === undefined) {
        const suggestion = closestKey(segment, node.keys);
        return fail(configError(formatKeyPath([...resolved, segment]), `unknown key${suggestion ? `; did you mean "${suggestion}"?` : ''} (from ${override.origin})`));
      }
      key = match;
      child = node.child(match);
    } else if (node.kind === 'record') {
      const existing = Object.keys(container).find((k) => k.toLowerCase() === segment.toLowerCase());
      key = existing ?? (override.lowerCaseNewNames ? segment.toLowerCase() : segment);
      child = node.value;
    } else if (node.kind === 'array') {
      if (!/^\d+$/.test(segment)) return fail(configError(formatKeyPath(resolved), `expected a list index, got "${segment}" (from ${override.origin})`));
      const index = Number(segment);
      const length = (container as unknown as unknown[]).length;
      if (index > length) {
        return fail(configError(formatKeyPath([...resolved, index]), `index beyond the end of the list, which has ${length} entries (from ${override.origin})`));
      }
      key = index;
      child = node.element;
    } else {
      // Unreachable: the previous step refused to descend into a single value.
      return fail(configError(formatKeyPath(resolved), `has no key "${segment}" (from ${override.origin})`));
    }
    resolved.push(key);
    fallback = isObject(fallback) ? (fallback as Record<string | number, unknown>)[key] : undefined;

    if (i === segments.length - 1) {
      const coerced = coerce(override.value, describeNode(child));
      if (!coerced.ok) return fail(configError(formatKeyPath(resolved), `${coerced.error} (from ${override.origin})`));
      container[key] = coerced.value;
      break;
    }

    const childKind = describeNode(child).kind;
    if (childKind !== 'object' && childKind !== 'record' && childKind !== 'array') {
      return fail(configError(formatKeyPath(resolved), `is a single value, it has no key "${segments[i + 1] ?? ''}" (from ${override.origin})`));
    }
    let next = container[key];
    if (next === undefined) {
      next = fallback !== undefined ? structuredClone(fallback) : childKind === 'array' ? [] : {};
      container[key] = next;
    }
    const fits = childKind === 'array' ? Array.isArray(next) : isObject(next) && !Array.isArray(next);
    if (!fits) return fail(configError(formatKeyPath(resolved), `must be ${childKind === 'array' ? 'a list' : 'a mapping'} to set "${segments.slice(i + 1).join('.')}" in it (from ${override.origin})`));
    container = next as Record<string | number, unknown>;
    schema = child;
  }
  return ok(resolved);
}

/** Turn an override's text into the type the schema wants at that key. */
function coerce(text: string, node: SchemaNode): Result<unknown, string> {
  switch (node.kind) {
    case 'number':
      return toNumber(text);
    case 'boolean':
      return toBoolean(text);
    case 'string':
      return ok(text);
    case 'enum':
      // A numeric choice (e.g. 430 | 480) must arrive as a number.
      return node.values.every((v) => typeof v === 'number') ? toNumber(text) : ok(text);
    case 'array': {
      if (text.trimStart().startsWith('[')) return toJson(text);
      // A comma-separated list of plain values: "a,b,c".
      const element = describeNode(node.element);
      if (element.kind === 'object' || element.kind === 'array' || element.kind === 'record') return fail('expected a JSON list, e.g. [{"key":"value"}]');
      const items: unknown[] = [];
      for (const part of text.split(',').map((p) => p.trim()).filter((p) => p !== '')) {
        const item = coerce(part, element);
        if (!item.ok) return item;
        items.push(item.value);
      }
      return ok(items);
    }
    case 'object':
    case 'record':
      if (text.trimStart().startsWith('{')) return toJson(text);
      return fail('expected a JSON object, e.g. {"key":"value"}');
    case 'other':
      return /^\s*[[{]/.test(text) ? toJson(text) : ok(text);
  }
}

function toNumber(text: string): Result<unknown, string> {
  const trimmed = text.trim();
  const n = Number(trimmed);
  if (trimmed === '' || !Number.isFinite(n)) return fail(`expected a number (got ${JSON.stringify(text)})`);
  return ok(n);
}

function toBoolean(text: string): Result<unknown, string> {
  const lower = text.trim().toLowerCase();
  if (lower === 'true') return ok(true);
  if (lower === 'false') return ok(false);
  return fail(`expected true or false (got ${JSON.stringify(text)})`);
}

function toJson(text: string): Result<unknown, string> {
  try {
    return ok(JSON.parse(text) as unknown);
  } catch (error) {
    return fail(`invalid JSON: ${(error as Error).message}`);
  }
}

function isObject(value: unknown): value is object {
  return typeof value === 'object' && value !== null;
}
