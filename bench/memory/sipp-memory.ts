/**
 * Memory under steady call load: SIPp UAC (Record-Route followed) → the SBC
 * over UDP (proxy, topology hiding on, probes off) → SIPp UAS, at a fixed
 * rate. Every 5 s it prints the SBC's RSS, heap used and live transactions
 * (from /metrics, no forced GC); after the load it keeps sampling, then forces
 * a full GC through the inspector and prints what is left.
 *
 * With --edge kamailio the same load goes through Kamailio (dispatcher +
 * record_route) instead, and the figure is the PSS of all its processes.
 *
 * Run: node dist/bench/memory/sipp-memory.js [--rate 1000] [--seconds 60]
 *        [--after 40] [--max-old-space MB] [--snapshot-at S1,S2 --snapshot-dir DIR]
 *        [--gc-at S1,S2] [--edge sbc|kamailio] [--sbc-main PATH/main.js (another build, to compare)]
 * --snapshot-at takes heap snapshots (SIGUSR2, --heapsnapshot-signal) at
 * those seconds since the load started (e.g. 20,100 = under load and after);
 * --gc-at forces a full GC then (inspector) and prints the live heap.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { freePortInRange } from '../../test/helpers/free-port.js';
import { repoRoot } from '../../test/helpers/paths.js';
import { procCpuSeconds, procStatusKb, stopChild } from '../load/children.js';
import { collectAndMeasure } from '../load/heap-probe.js';

const here = dirname(fileURLToPath(import.meta.url));
/** The XML scenarios sit beside the source; from dist/ they are read from the source tree. */
const scenarioDir = here.includes('/dist/') ? join(repoRoot, 'bench', 'memory') : here;

const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '60' },
    after: { type: 'string', default: '40' },
    'max-old-space': { type: 'string' },
    'snapshot-at': { type: 'string' },
    'gc-at': { type: 'string' },
    'snapshot-dir': { type: 'string' },
    edge: { type: 'string', default: 'sbc' },
    'sbc-main': { type: 'string' },
  },
});
const rate = Number(values.rate);
const seconds = Number(values.seconds);
const afterS = Number(values.after);
const snapshotAt = (values['snapshot-at'] ?? '').split(',').filter((s) => s !== '').map(Number);
const snapshotDir = values['snapshot-dir'];
const gcAt = (values['gc-at'] ?? '').split(',').filter((s) => s !== '').map(Number);
const edge = values.edge === 'kamailio' ? 'kamailio' : 'sbc';

const log = (line: string): void => {
  process.stdout.write(`${line}\n`);
};
const mb = (bytes: number | undefined): string => (bytes === undefined ? '-' : `${(bytes / 1048576).toFixed(0)} MB`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Edge {
  port: number;
  /** Sample the edge's memory: RSS (or PSS for Kamailio) and, for the SBC, heap and transactions. */
  sample(): Promise<string>;
  snapshot?(): void;
  /** Full GC and the heap after it (SBC only). */
  finalFigures(): Promise<string>;
  stop(): Promise<void>;
  alive(): boolean;
  tail(): string;
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'sbc-mem-'));
  const children: ChildProcess[] = [];
  let edgeProc: Edge | undefined;
  try {
    const uasPort = await freePortInRange(20000, 32000);
    const uas = spawn('sipp', ['-sf', join(scenarioDir, 'uas-rr.xml'), '-i', '127.0.0.1', '-p', String(uasPort), '-nostdin'], { stdio: 'ignore' });
    children.push(uas);
    edgeProc = edge === 'sbc' ? await startSbc(work, uasPort) : await startKamailio(work, uasPort);
    await sleep(500);
    log(`edge=${edge} rate=${rate}/s seconds=${seconds} maxOldSpace=${values['max-old-space'] ?? 'default'}`);
    log(`t=0 before load: ${await edgeProc.sample()}`);

    const uacPort = await freePortInRange(20000, 32000);
    const statFile = join(work, 'uac-stat.csv');
    const uacArgs = [
      '-sf', join(scenarioDir, 'uac-rr.xml'), '-i', '127.0.0.1', '-p', String(uacPort),
      '-r', String(rate), '-m', String(rate * seconds), '-l', String(rate * 40),
      '-trace_stat', '-stf', statFile, '-fd', '5', '-nostdin',
      `127.0.0.1:${edgeProc.port}`,
    ];
    const uac = spawn('sipp', uacArgs, { stdio: 'ignore' });
    children.push(uac);
    const started = Date.now();
    const snaps = [...snapshotAt];
    const gcs = [...gcAt];
    const total = seconds + afterS;
    for (let t = 5; t <= total; t += 5) {
      await sleep(started + t * 1000 - Date.now());
      while (snaps.length > 0 && snaps[0]! <= t) {
        snaps.shift();
        edgeProc.snapshot?.();
        log(`t=${t}s heap snapshot requested`);
        await sleep(3000);
      }
      while (gcs.length > 0 && gcs[0]! <= t) {
        gcs.shift();
        log(`t=${t}s live set: ${await edgeProc.finalFigures().catch((err: unknown) => (err as Error).message)}`);
      }
      const phase = t <= seconds ? 'load' : 'after';
      log(`t=${t}s ${phase}: ${edgeProc.alive() ? await edgeProc.sample() : 'EDGE DIED'}`);
      if (!edgeProc.alive()) break;
    }
    const stats = lastStatLine(work);
    if (stats !== undefined) log(`uac: ${stats}`);
    if (edgeProc.alive()) log(`final: ${await edgeProc.finalFigures()}`);
    const tail = edgeProc.tail();
    if (tail !== '') log(`edge output (last lines):\n${tail}`);
  } finally {
    await edgeProc?.stop();
    for (const c of children) await stopChild(c, 2000);
    rmSync(work, { recursive: true, force: true });
  }
}

