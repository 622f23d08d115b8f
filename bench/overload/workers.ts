/**
 * Workers scaling: the clean rate (calls/s with every call answered within
 * 2 s, SIPp UAC → proxy over UDP → SIPp UAS, record-routed) of the gateway
 * with workers 1, 2 and auto, and of Kamailio 5.6 in the same run. The
 * callers send one socket per call (SIPp `-t un`, as many phones would):
 * SO_REUSEPORT spreads sources, not calls, so one socket would keep every
 * call on one worker.
 *   For each system: a fresh process, a warm-up (3 s at 250/s, 3 s at
 *   500/s), short rising runs until one is not clean (halving from the first
 *   when that one is not), then the best rate confirmed for a whole step on a
 *   fresh, warmed-up process, a quarter lower each time it is not.
 * Run: node dist/bench/overload/workers.js [--workers 1,2,auto] [--rates 1000,1500,...] [--udp-mode un|u1] [--skip-kamailio] [--json FILE]
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { freePortInRange } from '../../test/helpers/free-port.js';
import { repoRoot } from '../../test/helpers/paths.js';
import { benchWorkDir } from '../load/sbc-process.js';
import { callerFigures } from './sipp-files.js';
import { requireSipp, startCaller } from './sipp.js';
import { startGateway, startKamailio, type SystemUnderTest } from './systems.js';

const { values } = parseArgs({
  options: {
    workers: { type: 'string', default: '1,2,auto' },
    rates: { type: 'string', default: '1000,1500,2000,2500,3000,3500,4000,5000,6000' },
    'step-seconds': { type: 'string', default: '10' },
    'kamailio-children': { type: 'string', default: '4' },
    'skip-kamailio': { type: 'boolean', default: false },
    json: { type: 'string' },
    'udp-mode': { type: 'string', default: 'un' },
  },
});
const UDP_MODE = values['udp-mode'] === 'u1' ? 'u1' : 'un';
const log = (line: string): void => { process.stderr.write(`${line}\n`); };
const RATES = values.rates!.split(',').map(Number).filter((n) => n > 0);
const STEP_S = Number(values['step-seconds']);
const SHORT_S = 3;

interface Probe { rate: number; seconds: number; clean: boolean; good: number; started: number; sentRate: number; setupP99Ms: number; cpuPercent: number }

async function probe(sys: SystemUnderTest, rate: number, seconds: number, dir: string, label: string): Promise<Probe> {
  const cpu0 = await sys.cpuSeconds();
  const t0 = Date.now();
  const run = startCaller({ target: sys.target, host: sys.callerHost, port: await freePortInRange(20000, 32000), rate, calls: Math.round(rate * seconds), dir, name: `${sys.name}-${rate}-${Date.now()}`, boundMs: (seconds + 12) * 1000, udpMode: UDP_MODE });
  const res = await run.done;
  const cpuPercent = Math.round((100 * ((await sys.cpuSeconds()) - cpu0)) / ((Date.now() - t0) / 1000));
  const f = callerFigures(res.outcomes, { durationS: seconds, created: res.created });
  const clean = f.started > 0 && f.good === f.started && f.sentRate >= 0.9 * rate;
  log(`${label}: ${rate}/s for ${seconds} s → ${f.good}/${f.started} within 2 s, sent ${f.sentRate.toFixed(0)}/s, p99 setup ${f.setupP99Ms} ms, cpu ${cpuPercent}%${clean ? '' : `  (not clean: failed ${JSON.stringify(f.failedByStatus)}, no final ${f.noFinal}, unaccounted ${f.unaccounted})`}`);
  return { rate, seconds, clean, good: f.good, started: f.started, sentRate: f.sentRate, setupP99Ms: f.setupP99Ms, cpuPercent };
}

async function cleanRate(name: string, start: () => Promise<SystemUnderTest>, dir: string): Promise<{ name: string; clean: number; probes: Probe[] }> {
  const probes: Probe[] = [];
  let best = 0;
  let sys = await start();
  try {
    // A fresh gateway sheds while its JIT warms up: warm it for longer than one second.
    await probe(sys, 250, 3, dir, `${name} warm-up (not counted)`);
    await probe(sys, 500, 3, dir, `${name} warm-up (not counted)`);
    for (const rate of RATES) {
      const p = await probe(sys, rate, SHORT_S, dir, name);
      probes.push(p);
      if (!p.clean) break;
      best = rate;
      await new Promise((r) => setTimeout(r, 1500));
    }
    // Not even the first rate: halve it until one is clean.
    for (let rate = Math.round((RATES[0] ?? 1000) / 2); best === 0 && rate >= 100; rate = Math.round(rate / 2)) {
      await new Promise((r) => setTimeout(r, 1500));
      const p = await probe(sys, rate, SHORT_S, dir, name);
      probes.push(p);
      if (p.clean) best = rate;
    }
    for (let tries = 0; best > 0 && tries < 3; tries++) {
      await sys.stop();
      sys = await start();
      await probe(sys, 250, 3, dir, `${name} warm-up (not counted)`);
      await probe(sys, Math.round(best / 2), 3, dir, `${name} warm-up (not counted)`);
      const p = await probe(sys, best, STEP_S, dir, `${name} confirm`);
      probes.push(p);
      if (p.clean) break;
      best = Math.round((best * 0.75) / 50) * 50;
      if (tries === 2) best = 0;
    }
  } finally {
    await sys.stop();
  }
  log(`${name}: clean rate ${best} calls/s`);
  return { name, clean: best, probes };
}

requireSipp();
const work = benchWorkDir();
const dir = mkdtempSync(join(tmpdir(), 'workers-bench-'));
const results: Array<{ name: string; clean: number; probes: Probe[] }> = [];
try {
  log(`workers bench: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), auto = ${availableParallelism()} workers, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  for (const w of values.workers!.split(',')) {
    const workers = w === 'auto' ? 'auto' : Number(w);
    results.push(await cleanRate(`gateway workers ${w}`, () => startGateway({ workDir: work.dir, workers }), dir));
  }
  if (values['skip-kamailio'] !== true) {
    const children = Number(values['kamailio-children']);
    results.push(await cleanRate(`kamailio (${children} children)`, () => startKamailio(children), dir));
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
  work.remove();
}
const kam = results.find((r) => r.name.startsWith('kamailio'));
const one = results.find((r) => r.name === 'gateway workers 1');
process.stdout.write('| system | clean calls/s | vs workers 1 | vs Kamailio |\n| --- | --- | --- | --- |\n');
for (const r of results) {
  const vsOne = one !== undefined && one.clean > 0 ? `${(r.clean / one.clean).toFixed(2)}×` : '-';
  const vsKam = kam !== undefined && kam.clean > 0 ? `${(r.clean / kam.clean).toFixed(2)}×` : '-';
  process.stdout.write(`| ${r.name} | ${r.clean} | ${vsOne} | ${vsKam} |\n`);
}
const file = values.json ?? join(repoRoot, 'bench', 'results', `workers-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
mkdirSync(dirname(file), { recursive: true });
writeFileSync(file, JSON.stringify({ cores: cpus().length, load: loadavg(), stepSeconds: STEP_S, results }, null, 2));
log(`figures: ${file}`);
