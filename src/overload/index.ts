/**
 * Admission control (overload:): a load monitor sampling cheap signals, an
 * admission state machine deciding how much new work to take, and the gate
 * that sheds the rest before the parser. The dispatcher asks `excuses()`
 * before it blames a silent backend.
 */
import type { Gauge } from 'prom-client';
import { silentLogger, type Logger } from '../log/logger.js';
import type { Flow } from '../transport/flow.js';
import { Admission, type AdmissionThresholds } from './admission.js';
import { AdmissionGate, type ShedCounter } from './admission-gate.js';
import { LoadMonitor, type UdpSocketRef } from './load-monitor.js';

export { Admission, type AdmissionThresholds, type OverloadSignal, type OverloadState } from './admission.js';
export { AdmissionGate, SHED_TAG_PREFIX } from './admission-gate.js';
export { estimateQueueDelayMs, kernelBytesPerDatagram, LoadMonitor, type LoadSample, udpSocketStats } from './load-monitor.js';

export interface OverloadSettings extends Omit<AdmissionThresholds, 'sampleIntervalMs'> {
  enabled: boolean;
  sampleIntervalMs: number;
  retryAfterMaxSeconds: number;
}

export interface OverloadControlOptions {
  settings: OverloadSettings;
  t1Ms: number;
  logger: Logger;
  metrics?: { overloadState: Gauge; overloadAdmitRatio: Gauge; overloadShed: ShedCounter };
  pendingInvites: () => number;
  hasServerTransaction(branch: string, sentBy: string, method: string): boolean;
  isInside(flow: Flow): boolean;
  udpSockets: () => readonly UdpSocketRef[];
}

export class OverloadControl {
  readonly admission: Admission;
  readonly gate: AdmissionGate;
  readonly #monitor: LoadMonitor;
  readonly #enabled: boolean;

  constructor(o: OverloadControlOptions) {
    const s = o.settings;
    this.#enabled = s.enabled;
    // Disabled: the state is still followed (for excuses()), but nothing is shed, so nothing is reported.
    const metrics = s.enabled ? o.metrics : undefined;
    metrics?.overloadState.set(0);
    metrics?.overloadAdmitRatio.set(1);
    this.admission = new Admission({
      thresholds: s,
      logger: s.enabled ? o.logger : silentLogger(),
      onState: (state) => metrics?.overloadState.set(state === 'shedding' ? 1 : 0),
    });
    this.gate = new AdmissionGate({
      admission: this.admission,
      isInside: o.isInside,
      hasServerTransaction: o.hasServerTransaction,
      ...(metrics !== undefined ? { shed: metrics.overloadShed } : {}),
      t1Ms: o.t1Ms,
      retryAfterMaxSeconds: s.retryAfterMaxSeconds,
    });
    let lastRatio = 1;
    this.#monitor = new LoadMonitor({
      intervalMs: s.sampleIntervalMs,
      pendingInvites: o.pendingInvites,
      udpSockets: o.udpSockets,
      // The gate sees every datagram only when installed (enabled); otherwise no queue delay is estimated.
      ...(s.enabled ? { reads: () => this.gate.takeReads() } : {}),
      onSample: (sample) => {
        this.admission.update(sample);
        const ratio = this.admission.shedding ? this.admission.admitFraction : 1;
        if (ratio !== lastRatio) metrics?.overloadAdmitRatio.set(ratio);
        lastRatio = ratio;
      },
    });
  }

  get enabled(): boolean {
    return this.#enabled;
  }

  /**
   * Our own trouble since `since` could explain a backend's silence. Also
   * with `enabled: false`: that only turns shedding off, the load is still
   * watched so our lateness never marks a backend down.
   */
  excuses(since: number): boolean {
    return this.admission.excuses(since);
  }

  /** Start sampling (shedding only when enabled: the server installs the gate then). */
  start(): void {
    this.#monitor.start();
  }

  /** Idempotent. */
  close(): void {
    this.#monitor.close();
  }
}
