/**
 * Build the effective configuration. Precedence, lowest first:
 * embedded defaults < file (--config FILE, else ./sbc.yaml when present)
 * < environment `SBC_<PATH>` < `--set key.path=value`.
 */
import { access, readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { LineCounter, parseDocument, type Document } from 'yaml';
import { fail, ok, type Result } from '../sip/result.js';
import { configError, describeIssues, FILE_KEY, formatKeyPath, type ConfigError } from './config-error.js';
import { applyOverride, overridesFromEnv, parseSetArgument, type Override } from './overrides.js';
import { configSchema, defaultConfig, type Config } from './schema.js';

export interface LoadConfigOptions {
  /** Config file (--config). Without it `./sbc.yaml` is read when present. */
  file?: string;
  /** `key.path=value` strings from --set, applied in order. */
  sets?: string[];
  /** Where `SBC_*` overrides are read. @default process.env */
  env?: NodeJS.ProcessEnv;
  /** Directory that relative file names resolve against. @default process.cwd() */
  cwd?: string;
}

export interface LoadedConfig {
  config: Config;
  /** Absolute path of the file read, or "embedded defaults". */
  source: string;
}

export const DEFAULT_CONFIG_FILE = 'sbc.yaml';
export const NO_FILE_SOURCE = 'embedded defaults';

/** Read, merge and validate; every failure names the key (or `(file)`) and what is wrong. */
export async function loadConfig(options: LoadConfigOptions = {}): Promise<Result<LoadedConfig, ConfigError>> {
  const cwd = options.cwd ?? process.cwd();
  const env = options.env ?? process.env;

  const file = await locateFile(options.file, cwd);
  let raw: Record<string, unknown> = {};
  let parsed: ParsedFile | undefined;
  if (file !== undefined) {
    const read = await readConfigFile(file.path, file.shown);
    if (!read.ok) return read;
    parsed = read.value;
    raw = parsed.value;
  }

  const fromEnv = overridesFromEnv(env);
  if (!fromEnv.ok) return fromEnv;
  const overrides: Override[] = [...fromEnv.value];
  for (const argument of options.sets ?? []) {
    const set = parseSetArgument(argument);
    if (!set.ok) return set;
    overrides.push(set.value);
  }

  const defaults = defaultConfig();
  const applied: { key: string; origin: string }[] = [];
  for (const override of overrides) {
    const result = applyOverride(raw, override, configSchema, defaults);
    if (!result.ok) return result;
    applied.push({ key: formatKeyPath(result.value), origin: override.origin });
  }

  const result = configSchema.safeParse(raw, { reportInput: true });
  if (result.success) return ok({ config: result.data, source: file?.path ?? NO_FILE_SOURCE });

  const issue = describeIssues(result.error.issues, configSchema);
  const key = formatKeyPath(issue.path);
  return fail(configError(key, issue.message + whereSet(key, issue.path, applied, parsed)));
}

interface ParsedFile {
  value: Record<string, unknown>;
  shown: string;
  document: Document;
  lines: LineCounter;
}

async function locateFile(explicit: string | undefined, cwd: string): Promise<{ path: string; shown: string } | undefined> {
  if (explicit !== undefined) return { path: resolve(cwd, explicit), shown: explicit };
  const implicit = resolve(cwd, DEFAULT_CONFIG_FILE);
  try {
    await access(implicit);
    return { path: implicit, shown: DEFAULT_CONFIG_FILE };
  } catch {
    return undefined;
  }
}

async function readConfigFile(path: string, shown: string): Promise<Result<ParsedFile, ConfigError>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    return fail(configError(FILE_KEY, `cannot read ${shown}: ${code}`));
  }

  const lines = new LineCounter();
  const document = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  const syntax = document.errors[0];
  if (syntax !== undefined) {
    const at = lines.linePos(syntax.pos[0]);
    const firstLine = syntax.message.split('\n', 1)[0] ?? syntax.message;
    return fail(configError(FILE_KEY, `${shown}:${at.line}:${at.col}: ${firstLine}`));
  }

  let value: unknown;
  try {
    value = document.toJS();
  } catch (error) {
    // e.g. too many alias expansions
    return fail(configError(FILE_KEY, `${shown}: ${(error as Error).message}`));
  }
  if (value === null || value === undefined) value = {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    return fail(configError(FILE_KEY, `${shown}: the top level must be a mapping of configuration keys`));
  }
  return ok({ value: value as Record<string, unknown>, shown, document, lines });
}

/** Point at what set the bad value: the last override on that key, else the file line. */
function whereSet(key: string, path: readonly PropertyKey[], applied: readonly { key: string; origin: string }[], file: ParsedFile | undefined): string {
  for (let i = applied.length - 1; i >= 0; i--) {
    const a = applied[i] as { key: string; origin: string };
    if (key === a.key || key.startsWith(`${a.key}.`) || key.startsWith(`${a.key}[`)) return `; set by ${a.origin}`;
  }
  if (file === undefined || path.length === 0) return '';
  const node = file.document.getIn(path as unknown[], true) as { range?: [number, number, number] } | undefined;
  if (node?.range === undefined) return '';
  return `; ${file.shown} line ${file.lines.linePos(node.range[0]).line}`;
}
