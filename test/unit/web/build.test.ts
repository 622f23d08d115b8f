import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { repoRoot } from '../../helpers/paths.js';

const run = promisify(execFile);

describe('web page build (scripts/build-web.mjs)', () => {
  let outdir = '';

  before(async () => {
    outdir = await mkdtemp(join(tmpdir(), 'sbc-web-'));
    await run(process.execPath, [join(repoRoot, 'scripts', 'build-web.mjs'), '--outdir', outdir], { cwd: repoRoot });
  });

  after(async () => {
    if (outdir !== '') await rm(outdir, { recursive: true, force: true });
  });

  test('produces one servable folder: index.html, app.js with its source map, style.css', async () => {
    const files = (await readdir(outdir)).sort();
    assert.deepEqual(files, ['app.js', 'app.js.map', 'index.html', 'style.css']);
    const bundle = await readFile(join(outdir, 'app.js'), 'utf8');
    assert.match(bundle, /sourceMappingURL=app\.js\.map/);
    // SIP.js is inside the bundle, not fetched from anywhere.
    assert.match(bundle, /SIP\.js/);
    assert.match(bundle, /window\.softphone\s*=/);
  });

  test('the bundle loads no script from the network', async () => {
    const bundle = await readFile(join(outdir, 'app.js'), 'utf8');
    assert.doesNotMatch(bundle, /\bimport\s*\(?\s*["'`](https?:)?\/\//, 'dynamic or static import of a URL');
    assert.doesNotMatch(bundle, /\bfrom\s*["'`](https?:)?\/\//, 'import from a URL');
    assert.doesNotMatch(bundle, /importScripts\s*\(/);
    assert.doesNotMatch(bundle, /\.src\s*=\s*["'`]https?:/, 'script src set to a URL');
  });

  test('index.html references only local assets, and they exist in the build', async () => {
    const html = await readFile(join(outdir, 'index.html'), 'utf8');
    const references = [...html.matchAll(/\b(?:src|href)\s*=\s*"([^"]*)"/g)].map((m) => m[1] ?? '');
    assert.ok(references.length >= 2, 'expected at least the script and the stylesheet');
    const files = await readdir(outdir);
    for (const reference of references) {
      if (reference.startsWith('data:')) continue; // inline, e.g. the empty favicon
      assert.doesNotMatch(reference, /^([a-z][a-z0-9+.-]*:|\/\/)/i, `${reference} is not local`);
      assert.ok(files.includes(reference.replace(/^\.?\//, '')), `${reference} is not in the build`);
    }
    assert.match(html, /<script type="module" src="app\.js"><\/script>/);
    assert.match(html, /<link rel="stylesheet" href="style\.css">/);
  });

  test('every input has a label, and the status line is a polite live region', async () => {
    const html = await readFile(join(outdir, 'index.html'), 'utf8');
    const inputIds = [...html.matchAll(/<input\b[^>]*>/g)].map((m) => /\bid="([^"]+)"/.exec(m[0])?.[1]);
    const labelled = new Set([...html.matchAll(/<label\b[^>]*\bfor="([^"]+)"/g)].map((m) => m[1]));
    assert.ok(inputIds.length >= 7, `found ${inputIds.length} inputs`);
    for (const id of inputIds) {
      assert.ok(id !== undefined, 'an input without an id cannot be labelled with for=');
      assert.ok(labelled.has(id), `input #${id} has no <label for="${id}">`);
    }
    assert.match(html, /<p id="status" role="status" aria-live="polite"/);
    assert.match(html, /<audio id="remote-audio" autoplay>/);
  });

  test('the page type-checks (esbuild strips types without checking them)', async () => {
    const tsc = join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');
    const result = await run(process.execPath, [tsc, '-p', join(repoRoot, 'web', 'tsconfig.json')], { cwd: repoRoot }).then(
      () => '',
      (error: { stdout?: string }) => error.stdout ?? String(error),
    );
    assert.equal(result, '');
  });
});
