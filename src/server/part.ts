/**
 * A part of the gateway as the composition root sees it: started in list
 * order, stopped in reverse, and asked to take a re-read configuration when
 * it has something that can change live.
 */
import { isAbsolute, resolve } from 'node:path';
import type { SbcMetrics } from '../admin/index.js';
import type { Config } from '../config/index.js';
import type { Logger } from '../log/logger.js';
import type { TransactionLayer } from '../transaction/index.js';
import type { TransportLayer } from '../transport/index.js';

/** The product name in Server/User-Agent headers and the start-up line. */
export const PRODUCT = 'webrtc-sbc';

/** What a part's reload did: the keys it applied, or why the reload is refused (nothing applied after it). */
export type ReloadOutcome = { ok: true; applied: readonly string[] } | { ok: false; error: string; key: string };

export interface Part {
  readonly name: string;
  start(): Promise<void> | void;
  stop(): Promise<void> | void;
  reload?(next: Config): Promise<ReloadOutcome> | ReloadOutcome;
}

/** What every part is built from. */
export interface PartContext {
  config: Config;
  logger: Logger;
  metrics: SbcMetrics;
}

/** The transport and transaction layers, for the parts started after them. */
export interface SipLayers {
  transport: () => TransportLayer;
  transactions: () => TransactionLayer;
}

/** A part's product before its start() has run. */
export function started<T>(value: T | undefined): T {
  if (value === undefined) throw new Error('server not started');
  return value;
}

/** A file named in the configuration: relative names resolve against the working directory. */
export function configPath(p: string): string {
  return isAbsolute(p) ? p : resolve(process.cwd(), p);
}

/** Starts the parts in order; `begun` gets each part before its start runs, so a failed start still stops it. */
export async function startParts(parts: readonly Part[], begun: Part[]): Promise<void> {
  for (const part of parts) {
    begun.push(part);
    await part.start();
  }
}

/** Stops the parts in reverse order; a part whose stop fails is logged and the others are still stopped. */
export async function stopParts(parts: readonly Part[], logger: Logger): Promise<void> {
  for (const part of [...parts].reverse()) {
    try {
      await part.stop();
    } catch (err) {
      logger.warn({ err, part: part.name }, `${part.name} stop failed`);
    }
  }
}

/** Walks the parts that can reload, in order; the first refusal ends the walk. */
export async function reloadParts(parts: readonly Part[], next: Config): Promise<ReloadOutcome> {
  const applied: string[] = [];
  for (const part of parts) {
    if (part.reload === undefined) continue;
    const outcome = await part.reload(next);
    if (!outcome.ok) return outcome;
    applied.push(...outcome.applied);
  }
  return { ok: true, applied };
}