function lastStatLine(work: string): string | undefined {
  try {
    const lines = readFileSync(join(work, 'uac-stat.csv'), 'utf8').trim().split('\n');
    const head = lines[0]?.split(';') ?? [];
    const last = lines[lines.length - 1]?.split(';') ?? [];
    const pick = (name: string): string => last[head.indexOf(name)] ?? '?';
    return `created=${pick('TotalCallCreated')} ok=${pick('SuccessfulCall(C)')} failed=${pick('FailedCall(C)')} current=${pick('CurrentCall')} retrans=${pick('Retransmissions(C)')}`;
  } catch {
    return undefined;
  }
}

async function startSbc(work: string, uasPort: number): Promise<Edge> {
  const port = await freePortInRange(20000, 32000);
  const adminPort = await freePortInRange(20000, 32000);
  const inspectPort = await freePortInRange(20000, 32000);
  const config = {
    listen: [{ transport: 'udp', address: '127.0.0.1', port }],
    tls: { cert: join(work, 'server.crt'), key: join(work, 'server.key') },
    backends: { default: { probe: { intervalSeconds: 0 }, targets: [{ uri: `sip:127.0.0.1:${uasPort};transport=udp` }] } },
    media: { mode: 'passthrough' },
    security: { rateLimit: { requestsPerSecondPerIp: 0 } },
    admin: { listen: `127.0.0.1:${adminPort}` },
    web: { enabled: false },
    shutdown: { drainSeconds: 0 },
    log: { level: 'warn' },
  };
  const file = join(work, 'sbc.yaml');
  writeFileSync(file, JSON.stringify(config, null, 2));
  const flags = [`--inspect=127.0.0.1:${inspectPort}`, '--heapsnapshot-signal=SIGUSR2'];
  if (values['max-old-space'] !== undefined) flags.push(`--max-old-space-size=${values['max-old-space']}`);
  if (snapshotDir !== undefined) {
    mkdirSync(snapshotDir, { recursive: true });
    flags.push(`--diagnostic-dir=${snapshotDir}`);
  }
  const child = spawn(process.execPath, [...flags, values['sbc-main'] ?? join(repoRoot, 'dist', 'src', 'main.js'), '--config', file], { stdio: ['ignore', 'pipe', 'pipe'], cwd: repoRoot });
  const lines: string[] = [];
  const keep = (chunk: Buffer): void => {
    for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '' && !line.includes('Debugger')) lines.push(line);
    if (lines.length > 5) lines.splice(0, lines.length - 5);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const admin = `http://127.0.0.1:${adminPort}`;
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`SBC exited: ${lines.join('\n')}`);
    try {
      if ((await fetch(`${admin}/healthz`)).status === 200) break;
    } catch {
      // not yet
    }
    await sleep(100);
  }
  const alive = (): boolean => child.exitCode === null && child.signalCode === null;
  return {
    port,
    alive,
    tail: () => lines.join('\n'),
    snapshot: () => child.kill('SIGUSR2'),
    async sample() {
      const rssKb = await procStatusKb(child.pid!, 'VmRSS');
      const cpu = await procCpuSeconds(child.pid!);
      let heap: number | undefined;
      let tx = '?';
      try {
        const text = await (await fetch(`${admin}/metrics`, { signal: AbortSignal.timeout(4000) })).text();
        heap = metric(text, 'nodejs_heap_size_used_bytes');
        tx = ['ict', 'nict', 'ist', 'nist'].map((t) => `${t}=${metric(text, `sbc_transactions{type="${t}"}`) ?? 0}`).join(' ');
      } catch {
        // a busy SBC may not answer in time
      }
      return `rss=${mb(rssKb === undefined ? undefined : rssKb * 1024)} heapUsed=${mb(heap)} cpu=${cpu?.toFixed(1) ?? '?'}s ${tx}`;
    },
    async finalFigures() {
      const m = await collectAndMeasure(inspectPort);
      return `after full GC: rss=${mb(m.rssBytes)} heapUsed=${mb(m.heapUsedBytes)} external=${mb(m.externalBytes)} arrayBuffers=${mb(m.arrayBuffersBytes)}`;
    },
    stop: () => stopChild(child, 5000),
  };
}

