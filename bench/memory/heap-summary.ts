/**
 * What a V8 heap snapshot holds, per constructor: object count and self size,
 * largest first. Strings, arrays, closures and code are grouped by their V8
 * node type. Enough to see which per-call structure dominates without
 * opening DevTools.
 *
 * Run: node dist/bench/memory/heap-summary.js FILE.heapsnapshot [--top 40]
 *        [--fields Name]   also list what the objects of constructor Name
 *                          point at (edge name → target type/name), counted
 *        [--retainers Name] and what points at them (source ← edge name)
 *        [--strings]       the most frequent string values (first 60 chars)
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]]; edge_fields: string[]; edge_types: [string[], ...unknown[]] } };
  nodes: number[];
  edges: number[];
  strings: string[];
}

const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '40' }, fields: { type: 'string' }, retainers: { type: 'string' }, strings: { type: 'boolean' } } });
const file = positionals[0];
if (file === undefined) {
  process.stderr.write('usage: heap-summary FILE.heapsnapshot [--top N] [--fields Constructor]\n');
  process.exit(2);
}
const snap = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
const { node_fields: nf, node_types: nt, edge_fields: ef, edge_types: et } = snap.snapshot.meta;
const N = nf.length;
const E = ef.length;
const typeAt = nf.indexOf('type');
const nameAt = nf.indexOf('name');
const sizeAt = nf.indexOf('self_size');
const edgeCountAt = nf.indexOf('edge_count');
const edgeTypeAt = ef.indexOf('type');
const edgeNameAt = ef.indexOf('name_or_index');
const edgeToAt = ef.indexOf('to_node');
const nodeTypes = nt[0];
const edgeTypes = et[0];
const { nodes, edges, strings } = snap;

/** Objects are named by constructor; everything else by its V8 type. */
function label(i: number): string {
  const type = nodeTypes[nodes[i + typeAt]!] ?? '?';
  const name = strings[nodes[i + nameAt]!] ?? '?';
  if (type === 'object' || type === 'native') return name;
  if (type === 'closure') return `(closure) ${name || 'anonymous'}`;
  return `(${type})`;
}

const groups = new Map<string, { count: number; bytes: number }>();
let total = 0;
for (let i = 0; i < nodes.length; i += N) {
  const key = label(i);
  const size = nodes[i + sizeAt]!;
  total += size;
  const g = groups.get(key);
  if (g === undefined) groups.set(key, { count: 1, bytes: size });
  else {
    g.count++;
    g.bytes += size;
  }
}
const top = Number(values.top);
const rows = [...groups.entries()].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, top);
process.stdout.write(`${file}: ${(total / 1048576).toFixed(1)} MB in ${nodes.length / N} nodes\n`);
process.stdout.write(`${'self MB'.padStart(9)} ${'count'.padStart(9)}  constructor / type\n`);
for (const [key, g] of rows) process.stdout.write(`${(g.bytes / 1048576).toFixed(2).padStart(9)} ${String(g.count).padStart(9)}  ${key}\n`);

if (values.fields !== undefined) {
  const wanted = values.fields;
  const counts = new Map<string, number>();
  let edgeIndex = 0;
  let seen = 0;
  for (let i = 0; i < nodes.length; i += N) {
    const count = nodes[i + edgeCountAt]!;
    if (label(i) === wanted) {
      seen++;
      for (let e = edgeIndex; e < edgeIndex + count * E; e += E) {
        const type = edgeTypes[edges[e + edgeTypeAt]!] ?? '?';
        if (type === 'hidden' || type === 'weak') continue;
        const nameOrIndex = edges[e + edgeNameAt]!;
        const name = type === 'element' ? `[${nameOrIndex}]` : (strings[nameOrIndex] ?? '?');
        const key = `${name} → ${label(edges[e + edgeToAt]!)}`;
        counts.set(key, (counts.get(key) ?? 0) + 1);
      }
    }
    edgeIndex += count * E;
  }
  process.stdout.write(`\n${seen} × ${wanted}, edges:\n`);
  for (const [key, n] of [...counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, top)) process.stdout.write(`${String(n).padStart(9)}  ${key}\n`);
}

if (values.retainers !== undefined) {
  const wanted = values.retainers;
  const counts = new Map<string, { n: number; bytes: number }>();
  let edgeIndex = 0;
  for (let i = 0; i < nodes.length; i += N) {
    const count = nodes[i + edgeCountAt]!;
    for (let e = edgeIndex; e < edgeIndex + count * E; e += E) {
      const to = edges[e + edgeToAt]!;
      if (label(to) !== wanted) continue;
      const type = edgeTypes[edges[e + edgeTypeAt]!] ?? '?';
      if (type === 'weak') continue;
      const nameOrIndex = edges[e + edgeNameAt]!;
      const name = type === 'element' || type === 'hidden' ? `[${type}]` : (strings[nameOrIndex] ?? '?');
      const key = `${label(i)} .${name}`;
      const c = counts.get(key) ?? { n: 0, bytes: 0 };
      c.n++;
      c.bytes += nodes[to + sizeAt]!;
      counts.set(key, c);
    }
    edgeIndex += count * E;
  }
  process.stdout.write(`\nretainers of ${wanted} (count, self MB of the targets):\n`);
  for (const [key, c] of [...counts.entries()].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, top)) process.stdout.write(`${String(c.n).padStart(9)} ${(c.bytes / 1048576).toFixed(2).padStart(7)}  ${key}\n`);
}

if (values.strings === true) {
  const counts = new Map<string, { n: number; bytes: number }>();
  for (let i = 0; i < nodes.length; i += N) {
    const type = nodeTypes[nodes[i + typeAt]!];
    if (type !== 'string' && type !== 'concatenated string' && type !== 'sliced string') continue;
    const key = `(${type}) ${(strings[nodes[i + nameAt]!] ?? '').slice(0, 60).replace(/\r?\n/g, '⏎').replace(/[0-9a-f]{2,}/gi, '#')}`;
    const c = counts.get(key) ?? { n: 0, bytes: 0 };
    c.n++;
    c.bytes += nodes[i + sizeAt]!;
    counts.set(key, c);
  }
  process.stdout.write('\nstrings by total size:\n');
  for (const [key, c] of [...counts.entries()].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, top)) process.stdout.write(`${(c.bytes / 1048576).toFixed(2).padStart(9)} ${String(c.n).padStart(9)}  ${key}\n`);
}
