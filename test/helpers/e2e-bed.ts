/**
 * What every browser scenario file shares: the built page, an SBC whose
 * backend and registrar is one Kamailio, and a scenario wrapper that hangs up
 * leftovers and saves artifacts on failure.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { withFailureArtifacts, type SoftphonePage } from './browser.js';
import { repoRoot } from './paths.js';

const run = promisify(execFile);

/** Build web/dist when a test runs before `npm run build` did. */
export async function ensureWebBuilt(): Promise<void> {
  if (existsSync(join(repoRoot, 'web', 'dist', 'index.html'))) return;
  await run(process.execPath, [join(repoRoot, 'scripts', 'build-web.mjs')], { cwd: repoRoot });
}

/** SBC config: the page served, one backend group (Kamailio) that is also the registrar. */
export function behindKamailio(kamUri: string): Record<string, unknown> {
  return {
    web: { enabled: true },
    backends: {
      default: {
        algorithm: 'round-robin',
        probe: { method: 'OPTIONS', intervalSeconds: 5, failuresToDown: 3, successesToUp: 1, timeoutMs: 1000 },
        targets: [{ uri: kamUri, weight: 1, priority: 0 }],
      },
    },
    registrar: { backend: 'default', pathMode: true },
  };
}

/** A peer the before hook should have started; a clear error when it did not. */
export function need<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`${what} is not up (see the before hook's error)`);
  return value;
}

/**
 * `scenario(name, body)`: a test that first hangs up any call an earlier
 * failure left up (so one failure does not cause the next), runs `reset`,
 * and saves screenshots and consoles when `body` fails; `explain` may add
 * peer logs to the error.
 */
export function scenarios(pages: readonly SoftphonePage[], hooks: { reset?: () => void; explain?: (err: Error) => Error } = {}): (name: string, body: () => Promise<void>) => void {
  return (name, body) => {
    test(name, async () => {
      await Promise.all(pages.map((p) => p.hangup().catch(() => undefined)));
      hooks.reset?.();
      try {
        await withFailureArtifacts(name, () => pages, body);
      } catch (err) {
        throw hooks.explain === undefined ? err : hooks.explain(err as Error);
      }
    });
  };
}
