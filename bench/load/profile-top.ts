/**
 * The top frames of a V8 CPU profile (`node --cpu-prof`), by self time and
 * by total time, with file:line, so a bench run can say where the SBC spends
 * its time.
 *
 * Run: node dist/bench/load/profile-top.js FILE.cpuprofile [--top 25] [--filter src/]
 *        [--window FROM,TO]   only samples between FROM and TO seconds into the profile
 *        (negative: counted back from its end), e.g. `--window=-10,0` for one bench step
 */
import { existsSync, readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface FrameCost {
  frame: string;
  selfMs: number;
  totalMs: number;
  selfPercent: number;
}

/** Source maps of compiled files (dist/*.js → src/*.ts), loaded once per file. */
const maps = new Map<string, SourceMap | undefined>();

function sourceMapFor(jsFile: string): SourceMap | undefined {
  if (!maps.has(jsFile)) {
    let map: SourceMap | undefined;
    const file = `${jsFile}.map`;
    if (existsSync(file)) map = new SourceMap(JSON.parse(readFileSync(file, 'utf8')) as ConstructorParameters<typeof SourceMap>[0]);
    maps.set(jsFile, map);
  }
  return maps.get(jsFile);
}

/** `function file:line`, mapped back to the TypeScript source when a source map sits beside the compiled file. */
function frameName(n: ProfileNode): string {
  const f = n.callFrame;
  let where = f.url;
  // V8 lines are 0-based.
  let line = f.lineNumber + 1;
  if (where.startsWith('file://')) {
    where = fileURLToPath(where);
    const entry = sourceMapFor(where)?.findEntry(f.lineNumber, f.columnNumber);
    if (entry !== undefined && 'originalSource' in entry && entry.originalSource !== undefined) {
      where = entry.originalSource.startsWith('file://') ? fileURLToPath(entry.originalSource) : resolve(dirname(where), entry.originalSource);
      line = entry.originalLine + 1;
    }
  }
  const src = where.lastIndexOf('/src/');
  const nm = where.indexOf('node_modules/');
  if (nm >= 0) where = where.slice(nm);
  else if (src >= 0) where = where.slice(src + 1);
  return `${f.functionName || '(anonymous)'}${where === '' ? '' : ` ${where}:${line}`}`;
}

/** Self and total time per distinct frame (function at file:line), most expensive first by self time. */
export function frameCosts(profile: CpuProfile, window?: { fromS: number; toS: number }): FrameCost[] {
  const byId = new Map<number, ProfileNode>();
  for (const n of profile.nodes) byId.set(n.id, n);
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfUs = new Map<number, number>();
  let atUs = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i];
    atUs += profile.timeDeltas[i] ?? 0;
    if (window !== undefined && (atUs < window.fromS * 1e6 || atUs > window.toS * 1e6)) continue;
    const dt = profile.timeDeltas[i + 1] ?? profile.timeDeltas[i] ?? 0;
    if (id !== undefined) selfUs.set(id, (selfUs.get(id) ?? 0) + dt);
  }
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  let all = 0;
  for (const [id, us] of selfUs) {
    all += us;
    const node = byId.get(id);
    if (node === undefined) continue;
    const name = frameName(node);
    self.set(name, (self.get(name) ?? 0) + us);
    // Count each frame once per sample stack, however deep the recursion.
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const n = byId.get(cur);
      if (n === undefined) break;
      const nm = frameName(n);
      if (seen.has(nm)) continue;
      seen.add(nm);
      total.set(nm, (total.get(nm) ?? 0) + us);
    }
  }
  return [...total.keys()]
    .map((frame) => ({ frame, selfMs: (self.get(frame) ?? 0) / 1000, totalMs: (total.get(frame) ?? 0) / 1000, selfPercent: all > 0 ? ((self.get(frame) ?? 0) / all) * 100 : 0 }))
    .sort((a, b) => b.selfMs - a.selfMs);
}

function main(): void {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '25' }, filter: { type: 'string' }, window: { type: 'string' } } });
  const file = positionals[0];
  if (file === undefined) throw new Error('usage: profile-top FILE.cpuprofile [--top N] [--filter TEXT]');
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const lengthS = (profile.endTime - profile.startTime) / 1e6;
  let window: { fromS: number; toS: number } | undefined;
  if (values.window !== undefined) {
    const [from, to] = values.window.split(',').map(Number);
    if (from === undefined || to === undefined || Number.isNaN(from) || Number.isNaN(to)) throw new Error('--window FROM,TO in seconds');
    window = { fromS: from < 0 || (from === 0 && to <= 0) ? lengthS + from : from, toS: to < 0 || (to === 0 && from < 0) ? lengthS + to : to };
  }
  const costs = frameCosts(profile, window);
  const top = Number(values.top);
  const filter = values.filter;
  const out = (rows: FrameCost[], title: string, key: 'selfMs' | 'totalMs'): void => {
    process.stdout.write(`${title}\n`);
    for (const r of rows.slice(0, top)) {
      process.stdout.write(`${r[key].toFixed(0).padStart(8)} ms  ${r.selfPercent.toFixed(1).padStart(5)}% self  ${r.frame}\n`);
    }
  };
  out(costs, 'by self time:', 'selfMs');
  const totals = [...costs].filter((c) => filter === undefined || c.frame.includes(filter)).sort((a, b) => b.totalMs - a.totalMs);
  out(totals, `by total time${filter === undefined ? '' : ` (frames matching ${filter})`}:`, 'totalMs');
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url).replace(/\.(ts|js)$/, '') === process.argv[1].replace(/\.(ts|js)$/, '')) main();
