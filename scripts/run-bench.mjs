// npm run bench: the SIP parse bench, then the load benches (calls, REGISTER,
// re-REGISTER, WSS flows) against the SBC as a child process, then a summary
// table saying which targets were met. WSS figures come with the floor beside
// them: bare Node TLS + ws in the same run, what the platform costs alone.
// It reports; it exits 0 even when a target is missed (1 only when the
// benches could not run at all).
// The overload part (bench/overload) runs SIPp step loads through the SBC and,
// in the same run, through Kamailio 5.6, and prints them side by side.
// The embedded media part (bench/media/embedded-media) runs concurrent calls
// through the SBC's own relay at 50 packets/s each way, with rtpengine carrying
// the same calls beside it.
// The routing part runs the calls ramp with no routing logic, a trivial routing.script and a
// routing.http service on loopback, one fresh SBC each, and times one HTTP decision alone.
// The workers part (bench/overload/workers.ts; not in the default run: about 10 minutes) measures the
// clean rate (SIPp calls/s, every call answered within 2 s) of the gateway with workers 1, 2 and auto
// and of Kamailio in the same run; target: workers auto >= 1.2x Kamailio. Run it with --only workers.
// Usage: node scripts/run-bench.mjs [--quick] [--only parse,calls,routing,register,refresh,media,wss,overload,embedded-media,workers]
//          [--wss-clients N] [--workers N] [--profile DIR]
//          [--gateway-workers N|auto]  calls, register, refresh and wss parts: the SBC runs `workers: N`
//                                    (--workers stays the number of generator processes)
//          [--sbc-udp-rcvbuf BYTES]  what-if: SBC UDP sockets get this receive buffer (not the SBC as shipped)
//          [--capacity N]            overload: the SBC's clean rate, instead of measuring it
//          [--heap-search]           overload: the highest rate for 5 minutes with --max-old-space-size=256 goes on down a quarter at a time
//                                    (by default C, then 0.75 C: two runs at most, about 11 minutes)
//          [--heap-rate N]           overload: only that rate for 5 minutes with --max-old-space-size=256
//          [--skip-heap]             overload: no 256 MB runs
// Needs `npm run build` first (npm run bench does it).
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const root = resolve(import.meta.dirname, '..');
const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    'wss-clients': { type: 'string' },
    workers: { type: 'string' },
    'gateway-workers': { type: 'string' },
    profile: { type: 'string' },
    'sbc-udp-rcvbuf': { type: 'string' },
    capacity: { type: 'string' },
    'heap-search': { type: 'boolean', default: false },
    'heap-rate': { type: 'string' },
    'skip-heap': { type: 'boolean', default: false },
  },
});

// --only: which parts run. parse and the load parts as before; overload is its own runner.
const LOAD_PARTS = ['calls', 'routing', 'register', 'refresh', 'media', 'wss'];
const only = values.only === undefined ? undefined : new Set(values.only.split(','));
const runParse = only === undefined || only.has('parse') || [...only].some((p) => LOAD_PARTS.includes(p));
const loadParts = only === undefined ? undefined : [...only].filter((p) => LOAD_PARTS.includes(p));
const runLoad = loadParts === undefined || loadParts.length > 0;
const runOverload = only === undefined || only.has('overload');
const runEmbeddedMedia = only === undefined || only.has('embedded-media');
// About 10 minutes (four systems, each ramped and confirmed on a fresh process): asked for by name only.
const runWorkers = only !== undefined && only.has('workers');

const TARGETS = { workersVsKamailio: 1.2, routingScriptCostPercent: 5, callsPerSecond: 1500, mediaCallsPerSecond: 800, mediaAddedP50Ms: 3, registersPerSecond: 5000, wssFlows: 10_000, bytesPerWssFlow: 20 * 1024, embeddedCalls: 150 };

