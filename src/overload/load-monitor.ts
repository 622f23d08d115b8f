/**
 * Samples how loaded the process is, cheaply, on one unref'd timer:
 * event-loop delay (perf_hooks histogram, p99 and max per sample),
 * event-loop utilization, pending INVITE transactions, heap in use against
 * its limit (now, and what was left after the last full GC), and the kernel
 * receive queue and drops of our own UDP sockets (/proc/net/udp, read
 * asynchronously once a sample; absent on other systems). Nothing here runs
 * per message but a counter of what was read. The kernel queue is the one
 * signal of time spent waiting before Node even sees a datagram; divided by
 * how fast we read datagrams it says how long one arriving now will wait.
 */
import { readFile } from 'node:fs/promises';
import { constants as perfConstants, monitorEventLoopDelay, performance, PerformanceObserver, type EventLoopUtilization, type IntervalHistogram } from 'node:perf_hooks';
import { getHeapSpaceStatistics, getHeapStatistics } from 'node:v8';

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
  /** JS heap in use / heap size limit, 0–1 (garbage included). */
  heapFraction: number;
  /**
   * Old generation in use right after the last full (mark-sweep) GC over its
   * limit (--max-old-space-size), 0–1: what is really alive, against what
   * kills the process when full; 0 before the first full GC.
   */
  heapLiveFraction: number;
  /** Bytes waiting in the kernel receive queues of our UDP sockets (last read); 0 when unreadable. */
  udpQueuedBytes: number;
  /** Datagrams the kernel dropped on our UDP sockets (full receive buffer) since the previous sample; 0 when unreadable. */
  udpDrops: number;
  /**
   * How long a datagram arriving now waits in the kernel receive queue before
   * we read it, estimated, ms: the datagrams queued (bytes / the kernel's
   * bytes per datagram of the size we read) over the rate we read them at in
   * this sample. 0 without a queue; the whole sample when nothing was read.
   */
  queueDelayMs: number;
  /** Datagrams waiting in the kernel receive queues (bytes / the kernel's bytes per datagram), estimated. */
  queuedDatagrams: number;
  /** UDP datagrams we read during this sample. */
  datagramsRead: number;
  /** Length of the sample, ms. */
  elapsedMs: number;
}

/** Messages read since the last call (the admission gate counts them). */
export interface ReadCounts {
  datagrams: number;
  bytes: number;
}

export interface LoadMonitorOptions {
  intervalMs: number;
  /** Pending INVITE transactions now (server and client, not the completed ones in their wait timers). */
  pendingInvites: () => number;
  onSample: (sample: LoadSample) => void;
  /** Our UDP sockets (local port, and inode where others share the port), whose kernel queues and drops are read. */
  udpSockets?: () => readonly UdpSocketRef[];
  /** Where those are read. @default ['/proc/net/udp', '/proc/net/udp6'] */
  udpFiles?: readonly string[];
  /** UDP datagrams read since the previous call; without it the queue delay is not estimated (0). */
  reads?: () => ReadCounts;
}

/** The heap is looked at every few samples: getHeapStatistics is cheap but not free. */
const HEAP_EVERY = 2;
/** Pending INVITEs are counted by walking the live transactions: every few samples only. */
const PENDING_EVERY = 5;
/**
 * V8's heap size limit is the old generation's (--max-old-space-size) plus
 * this for the young one (3 × the 16 MiB semi-space on 64-bit Node 20):
 * 304 MiB for --max-old-space-size=256.
 */
const YOUNG_GENERATION_BYTES = 48 * 1024 * 1024;

/** Old generation in use now over its limit (see YOUNG_GENERATION_BYTES), 0–1. */
export function oldGenerationFraction(): number {
  let used = 0;
  for (const space of getHeapSpaceStatistics()) {
    if (space.space_name !== 'new_space' && space.space_name !== 'new_large_object_space') used += space.space_used_size;
  }
  const limit = getHeapStatistics().heap_size_limit;
  const oldLimit = Math.max(limit / 2, limit - YOUNG_GENERATION_BYTES);
  return oldLimit > 0 ? used / oldLimit : 0;
}

