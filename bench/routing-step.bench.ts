/**
 * CPU per decision of the routing step alone, in this process: a trivial
 * routing.script (one relay decision) on the event loop and in a worker
 * thread, over fresh parsed INVITEs, the way the pipeline calls it (view,
 * run, check, apply, promise). process.cpuUsage() counts every thread of the
 * process, so the worker's own thread is in the figure. Per CPU-second, so a
 * busy machine skews it less than wall time.
 * Prints one JSON line: { eventLoopUs, workerUs, decisions }.
 * Run: node dist/bench/routing-step.bench.js
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMetrics } from '../src/admin/metrics.js';
import { silentLogger } from '../src/log/logger.js';
import { CallRouter, type RoutingLogic } from '../src/routing/call-router.js';
import type { Dispatcher } from '../src/routing/dispatcher.js';
import { RouteRules } from '../src/routing/route-rules.js';
import { WorkerScript } from '../src/routing/script/worker-runner.js';
import type { SipRequest } from '../src/sip/message.js';
import { parseMessage } from '../src/sip/parser.js';
import type { ServerTransaction } from '../src/transaction/index.js';
import type { Flow } from '../src/transport/flow.js';

const INVITE = Buffer.from([
  'INVITE sip:0049301234@example.com SIP/2.0', 'Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds;rport', 'Max-Forwards: 70',
  'From: "Alice" <sip:alice@example.com>;tag=1928301774', 'To: <sip:0049301234@example.com>', 'Call-ID: a84b4c76e66710@pc33', 'CSeq: 314159 INVITE',
  'Contact: <sip:alice@192.0.2.1:5060>', 'User-Agent: bench', 'Content-Type: application/sdp', 'Content-Length: 0', '', '',
].join('\r\n'));
const SCRIPT = `export default function route(request) {\n  return { relay: { group: 'default' } };\n}\n`;
const N = 20_000;
/** In flight at once, as under load. */
const BATCH = 50;

const dispatcher = { hasGroup: () => true } as unknown as Dispatcher;
const flow = { remote: { address: '192.0.2.1', port: 5060, family: 'IPv4' }, transport: 'udp' } as unknown as Flow;

async function cpuPerDecision(logic: RoutingLogic): Promise<number> {
  const router = new CallRouter(logic, { dispatcher, logger: silentLogger(), metrics: createMetrics(), authenticates: false });
  const run = async (count: number): Promise<number> => {
    const reqs: SipRequest[] = [];
    for (let i = 0; i < count; i++) {
      const r = parseMessage(INVITE);
      if (!r.ok || r.value.kind !== 'request') throw new Error('fixture does not parse');
      reqs.push(r.value);
    }
    const c0 = process.cpuUsage();
    for (let i = 0; i < count; i += BATCH) {
      await Promise.all(reqs.slice(i, i + BATCH).map((req) => router.decide({} as ServerTransaction, req, flow, false).then((v) => {
        if (v.kind !== 'route') throw new Error(`unexpected verdict ${JSON.stringify(v)}`);
      })));
    }
    const c = process.cpuUsage(c0);
    return (c.user + c.system) / count;
  };
  await run(N / 4); // warm-up
  const rounds = [await run(N), await run(N), await run(N)].sort((a, b) => a - b);
  return Math.round(rounds[1]! * 100) / 100;
}

const dir = mkdtempSync(join(tmpdir(), 'sbc-routing-bench-'));
try {
  const file = join(dir, 'route.mjs');
  writeFileSync(file, SCRIPT);
  const { default: route } = (await import(file)) as { default: NonNullable<RoutingLogic['script']> extends infer S ? S extends { route: infer F } ? F : never : never };
  const rules = new RouteRules([]);
  const eventLoopUs = await cpuPerDecision({ rules, script: { kind: 'event-loop', route }, timeoutMs: 1000, http: undefined });
  const started = await WorkerScript.start(file, silentLogger());
  if (!started.ok) throw new Error(started.error);
  let workerUs: number;
  try {
    workerUs = await cpuPerDecision({ rules, script: { kind: 'worker', thread: started.script }, timeoutMs: 1000, http: undefined });
  } finally {
    started.script.close();
  }
  process.stdout.write(`${JSON.stringify({ eventLoopUs, workerUs, decisions: N })}\n`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