const parseBench = join(root, 'dist', 'bench', 'sip-parse.bench.js');
const routingStepBench = join(root, 'dist', 'bench', 'routing-step.bench.js');
const loadBench = join(root, 'dist', 'bench', 'load', 'run.js');
const overloadBench = join(root, 'dist', 'bench', 'overload', 'run.js');
const embeddedMediaBench = join(root, 'dist', 'bench', 'media', 'embedded-media.js');
const workersBench = join(root, 'dist', 'bench', 'overload', 'workers.js');
const profileTop = join(root, 'dist', 'bench', 'load', 'profile-top.js');
for (const f of [parseBench, routingStepBench, loadBench, overloadBench, embeddedMediaBench, workersBench]) {
  if (!existsSync(f)) {
    console.error(`missing ${f}: run \`npm run build\` first (npm run bench does)`);
    process.exit(1);
  }
}

/** Run node with `args`; stderr passes through, stdout is returned (and echoed when `echo`). */
function node(args, echo) {
  return new Promise((resolveRun) => {
    const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      if (echo) process.stdout.write(d);
    });
    child.on('close', (code) => resolveRun({ code, out }));
  });
}

/**
 * The overload part's peers: SIPp (Debian sip-tester) and Kamailio. As root
 * missing packages are installed with apt-get (as scripts/ensure-peers.mjs
 * does for the test peers); otherwise a message names them. Returns the
 * reason the part cannot run, or undefined.
 */
