/**
 * The SO_REUSEPORT UDP socket (native/reuseport, built from source by
 * `npm install`): every worker binds its own socket on the shared port and
 * the kernel keeps each source 4-tuple on one of them.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

interface ReusePortAddon {
  bindReusePort(address: string, port: number): number;
}

type Loaded = { ok: true; addon: ReusePortAddon } | { ok: false; reason: string };
let loaded: Loaded | undefined;

/** The addon, or why it cannot be used (not built, wrong platform). */
export function reusePortAddon(): Loaded {
  loaded ??= load();
  return loaded;
}

function load(): Loaded {
  // src/transport (tsx) or dist/src/transport (built): the package root is two or three levels up.
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, '..', '..', 'native'), join(here, '..', '..', '..', 'native')].map((d) => join(d, 'reuseport', 'build', 'reuseport.node'));
  const file = candidates.find((f) => existsSync(f));
  if (file === undefined) return { ok: false, reason: 'native/reuseport/build/reuseport.node is not built (npm install builds it with the C compiler; run `node scripts/build-reuseport.mjs` to see why not)' };
  try {
    const addon = createRequire(import.meta.url)(file) as Partial<ReusePortAddon>;
    if (typeof addon.bindReusePort !== 'function') return { ok: false, reason: `${file} has no bindReusePort` };
    return { ok: true, addon: addon as ReusePortAddon };
  } catch (err) {
    return { ok: false, reason: `${file} did not load: ${err instanceof Error ? err.message : String(err)}` };
  }
}

/** A bound SO_REUSEPORT UDP socket's fd; throws when the addon is missing or bind fails. */
export function bindReusePort(address: string, port: number): number {
  const a = reusePortAddon();
  if (!a.ok) throw new Error(a.reason);
  return a.addon.bindReusePort(address, port);
}
