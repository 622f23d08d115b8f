/**
 * Samples how loaded the process is, cheaply, on one unref'd timer:
 * event-loop delay (perf_hooks histogram, p99 and max per sample),
 * event-loop utilization, pending INVITE transactions, heap in use against
 * its limit, and the kernel receive queue and drops of our own UDP sockets
 * (/proc/net/udp, read asynchronously once a sample; absent on other
 * systems). Nothing here runs per message. The kernel queue is the one
 * signal of time spent waiting before Node even sees a datagram.
 */
import { readFile } from 'node:fs/promises';
import { monitorEventLoopDelay, performance, type EventLoopUtilization, type IntervalHistogram } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';

/** One sample of the load signals. */
export interface LoadSample {
  /** performance.now() when taken. */
  at: number;
  /** 99th percentile event-loop delay over the sample, ms. */
  loopDelayMs: number;
  /** Longest event-loop delay over the sample, ms. */
  loopMaxMs: number;
  /** Event-loop utilization over the sample, 0–1. */
  elu: number;
  /** INVITE transactions without a final response yet. */
  pendingInvites: number;
  /** JS heap in use / heap size limit, 0–1. */
  heapFraction: number;
  /** Bytes waiting in the kernel receive queues of our UDP sockets (last read); 0 when unreadable. */
  udpQueuedBytes: number;
  /** Datagrams the kernel dropped on our UDP sockets (full receive buffer) since the previous sample; 0 when unreadable. */
  udpDrops: number;
}

export interface LoadMonitorOptions {
  intervalMs: number;
  /** Pending INVITE transactions now (server and client, not the completed ones in their wait timers). */
  pendingInvites: () => number;
  onSample: (sample: LoadSample) => void;
  /** Local ports of our UDP sockets, whose kernel queues and drops are read. */
  udpPorts?: () => readonly number[];
  /** Where those are read. @default ['/proc/net/udp', '/proc/net/udp6'] */
  udpFiles?: readonly string[];
}

/** The heap is looked at every few samples: getHeapStatistics is cheap but not free. */
const HEAP_EVERY = 2;
/** Pending INVITEs are counted by walking the live transactions: every few samples only. */
const PENDING_EVERY = 5;

export class LoadMonitor {
  readonly #o: LoadMonitorOptions;
  readonly #histogram: IntervalHistogram;
  #elu: EventLoopUtilization;
  #timer: NodeJS.Timeout | undefined;
  #ticks = 0;
  #heapFraction = 0;
  #pendingInvites = 0;
  #heapLimit = getHeapStatistics().heap_size_limit;
  #udpFiles: readonly string[];
  #udpReading = false;
  #udpQueued = 0;
  #udpDropsTotal: number | undefined;
  #udpDrops = 0;

  constructor(options: LoadMonitorOptions) {
    this.#o = options;
    this.#udpFiles = options.udpFiles ?? ['/proc/net/udp', '/proc/net/udp6'];
    // 10 ms resolution: finer costs more and the thresholds are tens of ms.
    this.#histogram = monitorEventLoopDelay({ resolution: 10 });
    this.#elu = performance.eventLoopUtilization();
  }

  start(): void {
    if (this.#timer !== undefined) return;
    this.#histogram.enable();
    this.#elu = performance.eventLoopUtilization();
    this.#timer = setInterval(() => this.#sample(), this.#o.intervalMs);
    this.#timer.unref();
  }

  /** Idempotent. */
  close(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#histogram.disable();
    this.#udpFiles = [];
  }

  #sample(): void {
    const now = performance.now();
    const h = this.#histogram;
    // The histogram reports ns; an empty one (no full resolution tick yet) reports huge minimums, so use count.
    const loopDelayMs = h.count > 0 ? h.percentile(99) / 1e6 : 0;
    const loopMaxMs = h.count > 0 ? h.max / 1e6 : 0;
    h.reset();
    const elu = performance.eventLoopUtilization(this.#elu);
    this.#elu = performance.eventLoopUtilization();
    const tick = this.#ticks++;
    if (tick % PENDING_EVERY === 0) this.#pendingInvites = this.#o.pendingInvites();
    if (tick % HEAP_EVERY === 0) {
      const heap = getHeapStatistics();
      this.#heapLimit = heap.heap_size_limit;
      this.#heapFraction = this.#heapLimit > 0 ? heap.used_heap_size / this.#heapLimit : 0;
    }
    // Read asynchronously; this sample reports what the previous read found.
    if (!this.#udpReading) this.#readUdp();
    const udpDrops = this.#udpDrops;
    this.#udpDrops = 0;
    this.#o.onSample({
      at: now,
      loopDelayMs,
      loopMaxMs,
      elu: elu.utilization,
      pendingInvites: this.#pendingInvites,
      heapFraction: this.#heapFraction,
      udpQueuedBytes: this.#udpQueued,
      udpDrops,
    });
  }

  #readUdp(): void {
    const ports = this.#o.udpPorts?.() ?? [];
    if (ports.length === 0 || this.#udpFiles.length === 0) return;
    this.#udpReading = true;
    Promise.all(this.#udpFiles.map((f) => readFile(f, 'latin1').catch(() => ''))).then((texts) => {
      let queued = 0;
      let drops = 0;
      let seen = false;
      for (const text of texts) {
        const r = udpSocketStats(text, ports);
        if (r === undefined) continue;
        seen = true;
        queued += r.queuedBytes;
        drops += r.drops;
      }
      if (!seen) {
        if (texts.every((t) => t === '')) this.#udpFiles = []; // not Linux: stop trying
        return;
      }
      this.#udpQueued = queued;
      if (this.#udpDropsTotal !== undefined && drops >= this.#udpDropsTotal) this.#udpDrops += drops - this.#udpDropsTotal;
      this.#udpDropsTotal = drops;
    }).finally(() => {
      this.#udpReading = false;
    });
  }
}

/**
 * Receive-queue bytes and drop counts of the sockets bound to `ports`, from
 * the text of /proc/net/udp or /proc/net/udp6 (columns: sl local rem st
 * tx_queue:rx_queue … drops; addresses and queues in hex). undefined when
 * none of the ports is listed.
 */
export function udpSocketStats(text: string, ports: readonly number[]): { queuedBytes: number; drops: number } | undefined {
  let queuedBytes = 0;
  let drops = 0;
  let found = false;
  let pos = text.indexOf('\n') + 1; // skip the header line
  while (pos > 0 && pos < text.length) {
    let end = text.indexOf('\n', pos);
    if (end < 0) end = text.length;
    const cols = text.slice(pos, end).trim().split(/\s+/);
    pos = end + 1;
    const local = cols[1];
    const queues = cols[4];
    const dropText = cols[12];
    if (local === undefined || queues === undefined) continue;
    const port = parseInt(local.slice(local.lastIndexOf(':') + 1), 16);
    if (!ports.includes(port)) continue;
    const rx = parseInt(queues.slice(queues.indexOf(':') + 1), 16);
    found = true;
    if (Number.isFinite(rx)) queuedBytes += rx;
    const d = Number(dropText);
    if (Number.isFinite(d)) drops += d;
  }
  return found ? { queuedBytes, drops } : undefined;
}
