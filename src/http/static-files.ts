import { readdir, readFile, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, relative, sep } from 'node:path';

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.map': 'application/json', '.json': 'application/json', '.svg': 'image/svg+xml', '.png': 'image/png',
  '.ico': 'image/x-icon', '.wav': 'audio/wav', '.txt': 'text/plain; charset=utf-8',
};

const MAX_FILES = 256;
const MAX_TOTAL_BYTES = 32 * 1024 * 1024;

interface StaticFile { body: Buffer; type: string }

/**
 * Serves one small folder (the softphone page) from memory. The folder is read
 * once at start-up, so a request never touches the disk and no URL can reach
 * a file outside it.
 */
export class StaticFiles {
  readonly #files = new Map<string, StaticFile>();

  static async load(root: string): Promise<StaticFiles> {
    const files = new StaticFiles();
    let total = 0;
    const walk = async (dir: string): Promise<void> => {
      for (const entry of await readdir(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) { await walk(path); continue; }
        if (!entry.isFile() || files.#files.size >= MAX_FILES) continue;
        const size = (await stat(path)).size;
        if (total + size > MAX_TOTAL_BYTES) continue;
        total += size;
        const url = '/' + relative(root, path).split(sep).join('/');
        files.#files.set(url, { body: await readFile(path), type: TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream' });
      }
    };
    await walk(root);
    return files;
  }

  get size(): number {
    return this.#files.size;
  }

  /** Request handler for the HTTP(S) server of the WS/WSS listeners. */
  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    let path = (req.url ?? '/').split('?')[0] ?? '/';
    if (path.endsWith('/')) path += 'index.html';
    const file = this.#files.get(path);
    if (file === undefined) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found\n');
      return;
    }
    res.writeHead(200, {
      'content-type': file.type,
      'content-length': file.body.length,
      'cache-control': 'no-cache',
      'x-content-type-options': 'nosniff',
    });
    res.end(req.method === 'HEAD' ? undefined : file.body);
  };
}
