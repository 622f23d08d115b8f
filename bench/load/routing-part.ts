/**
 * What operator routing costs per call: the same INVITE..BYE ramp through
 * four fresh SBCs in one run — no routing logic, a trivial routing.script
 * (one relay decision per call, so the request view, the call, the decision
 * check and its application are all paid) on the event loop and in a worker
 * thread (routing.isolation: worker), and a routing.http service on
 * loopback (keep-alive) answering the same decision — plus the round trip of
 * one HTTP decision measured alone.
 */
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { best, formatStep, ramp, runStep, type StepResult } from './ramp.js';
import { startSbcProcess, type SbcProcess } from './sbc-process.js';

export interface RoutingVariantResult {
  name: 'none' | 'script' | 'script-worker' | 'http';
  steps: StepResult[];
  best: StepResult | undefined;
}

export interface RoutingBenchResult {
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
  try {
    const url = `http://127.0.0.1:${(service.address() as AddressInfo).port}/route`;
    const variants: RoutingVariantResult[] = [];
    for (const [name, routing] of [['none', undefined], ['script', { script }], ['script-worker', { script, isolation: 'worker' }], ['http', { http: { url, timeoutMs: 1000 } }]] as const) {
      variants.push(await variant(o, name, routing));
    }
    return { variants, httpDecision: await decisionRoundTrip(url, o.quick ? 500 : 3000) };
  } finally {
    service.closeAllConnections();
    await new Promise((r) => service.close(r));
  }
}

async function variant(o: RoutingBenchOptions, name: RoutingVariantResult['name'], routing: Record<string, unknown> | undefined): Promise<RoutingVariantResult> {
  let sbc: SbcProcess | undefined;
  try {
    sbc = await startSbcProcess({ uasPort: o.uasPort, workDir: o.workDir, ...(routing !== undefined ? { routing } : {}) });
    const label = `routing ${name}`;
    o.log(`${label}: SBC pid ${sbc.pid} udp 127.0.0.1:${sbc.udpPort}`);
    const base = { mode: 'call' as const, label, target: { host: '127.0.0.1', port: sbc.udpPort }, workers: o.workers, timeoutMs: 5000, log: o.log };
    const warm = await runStep({ ...base, durationS: o.quick ? 1 : 2 }, Math.min(o.rates[0] ?? 250, 500));
    o.log(formatStep(`${label} warm-up (not counted)`, warm));
    await new Promise((r) => setTimeout(r, 1000));
    const steps = await ramp({ ...base, rates: o.rates, durationS: o.stepS, sbcPid: sbc.pid, sbcUdpPort: sbc.udpPort });
    const top = best(steps);
    if (top === undefined) o.log(`${label}: no step passed; the SBC's last lines:\n${sbc.tail().slice(-8).join('\n')}`);
    return { name, steps, best: top };
  } finally {
    await sbc?.stop();
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