/** The estimate never says more than this, ms. */
const MAX_QUEUE_DELAY_MS = 10_000;

/**
 * Bytes the Linux kernel charges a receive queue for one datagram of `len`
 * bytes (skb truesize): the payload, headers and shared info rounded up to a
 * power of two, plus the sk_buff. Measured on loopback: 1,280 for 400 bytes,
 * 2,304 for 700–1,400.
 */
export function kernelBytesPerDatagram(len: number): number {
  const need = Math.max(64, Math.ceil(len) + 420);
  return 2 ** (32 - Math.clz32(need - 1)) + 256;
}

/** Datagrams behind `queuedBytes` of kernel accounting, judging by the size of those read lately. */
export function estimateQueuedDatagrams(queuedBytes: number, reads: ReadCounts): number {
  if (queuedBytes <= 0) return 0;
  return queuedBytes / kernelBytesPerDatagram(reads.datagrams > 0 ? reads.bytes / reads.datagrams : 700);
}

/** Estimated wait of a datagram arriving now behind `queuedBytes`, read at `reads` over `elapsedMs`, ms. */
export function estimateQueueDelayMs(queuedBytes: number, reads: ReadCounts, elapsedMs: number): number {
  if (queuedBytes <= 0) return 0;
  if (reads.datagrams <= 0) return Math.min(MAX_QUEUE_DELAY_MS, Math.max(elapsedMs, 0));
  return Math.min(MAX_QUEUE_DELAY_MS, (estimateQueuedDatagrams(queuedBytes, reads) * Math.max(elapsedMs, 1)) / reads.datagrams);
}

export class LoadMonitor {
  readonly #o: LoadMonitorOptions;
  readonly #histogram: IntervalHistogram;
  #elu: EventLoopUtilization;
  #timer: NodeJS.Timeout | undefined;
  #ticks = 0;
  #heapFraction = 0;
  #pendingInvites = 0;
  #heapLimit = getHeapStatistics().heap_size_limit;
  #heapLive = 0;
  #gcObserver: PerformanceObserver | undefined;
  #lastAt = 0;
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
    this.#lastAt = performance.now();
    this.#o.reads?.();
    // After a full GC the heap in use is what is alive: read it then (full GCs are rare, the read is cheap).
    this.#gcObserver = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        const kind = (e as { detail?: { kind?: number } }).detail?.kind;
        if (kind === perfConstants.NODE_PERFORMANCE_GC_MAJOR) {
          this.#heapLive = oldGenerationFraction();
          break;
        }
      }
    });
    this.#gcObserver.observe({ entryTypes: ['gc'] });
    this.#timer = setInterval(() => this.#tick(), this.#o.intervalMs);
    this.#timer.unref();
  }

  /** Idempotent. */
  close(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#gcObserver?.disconnect();
    this.#gcObserver = undefined;
    this.#histogram.disable();
    this.#udpFiles = [];
  }

  /** Read the kernel queues first, then sample: the queue and the read counts then cover the same time. */
  #tick(): void {
    // A read still under way (a very busy loop): this tick is folded into the next sample.
    if (this.#udpReading) return;
    if (!this.#readUdp(() => this.#sample())) this.#sample();
  }

  #sample(): void {
    if (this.#timer === undefined) return;
    const now = performance.now();
    const elapsed = now - this.#lastAt;
    this.#lastAt = now;
    const reads = this.#o.reads?.();
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
    const udpDrops = this.#udpDrops;
    this.#udpDrops = 0;
    this.#o.onSample({
      at: now,
      loopDelayMs,
      loopMaxMs,
      elu: elu.utilization,
      pendingInvites: this.#pendingInvites,
      heapFraction: this.#heapFraction,
      heapLiveFraction: this.#heapLive,
      udpQueuedBytes: this.#udpQueued,
      udpDrops,
      queueDelayMs: reads === undefined ? 0 : estimateQueueDelayMs(this.#udpQueued, reads, elapsed),
      queuedDatagrams: reads === undefined ? 0 : estimateQueuedDatagrams(this.#udpQueued, reads),
      datagramsRead: reads?.datagrams ?? 0,
      elapsedMs: elapsed,
    });
  }

  /** Start reading the kernel's UDP tables, `then` when done; false when there is nothing to read. */
  #readUdp(then: () => void): boolean {
    const ports = this.#o.udpSockets?.() ?? [];
    if (ports.length === 0 || this.#udpFiles.length === 0) return false;
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
      then();
    });
    return true;
  }
}

