/**
 * Certificate renewal without a restart: the pair at tls.cert / tls.key is
 * re-read when a file in their directories changes (certbot, acme.sh and
 * Kubernetes replace files by rename, so the directories are watched, not
 * the files) and on `webrtc-sbc reload`. A pair that parses and whose key
 * matches goes to the listeners (new connections get it, open ones keep
 * theirs); anything else is refused with a log line and the pair in force
 * stays.
 *
 *   fs event ─► debounce ─┐
 *   reload ───────────────┴─► read both ─► same as in force? ─► nothing
 *                                           │ no
 *                                           ▼
 *                                      checkPair + apply ─► renewed │ refused (old stays)
 */
import { X509Certificate } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { SbcMetrics } from '../admin/metrics.js';
import type { Logger } from '../log/logger.js';
import type { TlsCredentials } from '../transport/tls-credentials.js';
import { CertificateError, checkPair } from './self-signed.js';

/** Quiet time after the last file event before the pair is read: a renewal writes several files. */
export const RENEWAL_DEBOUNCE_MS = 1000;

export interface CertificateSource {
  certFile: string;
  keyFile: string;
  minVersion: 'TLSv1.2' | 'TLSv1.3';
  ciphers?: string | undefined;
  /** Watch the directories; false = only reload re-reads the pair. */
  watch: boolean;
}

export type RenewalOutcome =
  | { kind: 'unchanged' }
  | { kind: 'renewed'; fingerprint: string }
  /** `file`: which configuration key to fix (cert or key), when one is at fault. */
  | { kind: 'refused'; error: string; file: 'cert' | 'key' | undefined };

export interface CertificateRenewalOptions {
  source: CertificateSource;
  /** The pair the listeners were started with. */
  initial: { cert: string; key: string };
  /** Hands a checked pair to the listeners; throws (nothing changed) when OpenSSL refuses it. */
  apply: (credentials: TlsCredentials) => void;
  logger: Logger;
  metrics?: SbcMetrics;
  /** @default RENEWAL_DEBOUNCE_MS */
  debounceMs?: number;
}

export class CertificateRenewal {
  readonly #o: CertificateRenewalOptions;
  #source: CertificateSource;
  #current: { cert: string; key: string; minVersion: string; ciphers: string | undefined };
  #watchers: FSWatcher[] = [];
  #timer: NodeJS.Timeout | undefined;
  /** Checks run one after the other (a file event and a reload may overlap). */
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor(options: CertificateRenewalOptions) {
    this.#o = options;
    this.#source = options.source;
    this.#current = { ...options.initial, minVersion: options.source.minVersion, ciphers: options.source.ciphers };
    this.#reportExpiry(safeLeaf(options.initial.cert));
  }

  /** Start watching (when the source asks for it). */
  start(): void {
    if (this.#source.watch) this.#watch();
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#unwatch();
  }

  /**
   * Re-read the pair now (webrtc-sbc reload). A source with other paths or
   * settings replaces the one in force: its files are watched from then on.
   */
  reload(source: CertificateSource = this.#source): Promise<RenewalOutcome> {
    const moved = source.certFile !== this.#source.certFile || source.keyFile !== this.#source.keyFile || source.watch !== this.#source.watch;
    const run = this.#queue.then(() => this.#check(source, 'reload')).then((outcome) => {
      if (outcome.kind !== 'refused' && moved && !this.#closed) {
        this.#source = source;
        this.#unwatch();
        if (source.watch) this.#watch();
      }
      return outcome;
    });
    this.#queue = run.catch(() => undefined);
    return run;
  }

  #watch(): void {
    const dirs = new Set([dirname(this.#source.certFile), dirname(this.#source.keyFile)]);
    for (const dir of dirs) {
      try {
        const w = watch(dir, { persistent: false }, () => this.#changed());
        w.on('error', (err) => this.#o.logger.warn({ err, dir }, 'certificate directory watch failed; webrtc-sbc reload still re-reads the pair'));
        this.#watchers.push(w);
      } catch (err) {
        this.#o.logger.warn({ err, dir }, 'cannot watch the certificate directory; webrtc-sbc reload still re-reads the pair');
      }
    }
  }

  #unwatch(): void {
    for (const w of this.#watchers) w.close();
    this.#watchers = [];
  }

  /** Any event in a watched directory: read the pair once things are quiet (unchanged files cost one read). */
  #changed(): void {
    if (this.#closed) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#queue = this.#queue.then(() => this.#check(this.#source, 'watch')).catch(() => undefined);
    }, this.#o.debounceMs ?? RENEWAL_DEBOUNCE_MS);
    this.#timer.unref();
  }

  async #check(source: CertificateSource, trigger: 'watch' | 'reload'): Promise<RenewalOutcome> {
    if (this.#closed) return { kind: 'unchanged' };
    const log = this.#o.logger;
    const { certFile, keyFile } = source;
    let cert: string;
    let key: string;
    try {
      [cert, key] = await Promise.all([readFile(certFile, 'utf8'), readFile(keyFile, 'utf8')]);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const file = e.path === keyFile ? 'key' : 'cert';
      return this.#refused(`cannot read ${e.path ?? certFile}: ${e.code ?? e.message}`, file, trigger, source);
    }
    const c = this.#current;
    if (cert === c.cert && key === c.key && source.minVersion === c.minVersion && source.ciphers === c.ciphers) return { kind: 'unchanged' };
    let leaf: X509Certificate;
    try {
      leaf = checkPair(cert, key, certFile, keyFile);
      this.#o.apply({ cert, key, minVersion: source.minVersion, ...(source.ciphers !== undefined ? { ciphers: source.ciphers } : {}) });
    } catch (err) {
      return this.#refused((err as Error).message, err instanceof CertificateError ? err.file : undefined, trigger, source);
    }
    this.#current = { cert, key, minVersion: source.minVersion, ciphers: source.ciphers };
    this.#o.metrics?.tlsCertificateReloads.inc({ result: 'renewed' });
    this.#reportExpiry(leaf);
    const validTo = new Date(leaf.validTo);
    if (validTo.getTime() < Date.now()) log.warn({ certFile, validTo }, 'the new certificate has expired');
    log.info({ certFile, trigger, subject: leaf.subject, fingerprint256: leaf.fingerprint256, validTo }, 'certificate renewed: new tls and wss connections get it');
    return { kind: 'renewed', fingerprint: leaf.fingerprint256 };
  }

  #refused(error: string, file: 'cert' | 'key' | undefined, trigger: 'watch' | 'reload', source: CertificateSource): RenewalOutcome {
    this.#o.metrics?.tlsCertificateReloads.inc({ result: 'refused' });
    this.#o.logger.error({ certFile: source.certFile, keyFile: source.keyFile, trigger, error }, 'certificate renewal refused; the certificate in force stays');
    return { kind: 'refused', error, file };
  }

  #reportExpiry(leaf: X509Certificate | undefined): void {
    if (leaf !== undefined) this.#o.metrics?.tlsCertificateExpiry.set(Math.floor(new Date(leaf.validTo).getTime() / 1000));
  }
}

function safeLeaf(certPem: string): X509Certificate | undefined {
  try {
    return new X509Certificate(certPem);
  } catch {
    return undefined;
  }
}
