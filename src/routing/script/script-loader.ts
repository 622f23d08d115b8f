/**
 * Loads a `routing.script` module: a compiled JavaScript ES module (.js or
 * .mjs) whose default export is the route function. `.ts` is refused with
 * the fix: Node.js 20 cannot strip types itself, and loading a TypeScript
 * compiler into the gateway for one file is neither cheap nor safe.
 *
 * Every load imports a fresh instance (a query string on the file URL), so a
 * reload sees the edited file; modules the script itself imports stay cached
 * by Node.js, and each reload keeps its old instance in memory (small; a
 * reload is an operator action).
 */
import { stat } from 'node:fs/promises';
import { extname, isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { RouteFunction } from './types.js';

export type LoadedScript = { ok: true; route: RouteFunction; file: string } | { ok: false; error: string };

let generation = 0;

/** The script's absolute path, once it names a .js/.mjs file that exists. */
export async function checkScriptFile(file: string, cwd: string = process.cwd()): Promise<{ ok: true; path: string } | { ok: false; error: string }> {
  const path = isAbsolute(file) ? file : resolve(cwd, file);
  const ext = extname(path).toLowerCase();
  if (ext === '.ts' || ext === '.mts' || ext === '.cts') {
    return { ok: false, error: `${file}: TypeScript is not loaded directly; compile it to .js or .mjs (tsc, esbuild) and point routing.script at that` };
  }
  if (ext !== '.js' && ext !== '.mjs') return { ok: false, error: `${file}: must be a .js or .mjs ES module` };
  try {
    const s = await stat(path);
    if (!s.isFile()) return { ok: false, error: `${file}: not a file` };
  } catch {
    return { ok: false, error: `${file}: no such file` };
  }
  return { ok: true, path };
}

export async function loadRouteScript(file: string, cwd: string = process.cwd()): Promise<LoadedScript> {
  const checked = await checkScriptFile(file, cwd);
  if (!checked.ok) return checked;
  const path = checked.path;
  let mod: { default?: unknown };
  try {
    mod = (await import(`${pathToFileURL(path).href}?v=${++generation}`)) as { default?: unknown };
  } catch (err) {
    return { ok: false, error: `${file}: ${describe(err)}` };
  }
  if (typeof mod.default !== 'function') {
    return { ok: false, error: `${file}: the default export must be a function route(request) (got ${typeof mod.default})` };
  }
  return { ok: true, route: mod.default as RouteFunction, file: path };
}

function describe(err: unknown): string {
  if (err instanceof Error) {
    // A syntax error's first stack line names file:line; the message alone does not.
    const where = err instanceof SyntaxError ? (err.stack?.split('\n')[0] ?? '') : '';
    return where !== '' && where !== `SyntaxError: ${err.message}` ? `${err.message} (${where})` : err.message;
  }
  return String(err);
}
