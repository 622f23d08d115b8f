/**
 * The call records file: one JSON line per call, appended through a write
 * stream (no sync I/O on the call path). reopen() is log rotation: after
 * `mv calls.log calls.log.1` and SIGHUP (or a reload) new lines go to a new
 * file of the configured name while the old stream finishes what it holds
 * into the moved file. Every line is one write of a whole line, so none is
 * split between the files, and none is lost.
 */
import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import type { Logger } from '../log/logger.js';

/** Bytes waiting for the disk beyond which new lines are dropped (a stalled disk must not grow the heap). */
const MAX_PENDING_BYTES = 16 * 1024 * 1024;

export class RecordFile {
  readonly path: string;
  readonly #log: Logger;
  readonly #dropped: (reason: string) => void;
  #stream: WriteStream | undefined;
  /** Streams being ended (after a reopen or at close), so close() waits for them too. */
  readonly #ending = new Set<Promise<void>>();
  #closed = false;

  constructor(path: string, logger: Logger, dropped: (reason: string) => void) {
    this.path = path;
    this.#log = logger;
    this.#dropped = dropped;
  }

  /** Opens (creates) the file for appending; rejects when it cannot be opened. */
  async open(): Promise<void> {
    const stream = this.#newStream();
    await once(stream, 'open');
  }

  write(line: string): void {
    const stream = this.#stream;
    if (stream === undefined || stream.writableLength > MAX_PENDING_BYTES) {
      this.#dropped(stream === undefined ? 'file-unavailable' : 'file-backlog');
      return;
    }
    stream.write(line);
  }

  /** A new stream on the configured name; the old one ends after what it holds. */
  reopen(): void {
    if (this.#closed) return;
    this.#endStream(this.#stream);
    this.#newStream();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#endStream(this.#stream);
    this.#stream = undefined;
    await Promise.all([...this.#ending]);
  }

  #newStream(): WriteStream {
    const stream = createWriteStream(this.path, { flags: 'a', encoding: 'utf8' });
    this.#stream = stream;
    stream.on('error', (err) => {
      this.#log.error({ err, file: this.path }, 'call records file failed; records are dropped until it is reopened (SIGHUP or reload)');
      if (this.#stream === stream) this.#stream = undefined;
    });
    return stream;
  }

  #endStream(stream: WriteStream | undefined): void {
    if (stream === undefined || stream.destroyed) return;
    const done = new Promise<void>((resolve) => {
      stream.once('close', () => resolve());
      stream.once('error', () => resolve());
      stream.end();
    });
    this.#ending.add(done);
    void done.finally(() => this.#ending.delete(done));
  }
}
