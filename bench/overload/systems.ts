/**
 * The two systems the overload bench loads one after the other, behind one
 * small interface: our gateway (a child process, probes off, otherwise the
 * defaults) and Kamailio 5.6 (bench/fixtures/kamailio-edge.cfg), each with
 * its own SIPp UAS on its own loopback address, and what can be read from
 * each while it runs: memory, kernel UDP drops at its port, and for the
 * gateway its /metrics.
 */
import { freePortInRange } from '../../test/helpers/free-port.js';
import { procCpuSeconds, procStatusKb, pssKb, udpDrops, withChildren } from '../load/children.js';
import { startSbcProcess, type SbcProcess } from '../load/sbc-process.js';
import { processGroup, startKamailioEdge, type KamailioEdge } from './kamailio-edge.js';
import { parsePromText, type Sample } from './prom-text.js';
import { startSippUas, type SippUas } from './sipp.js';

export type SystemName = 'gateway' | 'kamailio';

export interface MemoryReading {
  /** Resident set, kB, summed over all processes (the gateway's supervisor and workers, Kamailio's children): shared pages counted in every one. */
  rssKb: number;
  /** Proportional set, kB, summed over every process: shared pages counted once. */
  pssKb: number;
  /** The gateway's nodejs_heap_size_used_bytes (summed over its workers); undefined for Kamailio or when /metrics did not answer. */
  heapUsedBytes?: number;
}

export interface SystemUnderTest {
  name: SystemName;
  /** host:port the callers send to. */
  target: string;
  /** Local address for this system's callers. */
  callerHost: string;
  pid: number;
  /** /metrics, parsed (gateway only); undefined when it did not answer within `timeoutMs`. */
  scrape(timeoutMs: number): Promise<Sample[] | undefined>;
  /** Memory now; `heap` also asks the gateway's /metrics for its heap (slow when the gateway is busy). */
  memory(heap: boolean): Promise<MemoryReading>;
  /** CPU seconds (user + system) it has used so far, all its processes. */
  cpuSeconds(): Promise<number>;
  /** CPU seconds its SIPp UAS has used so far: when the UAS saturates a core, it is what limits the figures. */
  uasCpuSeconds(): Promise<number>;
  /** Datagrams the kernel dropped so far at its SIP port (receive buffer full). */
  udpDrops(): Promise<number>;
  /** Log lines saying a backend target went down, so far (gateway only). */
  backendDownLines(): string[];
  /** How it ended, when it is no longer running (e.g. out of memory). */
  exitStatus(): string | undefined;
  tail(): string[];
  stop(): Promise<void>;
}

const PORTS: [number, number] = [20000, 32000];
// Loopback addresses: each system's caller, proxy and UAS on their own.
export const ADDRESSES = {
  gateway: { caller: '127.0.0.11', uas: '127.0.0.12' },
  kamailio: { caller: '127.0.0.21', proxy: '127.0.0.20', uas: '127.0.0.22' },
} as const;

export interface GatewayOptions {
  workDir: string;
  /** Flags for node, e.g. --max-old-space-size=256. */
  nodeFlags?: string[];
  /** The `workers` key. @default the gateway's default (1) */
  workers?: number | 'auto';
  /** Another build's main.js to run (A/B comparisons). @default this checkout's */
  entry?: string;
  /** Write a V8 CPU profile into this directory when the gateway exits. */
  cpuProfileDir?: string;
}

