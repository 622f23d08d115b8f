import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root, whether tests run from test/ (tsx) or dist/test/ (built). */
export const repoRoot: string = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) || dir.endsWith('/dist')) dir = dirname(dir);
  return dir;
})();

export const fixturesDir = join(repoRoot, 'test', 'fixtures');

/** How to run the CLI from a test: the built entry point when it exists, else the TS source through tsx. */
export function sbcCommand(): { command: string; args: string[] } {
  const built = join(repoRoot, 'dist', 'src', 'main.js');
  if (existsSync(built) && import.meta.url.includes('/dist/')) return { command: process.execPath, args: [built] };
  return { command: process.execPath, args: ['--import', 'tsx', join(repoRoot, 'src', 'main.ts')] };
}