/** Value of a hex digit, -1 for any other character. */
function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const l = c | 0x20;
  return l >= 97 && l <= 102 ? l - 87 : -1;
}

/** The port of the local_address column (`sl: ADDR:PORT …`, hex) of the line text[from, to); NaN when it has none. */
function localPortAt(text: string, from: number, to: number): number {
  let p = from;
  while (p < to && text.charCodeAt(p) <= 32) p++;
  while (p < to && text.charCodeAt(p) > 32) p++; // sl
  while (p < to && text.charCodeAt(p) <= 32) p++;
  const start = p;
  while (p < to && text.charCodeAt(p) > 32) p++;
  const colon = text.lastIndexOf(':', p - 1);
  let q = colon >= start ? colon + 1 : start;
  let port = 0;
  let digits = 0;
  for (; q < p; q++, digits++) {
    const v = hexValue(text.charCodeAt(q));
    if (v < 0) break;
    port = port * 16 + v;
  }
  return digits === 0 ? NaN : port;
}

/** One of our UDP sockets: its local port, and its inode when sockets of other processes share the port (SO_REUSEPORT). */
export interface UdpSocketRef {
  port: number;
  inode?: number | undefined;
}

/**
 * Receive-queue bytes and drop counts of `sockets`, from the text of
 * /proc/net/udp or /proc/net/udp6 (columns: sl local rem st
 * tx_queue:rx_queue tr:tm retrnsmt uid timeout inode ref pointer drops;
 * addresses and queues in hex). undefined when none is listed.
 */
export function udpSocketStats(text: string, sockets: readonly UdpSocketRef[]): { queuedBytes: number; drops: number } | undefined {
  let queuedBytes = 0;
  let drops = 0;
  let found = false;
  let pos = text.indexOf('\n') + 1; // skip the header line
  while (pos > 0 && pos < text.length) {
    let end = text.indexOf('\n', pos);
    if (end < 0) end = text.length;
    const lineStart = pos;
    pos = end + 1;
    // Most lines are other processes' sockets (thousands on a busy host): their
    // local port is read in place, and only our ports' lines are split.
    const linePort = localPortAt(text, lineStart, end);
    if (!sockets.some((s) => s.port === linePort)) continue;
    const cols = text.slice(lineStart, end).trim().split(/\s+/);
    const local = cols[1];
    const queues = cols[4];
    const dropText = cols[12];
    if (local === undefined || queues === undefined) continue;
    const port = parseInt(local.slice(local.lastIndexOf(':') + 1), 16);
    if (!isOurs(sockets, port, cols[9])) continue;
    const rx = parseInt(queues.slice(queues.indexOf(':') + 1), 16);
    found = true;
    if (Number.isFinite(rx)) queuedBytes += rx;
    const d = Number(dropText);
    if (Number.isFinite(d)) drops += d;
  }
  return found ? { queuedBytes, drops } : undefined;
}

function isOurs(sockets: readonly UdpSocketRef[], port: number, inodeText: string | undefined): boolean {
  for (const s of sockets) {
    if (s.port !== port) continue;
    if (s.inode === undefined || String(s.inode) === inodeText) return true;
  }
  return false;
}
