/**
 * What operator routing costs per call, four SBCs in one run: no routing
 * logic, a trivial routing.script (one relay decision per call, so the
 * request view, the call, the decision check and its application are all
 * paid) on the event loop and in a worker thread (routing.isolation:
 * worker), and a routing.http service on loopback (keep-alive) answering
 * the same decision.
 *   cpu   rounds at one fixed rate, the variants interleaved (none, script,
 *         worker, http, none, …): the SBC's own CPU seconds per completed
 *         call, from /proc, over the whole step and its drain. On a shared
 *         machine this is the steady figure; the ramp's calls/s is not.
 *   ramp  the calls ramp per variant (best calls/s that passed).
 *   http  one HTTP decision's round trip measured alone.
 */
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { procCpuSeconds } from './children.js';
import { best, formatStep, ramp, runStep, type StepResult } from './ramp.js';
import { startSbcProcess, type SbcProcess } from './sbc-process.js';

export type RoutingVariantName = 'none' | 'script' | 'script-worker' | 'http';

export interface RoutingVariantResult {
  name: RoutingVariantName;
  steps: StepResult[];
  best: StepResult | undefined;
  /** SBC CPU per completed call in each interleaved round at `cpuRate`, µs. */
  cpuUsPerCall: number[];
  /** Failed calls across those rounds (a round with failures is not counted). */
  cpuRoundFailures: number;
}

export interface RoutingBenchResult {
  cpuRate: number;
  variants: RoutingVariantResult[];
  /** One HTTP decision from the bench process to the service, sequential, keep-alive. */
  httpDecision?: { count: number; p50Us: number; p99Us: number };
}

export interface RoutingBenchOptions {
  rates: readonly number[];
  stepS: number;
  workers: number;
  workDir: string;
  uasPort: number;
  quick: boolean;
  log: (line: string) => void;
}

/** The trivial script: one decision per call, to the group the SBC would pick anyway. */
const TRIVIAL_SCRIPT = `export default function route(request) {\n  return { relay: { group: 'default' } };\n}\n`;
const DECISION = JSON.stringify({ relay: { group: 'default' } });

export async function routingBench(o: RoutingBenchOptions): Promise<RoutingBenchResult> {
  const script = join(o.workDir, 'bench-route.mjs');
  writeFileSync(script, TRIVIAL_SCRIPT);
  const service = await startService();
  const url = `http://127.0.0.1:${(service.address() as AddressInfo).port}/route`;
  const configs: Array<[RoutingVariantName, Record<string, unknown> | undefined]> = [
    ['none', undefined], ['script', { script }], ['script-worker', { script, isolation: 'worker' }], ['http', { http: { url, timeoutMs: 1000 } }],
  ];
  const sbcs = new Map<RoutingVariantName, SbcProcess>();
  try {
    for (const [name, routing] of configs) {
      const sbc = await startSbcProcess({ uasPort: o.uasPort, workDir: o.workDir, ...(routing !== undefined ? { routing } : {}) });
      sbcs.set(name, sbc);
      o.log(`routing ${name}: SBC pid ${sbc.pid} udp 127.0.0.1:${sbc.udpPort}`);
    }
    const base = (name: RoutingVariantName) => ({ mode: 'call' as const, label: `routing ${name}`, target: { host: '127.0.0.1', port: sbcs.get(name)!.udpPort }, workers: o.workers, timeoutMs: 5000, log: o.log });
    for (const [name] of configs) {
      const warm = await runStep({ ...base(name), durationS: o.quick ? 1 : 2 }, 300);
      o.log(formatStep(`routing ${name} warm-up (not counted)`, warm));
    }
    // Interleaved rounds at one rate every variant takes even on a busy machine.
    const cpuRate = o.quick ? 300 : 500;
    const rounds = o.quick ? 2 : 4;
    const cpu = new Map<RoutingVariantName, { us: number[]; failures: number }>(configs.map(([n]) => [n, { us: [], failures: 0 }]));
    for (let round = 0; round < rounds; round++) {
      for (const [name] of configs) {
        const pid = sbcs.get(name)!.pid;
        const before = await procCpuSeconds(pid);
        const step = await runStep({ ...base(name), durationS: o.stepS }, cpuRate);
        const after = await procCpuSeconds(pid);
        const c = cpu.get(name)!;
        const us = step.failed > 0 || before === undefined || after === undefined ? undefined : Math.round(((after - before) * 1e6) / step.ok);
        if (us === undefined) c.failures += step.failed;
        else c.us.push(us);
        o.log(`routing ${name} cpu round ${round + 1}: ${us ?? '- (not counted)'} µs SBC CPU per call (${step.ok} ok, ${step.failed} failed, load ${step.load1})`);
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    const variants: RoutingVariantResult[] = [];
    for (const [name] of configs) {
      const sbc = sbcs.get(name)!;
      const steps = await ramp({ ...base(name), rates: o.rates, durationS: o.stepS, sbcPid: sbc.pid, sbcUdpPort: sbc.udpPort });
      const top = best(steps);
      if (top === undefined) o.log(`routing ${name}: no ramp step passed; the SBC's last lines:\n${sbc.tail().slice(-4).join('\n')}`);
      const c = cpu.get(name)!;
      variants.push({ name, steps, best: top, cpuUsPerCall: c.us, cpuRoundFailures: c.failures });
      // The others sit idle while one ramps; stop this one so it does not either.
      await sbc.stop();
      sbcs.delete(name);
    }
    return { cpuRate, variants, httpDecision: await decisionRoundTrip(url, o.quick ? 500 : 3000) };
  } finally {
    for (const sbc of sbcs.values()) await sbc.stop();
    service.closeAllConnections();
    await new Promise((r) => service.close(r));
  }
}

function startService(): Promise<Server> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      res.end(DECISION);
    });
  });
  server.keepAliveTimeout = 30_000;
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

/** The service's round trip as the SBC sees it: POST a request-sized JSON body, read the decision. */
async function decisionRoundTrip(url: string, count: number): Promise<RoutingBenchResult['httpDecision']> {
  const body = JSON.stringify({
    method: 'INVITE', ruri: { user: '0049301234', host: 'example.com', params: {} }, from: { user: 'alice', host: 'example.com' }, to: { user: 'bob', host: 'example.com' },
    callId: 'a84b4c76e66710', source: { address: '127.0.0.1', port: 5060, transport: 'udp' }, fromInside: false,
    headers: { via: ['SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK776asdhds'], 'max-forwards': ['70'], 'content-type': ['application/sdp'] },
  });
  const times: number[] = [];
  for (let i = 0; i < count + 100; i++) {
    const t = performance.now();
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    await res.text();
    if (i >= 100) times.push((performance.now() - t) * 1000);
  }
  times.sort((a, b) => a - b);
  return { count, p50Us: Math.round(times[Math.floor(count * 0.5)]!), p99Us: Math.round(times[Math.floor(count * 0.99)]!) };
}