/** The gateway with its own SIPp UAS; probes off (SIPp answers no OPTIONS), otherwise as sbc-process configures it. */
export async function startGateway(o: GatewayOptions): Promise<SystemUnderTest> {
  const uas = await startSippUas(ADDRESSES.gateway.uas, await freePortInRange(...PORTS));
  const downLines: string[] = [];
  let sbc: SbcProcess;
  try {
    sbc = await startSbcProcess({
      uasPort: uas.port,
      uasHost: uas.host,
      workDir: o.workDir,
      probeIntervalSeconds: 0,
      ...(o.nodeFlags !== undefined ? { nodeFlags: o.nodeFlags } : {}),
      ...(o.workers !== undefined ? { workers: o.workers } : {}),
      ...(o.entry !== undefined ? { entry: o.entry } : {}),
      ...(o.cpuProfileDir !== undefined ? { cpuProfileDir: o.cpuProfileDir } : {}),
      onLine: (line) => {
        if (/backend (target )?down/.test(line) && downLines.length < 100) downLines.push(line);
      },
    });
  } catch (err) {
    await uas.stop();
    throw err;
  }
  const running = sbc;
  const scrape = async (timeoutMs: number): Promise<Sample[] | undefined> => {
    try {
      const res = await fetch(`${running.adminUrl}/metrics`, { signal: AbortSignal.timeout(timeoutMs) });
      if (res.status !== 200) return undefined;
      return parsePromText(await res.text());
    } catch {
      return undefined;
    }
  };
  return {
    name: 'gateway',
    target: `127.0.0.1:${sbc.udpPort}`,
    callerHost: ADDRESSES.gateway.caller,
    pid: sbc.pid,
    scrape,
    memory: async (heap) => {
      const samples = heap ? await scrape(5000) : undefined;
      // With workers the series is per worker (label `worker`); the supervisor's own heap is not in it.
      const heaps = samples?.filter((s) => s.name === 'nodejs_heap_size_used_bytes') ?? [];
      const heapUsed = heaps.length === 0 ? undefined : heaps.reduce((sum, s) => sum + s.value, 0);
      const pids = await withChildren(running.pid);
      let rss = 0;
      for (const pid of pids) rss += (await procStatusKb(pid, 'VmRSS')) ?? 0;
      return { rssKb: rss, pssKb: await pssKb(pids), ...(heapUsed !== undefined ? { heapUsedBytes: heapUsed } : {}) };
    },
    cpuSeconds: async () => {
      // The supervisor and its workers (workers > 1).
      let total = 0;
      for (const pid of await withChildren(running.pid)) total += (await procCpuSeconds(pid)) ?? 0;
      return total;
    },
    uasCpuSeconds: async () => (await procCpuSeconds(uas.pid)) ?? 0,
    udpDrops: () => udpDrops(running.udpPort),
    backendDownLines: () => [...downLines],
    exitStatus: () => running.exitStatus(),
    tail: () => running.tail(),
    stop: async () => {
      await running.stop();
      await uas.stop();
    },
  };
}

/** Kamailio with its own SIPp UAS as the one dispatcher destination. */
export async function startKamailio(children: number): Promise<SystemUnderTest> {
  const uas: SippUas = await startSippUas(ADDRESSES.kamailio.uas, await freePortInRange(...PORTS));
  let edge: KamailioEdge;
  try {
    edge = await startKamailioEdge({ host: ADDRESSES.kamailio.proxy, port: await freePortInRange(...PORTS), destination: `${uas.host}:${uas.port}`, children });
  } catch (err) {
    await uas.stop();
    throw err;
  }
  const running = edge;
  let ended: string | undefined;
  return {
    name: 'kamailio',
    target: `${edge.host}:${edge.port}`,
    callerHost: ADDRESSES.kamailio.caller,
    pid: edge.pid,
    scrape: () => Promise.resolve(undefined),
    memory: async () => {
      const pids = await processGroup(running.pid);
      if (pids.length === 0) ended ??= 'gone';
      let rss = 0;
      for (const pid of pids) rss += (await procStatusKb(pid, 'VmRSS')) ?? 0;
      return { rssKb: rss, pssKb: await pssKb(pids) };
    },
    cpuSeconds: async () => {
      let total = 0;
      for (const pid of await processGroup(running.pid)) total += (await procCpuSeconds(pid)) ?? 0;
      return total;
    },
    uasCpuSeconds: async () => (await procCpuSeconds(uas.pid)) ?? 0,
    udpDrops: () => udpDrops(running.port),
    backendDownLines: () => [],
    exitStatus: () => ended,
    tail: () => running.tail(),
    stop: async () => {
      await running.stop();
      await uas.stop();
    },
  };
}
