/**
 * Call records as a part of the gateway: the recorder, the file and the
 * webhook. Started right after the state store (so it stops after the core
 * and the media, whose last calls it writes as `drain`); SIGHUP and POST
 * /api/reload reopen the file (log rotation), a reload also applies a new
 * file name or webhook.
 */
import type { Config } from '../config/index.js';
import { SbcError } from '../errors.js';
import type { Part, PartContext, ReloadOutcome } from '../server/part.js';
import { configPath } from '../server/part.js';
import type { StateStore } from '../state/index.js';
import type { CallRecord, MediaPath } from './active-call.js';
import { CallRecorder } from './call-recorder.js';
import { RecordFile } from './record-file.js';
import { RecordWebhook } from './record-webhook.js';

export interface RecordsPartOptions extends PartContext {
  store: () => StateStore;
  /** The media relay that runs, read at each call's start. */
  media: () => MediaPath;
  /** The rtpengine that holds a call's media (media.mode rtpengine). */
  mediaEngine?: (callId: string) => Promise<string | undefined> | undefined;
  /** The Call-ID a proxied dialog shows outside when topology hiding masks it. */
  outsideCallId: (callId: string, key: string | undefined) => string | undefined;
}

export class RecordsPart implements Part {
  readonly name = 'records';
  readonly #o: RecordsPartOptions;
  #config: Config['callRecords'];
  #recorder: CallRecorder | undefined;
  #file: RecordFile | undefined;
  #webhook: RecordWebhook | undefined;

  constructor(options: RecordsPartOptions) {
    this.#o = options;
    this.#config = options.config.callRecords;
  }

  /** The recorder once started (it tracks calls only while a file or a webhook is configured). */
  get recorder(): CallRecorder | undefined {
    return this.#recorder;
  }

  /** Where records go now (tests, diagnostics). */
  get sinks(): { file: string | undefined; webhook: string | undefined; queued: number } {
    return { file: this.#file?.path, webhook: this.#webhook?.url, queued: this.#webhook?.queued ?? 0 };
  }

  async start(): Promise<void> {
    const o = this.#o;
    const c = this.#config;
    this.#recorder = new CallRecorder({
      maxCallSeconds: c.maxCallSeconds,
      maxCalls: c.maxCalls,
      media: o.media,
      outsideCallId: o.outsideCallId,
      ...(o.mediaEngine !== undefined ? { mediaEngine: o.mediaEngine } : {}),
      ...(o.config.state.store === 'redis' ? { shared: { store: o.store(), keyPrefix: o.config.state.redis.keyPrefix } } : {}),
      write: (record, json) => this.#write(record, json),
      dropped: (reason, n = 1) => o.metrics.callRecordsDropped.inc({ reason }, n),
      logger: o.logger.child({ part: 'records' }),
      enabled: () => this.#file !== undefined || this.#webhook !== undefined,
    });
    await this.#apply(c);
    this.#recorder.start();
  }

  async stop(): Promise<void> {
    await this.#recorder?.stop();
    await this.#webhook?.close();
    await this.#file?.close();
  }

  /** SIGHUP: the file is reopened under its configured name (after a rotation moved it). */
  reopen(): void {
    this.#file?.reopen();
  }

  async reload(next: Config): Promise<ReloadOutcome> {
    try {
      await this.#apply(next.callRecords);
    } catch (err) {
      return { ok: false, error: (err as Error).message, key: 'callRecords.file' };
    }
    this.#config = next.callRecords;
    this.#recorder?.configure(next.callRecords);
    return { ok: true, applied: ['callRecords'] };
  }

  async #apply(c: Config['callRecords']): Promise<void> {
    const log = this.#o.logger;
    const path = c.file === '' ? undefined : configPath(c.file);
    if (path === undefined) {
      await this.#file?.close();
      this.#file = undefined;
    } else if (this.#file?.path === path) {
      this.#file.reopen();
    } else {
      const file = new RecordFile(path, log.child({ part: 'records' }), (reason) => this.#o.metrics.callRecordsDropped.inc({ reason }));
      try {
        await file.open();
      } catch (err) {
        await file.close();
        throw new SbcError('SBC_ERR_CONFIG_KEY', `callRecords.file: cannot open ${path} for appending: ${(err as Error).message}`, { cause: err });
      }
      const old = this.#file;
      this.#file = file;
      await old?.close();
    }
    const w = c.webhook;
    if (w.url === '') {
      const old = this.#webhook;
      this.#webhook = undefined;
      await old?.close();
    } else if (this.#webhook !== undefined) {
      this.#webhook.update(w);
    } else {
      this.#webhook = new RecordWebhook(w, log.child({ part: 'records', sink: 'webhook' }), (reason, n) => this.#o.metrics.callRecordsDropped.inc({ reason }, n));
    }
  }

  #write(record: CallRecord, json: string): void {
    this.#o.metrics.callRecords.inc({ reason: record.reason });
    this.#file?.write(json + '\n');
    this.#webhook?.push(json);
  }
}
