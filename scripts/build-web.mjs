// Builds the softphone page into one folder the SBC serves at `/`:
// web/app.ts (and SIP.js from node_modules) → app.js + app.js.map; index.html and style.css copied unchanged.
// Usage: node scripts/build-web.mjs [--outdir DIR]   (default web/dist)
import { copyFile, mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';

const root = resolve(import.meta.dirname, '..');
const webDir = join(root, 'web');

/** Files served as they are, next to the bundle. */
const STATIC_FILES = ['index.html', 'style.css'];

/**
 * Bundles the page into `outdir`.
 * @param {{ outdir?: string }} [options] outdir defaults to web/dist
 * @returns {Promise<string>} the absolute output folder
 */
export async function buildWeb(options = {}) {
  const outdir = resolve(options.outdir ?? join(webDir, 'dist'));
  await mkdir(outdir, { recursive: true });
  await build({
    entryPoints: [join(webDir, 'app.ts')],
    outfile: join(outdir, 'app.js'),
    bundle: true,
    format: 'esm',
    target: 'es2020',
    platform: 'browser',
    sourcemap: true,
    minify: true,
    legalComments: 'eof',
    logLevel: 'warning',
  });
  await Promise.all(STATIC_FILES.map((name) => copyFile(join(webDir, name), join(outdir, name))));
  return outdir;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({ options: { outdir: { type: 'string' } } });
  buildWeb({ outdir: values.outdir }).then(
    (outdir) => process.stdout.write(`web page built into ${outdir}\n`),
    (error) => {
      process.stderr.write(`web build failed: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    },
  );
}