function ensureOverloadPeers() {
  const peers = { 'sip-tester': '/usr/bin/sipp', kamailio: '/usr/sbin/kamailio' };
  const missing = () => Object.entries(peers).filter(([, bin]) => !existsSync(bin)).map(([pkg]) => pkg);
  if (missing().length === 0) return undefined;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!isRoot) return `missing bench peers: ${missing().join(', ')}. Install them with: sudo apt-get install -y ${missing().join(' ')}`;
  console.error(`installing bench peers: ${missing().join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const update = spawnSync('apt-get', ['update', '-q'], { stdio: 'inherit', env });
  if (update.status === 0) spawnSync('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...missing()], { stdio: 'inherit', env });
  return missing().length === 0 ? undefined : `could not install bench peers: ${missing().join(', ')}`;
}

const started = Date.now();
const load = loadavg().map((l) => l.toFixed(2)).join(' ');
console.log(`webrtc-sbc bench: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), node ${process.version}, load average ${load}${values.quick ? ', --quick' : ''}`);
if (loadavg()[0] > cpus().length * 0.5) console.log('note: the machine is busy; load figures will be lower and noisier than on an idle machine');

const parse = runParse ? (console.log('\n== SIP parse + edit + serialize (one core) =='), await node([parseBench], true)) : { code: 0, out: '' };
// The routing step alone, in-process: CPU per decision of a trivial script on the event loop and in a worker thread.
const runRouting = loadParts === undefined || loadParts.includes('routing');
let routingStep;
if (runRouting) {
  console.log('\n== routing step alone (trivial routing.script, CPU per decision) ==');
  const r = await node([routingStepBench], true);
  try {
    routingStep = JSON.parse(r.out.trim().split('\n').at(-1) ?? '');
  } catch {
    routingStep = undefined;
  }
}
const parseRates = {};
for (const line of parse.out.split('\n')) {
  // e.g. "sip parse+edit+serialize REGISTER: 273768 msg/s (...; meets target 200000)" or "(..., below target 200000)".
  const m = /parse\+edit\+serialize (\w+): (\d+) msg\/s/.exec(line);
  if (m === null) continue;
  const target = /target (\d+)/.exec(line);
  const met = /below target/.test(line) ? false : /meets target|\bok\b/.test(line) ? true : undefined;
  parseRates[m[1]] = { rate: Number(m[2]), target: target === null ? undefined : Number(target[1]), met };
}

const scratch = mkdtempSync(join(tmpdir(), 'sbc-bench-results-'));
const jsonFile = join(scratch, 'load.json');
const loadArgs = [loadBench, '--json', jsonFile];
if (values.quick) loadArgs.push('--quick');
if (loadParts !== undefined) loadArgs.push('--only', loadParts.join(','));
if (values['wss-clients'] !== undefined) loadArgs.push('--wss-clients', values['wss-clients']);
if (values.workers !== undefined) loadArgs.push('--workers', values.workers);
if (values['gateway-workers'] !== undefined) loadArgs.push('--gateway-workers', values['gateway-workers']);
if (values.profile !== undefined) loadArgs.push('--profile', resolve(values.profile));
if (values['sbc-udp-rcvbuf'] !== undefined) loadArgs.push('--sbc-udp-rcvbuf', values['sbc-udp-rcvbuf']);
let results;
if (runLoad) {
  console.log('\n== load through the SBC (UDP generators and UAS as separate processes) ==');
  const loadRun = await node(loadArgs, true);
  try {
    results = JSON.parse(readFileSync(jsonFile, 'utf8'));
  } catch {
    console.error(`load bench produced no results (exit ${loadRun.code})`);
  }
}

let embeddedMedia;
if (runEmbeddedMedia) {
  console.log('\n== embedded media relay vs rtpengine (werift and plain-RTP generators as separate processes) ==');
  const file = join(scratch, 'embedded-media.json');
  const run = await node([embeddedMediaBench, '--json', file, ...(values.quick ? ['--quick'] : [])], true);
  try {
    embeddedMedia = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    console.error(`embedded media bench produced no results (exit ${run.code})`);
  }
}

let overload;
let overloadError;
if (runOverload) {
  console.log('\n== overload: SIPp step load through the SBC, then through Kamailio 5.6 (same rates) ==');
  overloadError = ensureOverloadPeers();
  if (overloadError === undefined) {
    const overloadJson = join(scratch, 'overload.json');
    const args = [overloadBench, '--json', overloadJson];
    if (values.quick) args.push('--quick');
    if (values.capacity !== undefined) args.push('--capacity', values.capacity);
    if (values['heap-search']) args.push('--heap-search');
    if (values['heap-rate'] !== undefined) args.push('--heap-rate', values['heap-rate']);
    if (values['skip-heap']) args.push('--skip-heap');
    const run = await node(args, true);
    try {
      overload = JSON.parse(readFileSync(overloadJson, 'utf8'));
      // The raw figures stay under bench/results/ for the notes.
      const keep = join(root, 'bench', 'results', `overload-${new Date(started).toISOString().replace(/[:.]/g, '-')}.json`);
      mkdirSync(dirname(keep), { recursive: true });
      copyFileSync(overloadJson, keep);
      console.log(`overload raw figures: ${keep}`);
    } catch {
      overloadError = `overload bench produced no results (exit ${run.code})`;
    }
  }
  if (overloadError !== undefined) console.error(overloadError);
}
let workersRun;
let workersError;
if (runWorkers) {
  console.log('\n== workers: clean calls/s (SIPp UDP) of the gateway with workers 1, 2, auto and of Kamailio 5.6, same run ==');
  workersError = ensureOverloadPeers();
  if (workersError === undefined) {
    const workersJson = join(scratch, 'workers.json');
    const run = await node([workersBench, '--json', workersJson, ...(values.quick ? ['--step-seconds', '5'] : [])], true);
    try {
      workersRun = JSON.parse(readFileSync(workersJson, 'utf8'));
      const keep = join(root, 'bench', 'results', `workers-${new Date(started).toISOString().replace(/[:.]/g, '-')}.json`);
      mkdirSync(dirname(keep), { recursive: true });
      copyFileSync(workersJson, keep);
      console.log(`workers raw figures: ${keep}`);
    } catch {
      workersError = `workers bench produced no results (exit ${run.code})`;
    }
  }
  if (workersError !== undefined) console.error(workersError);
}
rmSync(scratch, { recursive: true, force: true });

if (values.profile !== undefined && existsSync(profileTop)) {
  for (const f of readdirSync(resolve(values.profile)).filter((n) => n.endsWith('.cpuprofile')).sort()) {
    console.log(`\n== CPU profile of the SBC: ${join(values.profile, f)} ==`);
    await node([profileTop, join(resolve(values.profile), f), '--top', '20', '--filter', 'src/'], true);
  }
}

// ── summary ─────────────────────────────────────────────────────────────
const rows = [];
const fmt = (n, digits = 2) => (typeof n === 'number' && Number.isFinite(n) ? n.toFixed(digits) : '-');
const verdict = (met) => (met === undefined ? '' : met ? 'MET' : 'MISSED');
for (const [label, r] of Object.entries(parseRates)) {
  rows.push([`parse+edit+serialize ${label}`, `${r.rate} msg/s`, r.target === undefined ? '' : `>= ${r.target}`, verdict(r.met)]);
}
// Same rule as bench/load/ramp.ts passed(): 0 failures, the asked rate really sent, median latency <= 200 ms (not queueing).
function stopReason(s) {
  if (s.failed > 0) return `${s.failed} of ${s.started + (s.failures['busy-connection'] ?? 0)} failed`;
  if (s.sentRate < 0.9 * s.rate) return `only ${Math.round(s.sentRate)}/s got out`;
  if (!(s.p50Ms <= 200)) return `queueing, p50 ${fmt(s.p50Ms)} ms`;
  return undefined;
}

function udpRows(name, part, target, unit) {
  if (part === undefined) return;
  const top = part.best;
  const stop = part.steps.find((s) => stopReason(s) !== undefined);
  const ceiling = stop === undefined ? ' (no failure up to the last step)' : ` (at ${stop.rate}/s: ${stopReason(stop)})`;
  rows.push([`${name}, 0 failures`, top === undefined ? 'none' : `${top.rate} ${unit}${ceiling}`, `>= ${target}`, verdict(top !== undefined && top.rate >= target)]);
  if (top !== undefined) {
    rows.push([`  ${name} latency via SBC p50/p99`, `${fmt(top.p50Ms)} / ${fmt(top.p99Ms)} ms at ${top.rate}/s`, '', '']);
    if (part.direct !== undefined) {
      const d = part.direct;
      rows.push([`  ${name} latency direct p50/p99`, `${fmt(d.p50Ms)} / ${fmt(d.p99Ms)} ms at ${d.rate}/s${d.failed > 0 ? ` (${d.failed} failed)` : ''}`, '', '']);
      rows.push([`  added by the SBC p50/p99`, `${fmt(top.p50Ms - d.p50Ms)} / ${fmt(top.p99Ms - d.p99Ms)} ms`, '', '']);
    }
    if (top.sbcCpuPercent !== undefined) rows.push([`  SBC CPU at that rate`, `${top.sbcCpuPercent}% of one core`, '', '']);
  }
}
/**
 * The routing part: SBC CPU per call in interleaved rounds at one rate and the
 * calls/s ramp per variant (both move with the machine's load), then the
 * verdict on the steadiest figure: the routing step's own CPU per decision
 * (in-process) against the SBC's CPU per call without routing.
 */
function routingRows(r) {
  const by = Object.fromEntries(r.variants.map((v) => [v.name, v]));
  const median = (xs) => (xs.length === 0 ? undefined : [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]);
  // Other work on a shared machine only ever adds CPU time (cache, contention): the best round is the figure, the median beside it.
  const least = (xs) => (xs.length === 0 ? undefined : Math.min(...xs));
  const base = least(by.none?.cpuUsPerCall ?? []);
  const baseMedian = median(by.none?.cpuUsPerCall ?? []);
  const labels = { none: 'no routing logic', script: 'trivial routing.script', 'script-worker': 'same script, isolation: worker', http: 'routing.http (loopback, keep-alive)' };
  for (const v of r.variants) {
    const us = least(v.cpuUsPerCall);
    const mid = median(v.cpuUsPerCall);
    const more = v.name === 'none' || us === undefined || base === undefined ? undefined : ((us - base) / base) * 100;
    const moreMid = v.name === 'none' || mid === undefined || baseMedian === undefined ? undefined : ((mid - baseMedian) / baseMedian) * 100;
    rows.push([
      `routing: SBC CPU per call at ${r.cpuRate}/s, ${labels[v.name] ?? v.name}`,
      `best ${us === undefined ? '-' : `${us} µs`}${more === undefined ? '' : ` (${more >= 0 ? '+' : ''}${fmt(more, 1)} %)`}, median ${mid ?? '-'}${moreMid === undefined ? '' : ` (${moreMid >= 0 ? '+' : ''}${fmt(moreMid, 1)} %)`} [${v.cpuUsPerCall.join(', ')}]${v.cpuRoundFailures > 0 ? `, ${v.cpuRoundFailures} failed` : ''}`,
      '',
      '',
    ]);
    rows.push([`  calls/s ramp (noisy on a busy machine)`, v.best === undefined ? 'none passed' : `${v.best.rate} calls/s`, '', '']);
  }
  // The steady figure: the step's own CPU per decision against the SBC's CPU per call without routing at its best ramp rate.
  const top = by.none?.best;
  const perCall = top?.sbcCpuPercent === undefined ? undefined : ((top.sbcCpuPercent / 100) * 1e6) / top.rate;
  if (routingStep !== undefined) {
    for (const [key, label] of [['eventLoopUs', 'trivial routing.script'], ['workerUs', 'same script, isolation: worker']]) {
      const us = routingStep[key];
      const pct = perCall === undefined ? undefined : (us / perCall) * 100;
      rows.push([
        `routing step alone, ${label}`,
        `${fmt(us, 1)} µs CPU per decision${pct === undefined ? '' : ` = ${fmt(pct, 1)} % of a call's ${fmt(perCall, 0)} µs (none, ${top.rate}/s)`}`,
        `cost < ${TARGETS.routingScriptCostPercent} %`,
        verdict(pct !== undefined && pct < TARGETS.routingScriptCostPercent),
      ]);
    }
  }
  if (r.httpDecision !== undefined) rows.push(['  one HTTP decision alone (round trip p50/p99)', `${r.httpDecision.p50Us} / ${r.httpDecision.p99Us} µs over ${r.httpDecision.count}`, '', '']);
}

if (results !== undefined) {
  udpRows('calls/s (INVITE..BYE)', results.calls, TARGETS.callsPerSecond, 'calls/s');
  if (results.routing !== undefined) routingRows(results.routing);
  if (results.media !== undefined) {
    udpRows('calls/s with rtpengine (offer+answer+delete)', results.media, TARGETS.mediaCallsPerSecond, 'calls/s');
    const top = results.media.best;
    const off = results.media.withoutMedia;
    if (top !== undefined && off !== undefined) {
      const added = top.p50Ms - off.p50Ms;
      rows.push([`  setup p50 added by media control`, `${fmt(added)} ms at ${top.rate}/s (${fmt(top.p50Ms)} vs ${fmt(off.p50Ms)} without)`, `<= ${TARGETS.mediaAddedP50Ms} ms`, verdict(added <= TARGETS.mediaAddedP50Ms)]);
    }
  }
  udpRows('REGISTER/s new, UDP', results.register, TARGETS.registersPerSecond, 'REGISTER/s');
  udpRows('REGISTER/s refresh, UDP', results.refresh, TARGETS.registersPerSecond, 'REGISTER/s');
  const w = results.wss;
  if (w !== undefined) {
    rows.push(['WSS flows registered', `${w.open.registered} of ${w.clients} in ${fmt(w.open.elapsedMs / 1000, 1)} s`, `>= ${TARGETS.wssFlows}`, verdict(w.open.registered >= TARGETS.wssFlows)]);
    // The floor (bare Node TLS + ws, no SIP, same clients, same run) is shown beside the SBC's figures; verdicts judge the SBC's own.
    const f = w.floor;
    const floorKb = (bytes) => (f === undefined ? '' : ` (floor: bare Node TLS+ws ${fmt(bytes / 1024, 1)} kB)`);
    const gw = results.gatewayWorkerCount > 1 ? `, ${results.gatewayWorkerCount} workers: sum over supervisor + workers` : '';
    rows.push([`SBC memory per WSS flow (RSS delta${gw})`, `${fmt(w.rssPerFlowBytes / 1024, 1)} kB${floorKb(f?.rssPerFlowBytes)}`, `<= ${TARGETS.bytesPerWssFlow / 1024} kB`, verdict(w.rssPerFlowBytes <= TARGETS.bytesPerWssFlow)]);
    if (w.pssPerFlowBytes !== undefined) rows.push(['  PSS per WSS flow (shared pages counted once)', `${fmt(w.pssPerFlowBytes / 1024, 1)} kB${floorKb(f?.pssPerFlowBytes)}`, '', '']);
    rows.push(['  JS heap per WSS flow after full GC', `${w.heapPerFlowBytes === undefined ? `not measured (${w.after?.heapError ?? '?'})` : `${fmt(w.heapPerFlowBytes / 1024, 1)} kB`}${floorKb(f?.heapPerFlowBytes)}`, '', '']);
    if (w.flowsByWorker !== undefined && results.gatewayWorkerCount > 1) {
      const spread = Object.entries(w.flowsByWorker).map(([id, n]) => `w${id} ${n.flows}`).join(', ');
      rows.push(['  WSS flows per worker at the end (with warm-up)', `${spread}${w.flowsCapped ? ' (capped lists: floors)' : ''}`, '', '']);
    }
    const top = w.bestRefresh;
    const stop = w.refresh.find((s) => stopReason(s) !== undefined);
    const why = stop === undefined ? '' : `; at ${stop.rate}/s: ${stopReason(stop)}`;
    let floorRate = '';
    if (f !== undefined) {
      // A floor that never failed only shows that it reaches the last rate asked.
      const atLeast = f.refresh.every((s) => stopReason(s) === undefined) ? '>= ' : '';
      floorRate = ` (floor: bare Node TLS+ws ${f.bestRefresh === undefined ? 'none' : `${atLeast}${f.bestRefresh.rate}/s`})`;
    }
    rows.push([`REGISTER/s refresh over ${w.open.registered} WSS`, `${top === undefined ? 'none' : `${top.rate} REGISTER/s (p50/p99 ${fmt(top.p50Ms)} / ${fmt(top.p99Ms)} ms)`}${why}${floorRate}`, `>= ${TARGETS.registersPerSecond}`, verdict(top !== undefined && top.rate >= TARGETS.registersPerSecond)]);
    if (top?.sbcCpuPercent !== undefined) {
      const same = f?.refresh.find((s) => s.rate === top.rate);
      const floorCpu = same?.sbcCpuPercent === undefined ? '' : ` (floor: ${same.sbcCpuPercent}%)`;
      const each = top.sbcCpuPerProcess === undefined ? '' : ` (supervisor ${top.sbcCpuPerProcess[0]}% + workers ${top.sbcCpuPerProcess.slice(1).map((p) => `${p}%`).join(' / ')})`;
      rows.push([`  SBC CPU at that rate`, `${top.sbcCpuPercent}% of one core${each}${floorCpu}`, '', '']);
    }
  }
  for (const e of results.errors ?? []) rows.push(['error', e.split('\n')[0], '', 'MISSED']);
}
if (embeddedMedia !== undefined) {
  // The pass rule is bench/media/embedded-media.ts's: every call up, < 0.1 % loss both ways, the
  // generators got >= 90 % of the packets out, median latency <= 20 ms (not queueing).
  const mediaRows = (name, ramp, target) => {
    const top = ramp.best;
    const stop = ramp.steps.find((s) => !s.passed);
    const why = stop === undefined
      ? ' (no failure up to the last step)'
      : ` (at ${stop.calls}: ${stop.stopReason ?? 'failed'})`;
    rows.push([`${name}, < 0.1 % loss both ways`, top === undefined ? `none${ramp.error === undefined ? '' : `: ${ramp.error.split('\n')[0]}`}` : `${top.calls} calls${why}`, target === undefined ? '' : `>= ${target}`, target === undefined ? '' : verdict(top !== undefined && top.calls >= target)]);
    if (top === undefined) return;
    rows.push([`  CPU per call (idle ${fmt(ramp.idleCpuPercent, 1)} % subtracted)`, `${fmt(top.cpuPercentPerCall, 3)} % of one core (${fmt(top.relayCpuPercent, 1)} % at ${top.calls} calls)`, '', '']);
    rows.push([`  one-way latency p50/p99 → / ←`, `${fmt(top.forward.p50Ms)}/${fmt(top.forward.p99Ms)} / ${fmt(top.back.p50Ms)}/${fmt(top.back.p99Ms)} ms`, '', '']);
    const floor = embeddedMedia.floor;
    if (floor !== undefined) {
      // p99 on a busy machine is mostly scheduling noise: a negative difference says so rather than a gain.
      const added = (via, base) => (via - base < 0 ? `<= 0 (noise)` : `${fmt(via - base)}`);
      rows.push([`  added over the no-relay floor p50 / p99, →`, `${added(top.forward.p50Ms, floor.forward.p50Ms)} / ${added(top.forward.p99Ms, floor.forward.p99Ms)} ms (floor ${fmt(floor.forward.p50Ms)} / ${fmt(floor.forward.p99Ms)} ms at ${floor.calls} calls)`, '', '']);
      rows.push([`  added over the no-relay floor p50 / p99, ←`, `${added(top.back.p50Ms, floor.back.p50Ms)} / ${added(top.back.p99Ms, floor.back.p99Ms)} ms`, '', '']);
    }
    rows.push([`  memory per call (RSS delta / calls)`, `${fmt(top.rssPerCallKb, 1)} kB`, '', '']);
    rows.push([`  generators CPU at that step`, `${top.generatorCpuPercent.join(' / ')} % of one core`, '', '']);
  };
  mediaRows('embedded relay calls (WebRTC ⇄ RTP)', embeddedMedia.embedded, TARGETS.embeddedCalls);
  mediaRows('rtpengine calls, same run (plain RTP both legs)', embeddedMedia.rtpengine, undefined);
}
if (overload !== undefined) {
  rows.push(['overload: capacity C (clean rate, SIPp UDP)', `${overload.capacity} calls/s`, '', '']);
  for (const v of overload.verdicts ?? []) rows.push([v.name, v.figure, v.target, verdict(v.met)]);
  for (const e of overload.errors ?? []) rows.push(['error', `overload: ${e.split('\n')[0]}`, '', 'MISSED']);
}
if (overloadError !== undefined) rows.push(['error', overloadError, '', 'MISSED']);
if (workersRun !== undefined) {
  // Clean rate: every call answered within 2 s, confirmed for a whole step on a fresh process (bench/overload/workers.ts).
  const list = workersRun.results ?? [];
  const kam = list.find((r) => r.name.startsWith('kamailio'));
  const one = list.find((r) => r.name === 'gateway workers 1');
  const gateways = list.filter((r) => r.name.startsWith('gateway'));
  // The target is the every-core setting; without it in the run, the best gateway row.
  const judged = gateways.find((r) => r.name === 'gateway workers auto') ?? [...gateways].sort((a, b) => b.clean - a.clean)[0];
  for (const r of list) {
    const ratio = (base) => (base !== undefined && base.clean > 0 ? `${fmt(r.clean / base.clean)}×` : '-');
    const isJudged = r === judged && kam !== undefined;
    const met = isJudged && kam.clean > 0 ? r.clean >= TARGETS.workersVsKamailio * kam.clean : undefined;
    rows.push([`workers: ${r.name}, clean calls/s (SIPp UDP)`, `${r.clean} calls/s (${ratio(one)} workers 1, ${ratio(kam)} Kamailio)`, isJudged ? `>= ${TARGETS.workersVsKamailio}× Kamailio` : '', verdict(met)]);
  }
}
if (workersError !== undefined) rows.push(['error', `workers: ${workersError}`, '', 'MISSED']);

const widths = [0, 1, 2, 3].map((i) => Math.max(...rows.map((r) => String(r[i]).length), ['bench', 'figure', 'target', 'verdict'][i].length));
const line = (r) => r.map((c, i) => String(c).padEnd(widths[i])).join('  ').trimEnd();
console.log(`\n== summary (${((Date.now() - started) / 1000).toFixed(0)} s${values.quick ? ', --quick: short steps, low ceilings' : ''}, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}) ==`);
if (results?.whatIf !== undefined) console.log(`WHAT-IF RUN (${results.whatIf}): not the SBC as shipped`);
console.log(line(['bench', 'figure', 'target', 'verdict']));
console.log(line(widths.map((w) => '-'.repeat(w))));
for (const r of rows) console.log(line(r));
const missed = rows.filter((r) => r[3] === 'MISSED').length;
const met = rows.filter((r) => r[3] === 'MET').length;
console.log(`\ntargets met: ${met}, missed: ${missed}`);
process.exit(results === undefined && overload === undefined && embeddedMedia === undefined && workersRun === undefined && parse.code !== 0 ? 1 : 0);
