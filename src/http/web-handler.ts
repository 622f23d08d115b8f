/**
 * web.enabled: the HTTP handler of the WS/WSS listeners — the built page
 * and /gateway.json (what the page pre-fills itself with).
 */
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../config/index.js';
import type { Logger } from '../log/logger.js';
import type { HttpRequestHandler } from '../transport/index.js';
import { GATEWAY_INFO_PATH, gatewayInfoHandler, type GatewayInfoSource } from './gateway-info.js';
import { StaticFiles } from './static-files.js';

/** Where the package lives (dist/src/http/web-handler.js or src/http/web-handler.ts → the root). */
const PACKAGE_ROOT = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
})();

/** The handler, or undefined when the page is off or not built (then the listeners answer 404 at /). */
export async function webHandler(web: Config['web'], info: GatewayInfoSource, logger: Logger): Promise<HttpRequestHandler | undefined> {
  if (!web.enabled) return undefined;
  const root = webRoot(web.root);
  if (root === undefined) {
    logger.warn({ root: web.root }, 'web page not built: run `npm run build`; serving 404 at /');
    return undefined;
  }
  const files = (await StaticFiles.load(root)).handle;
  const gatewayInfo = gatewayInfoHandler(info);
  return (req, res) => ((req.url ?? '/').split('?')[0] === GATEWAY_INFO_PATH ? gatewayInfo(req, res) : files(req, res));
}

/** The built page (web/dist) when present, else the folder itself if it has an index.html. */
function webRoot(root: string): string | undefined {
  const base = isAbsolute(root) ? root : resolve(PACKAGE_ROOT, root);
  for (const candidate of [join(base, 'dist'), base]) if (existsSync(join(candidate, 'index.html'))) return candidate;
  return undefined;
}