function metric(text: string, name: string): number | undefined {
  const at = text.indexOf(`\n${name} `);
  if (at < 0) return undefined;
  const end = text.indexOf('\n', at + 1);
  return Number(text.slice(at + name.length + 2, end));
}

/** Kamailio as the edge: dispatcher to the UAS, record_route, loose_route for in-dialog requests. */
async function startKamailio(work: string, uasPort: number): Promise<Edge> {
  const port = await freePortInRange(20000, 32000);
  const run = join(work, 'kam');
  mkdirSync(run, { recursive: true });
  writeFileSync(join(run, 'dispatcher.list'), `1 sip:127.0.0.1:${uasPort}\n`);
  writeFileSync(join(run, 'kamailio.cfg'), kamailioConfig(port, join(run, 'dispatcher.list')));
  const child = spawn('kamailio', ['-DD', '-E', '-f', join(run, 'kamailio.cfg'), '-Y', run, '-P', join(run, 'kamailio.pid'), '-m', '512', '-M', '16'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  child.stderr?.on('data', (c: Buffer) => {
    lines.push(...c.toString('utf8').split('\n').filter((l) => l !== ''));
    if (lines.length > 5) lines.splice(0, lines.length - 5);
  });
  await sleep(1500);
  if (child.exitCode !== null) throw new Error(`kamailio exited: ${lines.join('\n')}`);
  const alive = (): boolean => child.exitCode === null && child.signalCode === null;
  const pss = async (): Promise<number> => {
    let kb = 0;
    for (const pid of [child.pid!, ...descendants(child.pid!)]) {
      try {
        const text = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8');
        const m = /^Pss:\s+(\d+) kB/m.exec(text);
        if (m?.[1] !== undefined) kb += Number(m[1]);
      } catch {
        // gone
      }
    }
    return kb * 1024;
  };
  return {
    port,
    alive,
    tail: () => lines.join('\n'),
    sample: async () => `pss(all processes)=${mb(await pss())}`,
    finalFigures: async () => `pss(all processes)=${mb(await pss())}`,
    stop: () => stopChild(child, 5000),
  };
}

function descendants(root: number): number[] {
  const parents = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parents.set(Number(name), ppid);
    } catch {
      // gone
    }
  }
  const out: number[] = [];
  const walk = (p: number): void => {
    for (const [pid, ppid] of parents) if (ppid === p) { out.push(pid); walk(pid); }
  };
  walk(root);
  return out;
}

function kamailioConfig(port: number, list: string): string {
  return `#!KAMAILIO
debug=1
log_stderror=yes
children=2
listen=udp:127.0.0.1:${port}
mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "maxfwd.so"
loadmodule "dispatcher.so"
loadmodule "pv.so"
loadmodule "textops.so"
loadmodule "siputils.so"
modparam("dispatcher", "list_file", "${list}")
modparam("dispatcher", "ds_ping_interval", 0)
request_route {
  if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
  if (has_totag()) {
    if (loose_route()) { t_relay(); exit; }
    if (is_method("ACK")) { if (t_check_trans()) { t_relay(); } exit; }
    sl_send_reply("404", "Not here"); exit;
  }
  if (is_method("CANCEL")) { if (t_check_trans()) t_relay(); exit; }
  if (is_method("INVITE")) record_route();
  if (!ds_select_dst("1", "4")) { sl_send_reply("503", "No destination"); exit; }
  t_relay();
}
`;
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
