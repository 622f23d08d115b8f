import type { z } from 'zod';
import { closestKey, describeNode, schemaAt } from './schema-walk.js';

/**
 * What is wrong with the configuration, aimed at the user who has to fix it.
 * `key` is a path such as `listen[2].port` or `security.rateLimit.burst`, or
 * `(file)` when the file itself cannot be read or is not valid YAML.
 */
export interface ConfigError {
  readonly code: 'SBC_ERR_CONFIG_KEY';
  readonly key: string;
  readonly message: string;
}

/** Key reported when the problem is the file as a whole. */
export const FILE_KEY = '(file)';

export function configError(key: string, message: string): ConfigError {
  return { code: 'SBC_ERR_CONFIG_KEY', key, message };
}

/** One line for stderr, e.g. `config error: listen[0].port: must be less than or equal to 65535 (got 70000)`. */
export function formatConfigError(error: ConfigError): string {
  return `config error: ${error.key}: ${error.message}`;
}

/** `['listen', 2, 'port']` → `listen[2].port`. */
export function formatKeyPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (typeof segment === 'string' && /^[A-Za-z0-9_-]+$/.test(segment)) out += out === '' ? segment : `.${segment}`;
    else out += `[${JSON.stringify(String(segment))}]`;
  }
  return out === '' ? '(root)' : out;
}

/** A zod issue restated for a user: the key path it is about and what is wrong. */
export interface ConfigIssue {
  path: PropertyKey[];
  message: string;
}

/**
 * The most useful of zod's issues, restated. A misspelt key comes before
 * anything else, because it is usually the cause of the "is required" issue
 * that comes with it.
 */
export function describeIssues(issues: readonly z.core.$ZodIssue[], root: z.core.$ZodType): ConfigIssue {
  const first = issues.find((i) => i.code === 'unrecognized_keys') ?? issues[0];
  if (first === undefined) return { path: [], message: 'invalid configuration' };
  switch (first.code) {
    case 'unrecognized_keys': {
      const wrong = first.keys[0] ?? '?';
      const parent = schemaAt(root, first.path);
      const node = parent === undefined ? undefined : describeNode(parent);
      const suggestion = node?.kind === 'object' ? closestKey(wrong, node.keys) : undefined;
      const more = first.keys.length > 1 ? ` (also ${first.keys.slice(1).join(', ')})` : '';
      return { path: [...first.path, wrong], message: `unknown key${suggestion ? `; did you mean "${suggestion}"?` : ''}${more}` };
    }
    case 'invalid_key':
      return { path: [...first.path], message: `invalid name: ${first.issues[0]?.message ?? first.message}` };
    default:
      return { path: [...first.path], message: describeIssue(first, !isSecretKey(first.path.at(-1))) };
  }
}

/** Keys whose values must not be echoed back, even in an error. */
function isSecretKey(segment: PropertyKey | undefined): boolean {
  return typeof segment === 'string' && /token|secret|password|url/i.test(segment);
}

function describeIssue(issue: z.core.$ZodIssue, echoInput: boolean): string {
  // Echo only plain values: for a cross-field issue the input is the whole config.
  const input: unknown = 'input' in issue ? issue.input : undefined;
  const plain = typeof input === 'string' || typeof input === 'number' || typeof input === 'boolean';
  const got = echoInput && (plain || (issue.code === 'invalid_type' && input !== undefined)) ? ` (got ${show(input)})` : '';
  switch (issue.code) {
    case 'invalid_type':
      if (issue.input === undefined) return 'is required';
      return `expected ${article(issue.expected)}${got}`;
    case 'too_big':
      return `${bound(issue.origin, 'at most', 'less than', issue.maximum, issue.inclusive)}${got}`;
    case 'too_small':
      return `${bound(issue.origin, 'at least', 'more than', issue.minimum, issue.inclusive)}${got}`;
    case 'invalid_value':
      return issue.values.length === 1
        ? `must be ${show(issue.values[0])}${got}`
        : `must be one of ${issue.values.map((v) => String(v)).join(', ')}${got}`;
    case 'not_multiple_of':
      return `must be a multiple of ${String(issue.divisor)}${got}`;
    default:
      // custom, invalid_format, invalid_union, invalid_element: the schema's own message says it best.
      return `${issue.message}${got}`;
  }
}

function bound(origin: string, inclusiveWord: string, exclusiveWord: string, limit: number | bigint, inclusive: boolean | undefined): string {
  const n = String(limit);
  switch (origin) {
    case 'array':
    case 'set':
      return `must have ${inclusive === false ? exclusiveWord : inclusiveWord} ${n} item${n === '1' ? '' : 's'}`;
    case 'string':
      return `must be ${inclusive === false ? exclusiveWord : inclusiveWord} ${n} character${n === '1' ? '' : 's'} long`;
    default:
      if (inclusive === false) return `must be ${exclusiveWord} ${n}`;
      return `must be ${inclusiveWord === 'at most' ? 'less than or equal to' : 'greater than or equal to'} ${n}`;
  }
}

function article(expected: string): string {
  switch (expected) {
    case 'int':
      return 'an integer';
    case 'object':
    case 'array':
      return `an ${expected}`;
    case 'record':
      return 'a mapping';
    default:
      return `a ${expected}`;
  }
}

function show(value: unknown): string {
  let text: string;
  if (value === null) text = 'null';
  else if (Array.isArray(value)) text = 'a list';
  else if (typeof value === 'object') text = 'a mapping';
  else text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
