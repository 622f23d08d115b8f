/**
 * What the workers' shared state store costs per call: a store served over a
 * real IPC channel (a forked child, as the supervisor serves its workers)
 * and an IpcStateStore driven with a proxied call's topology-record
 * traffic (three hset, two hgetall, one delete per call), `--rate` calls a
 * second arriving in 1 ms ticks. Reports CPU µs per call of the worker side
 * and of the serving side (CPU time, so a busy machine skews it less than
 * wall time), and the answer latency.
 * Run: node dist/bench/ipc-store.bench.js [--rate 1500] [--seconds 5]
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { IpcStateStore } from '../src/cluster/ipc-state-store.js';
import type { IpcEndpoint } from '../src/cluster/ipc-endpoint.js';

const { values } = parseArgs({ options: { rate: { type: 'string', default: '1500' }, seconds: { type: 'string', default: '5' } } });
const RATE = Number(values.rate);
const SECONDS = Number(values.seconds);
const SERVER = fileURLToPath(new URL('../test/helpers/cluster/store-server.js', import.meta.url));

const child = fork(SERVER, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
await new Promise<void>((resolve) => child.on('message', (m: { fixture?: string }) => { if (m.fixture === 'ready') resolve(); }));
const childCpu = async (): Promise<number> => {
  const { readFile } = await import('node:fs/promises');
  const stat = (await readFile(`/proc/${child.pid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
  return (Number(stat[11]) + Number(stat[12])) / 100;
};
const store = new IpcStateStore({ endpoint: child as unknown as IpcEndpoint });

let n = 0;
const latencies: number[] = [];
async function call(i: number): Promise<void> {
  const key = `sbc:topo:k${i.toString(16).padStart(18, '0')}`;
  const t0 = performance.now();
  await store.hset(key, { 'r.abc123': '["<sip:10.0.0.5:5080;lr>"]' }, 180);
  await store.hset(key, { 'c.def456': 'sip:bob@10.0.0.9:5060', 'r.def456': '[]' }, 43200);
  await store.hgetall(key);
  await store.hset(key, { 'c.abc123': 'sip:alice@192.0.2.7:5062' }, 43200);
  await store.hgetall(key);
  await store.delete(key);
  latencies.push((performance.now() - t0) / 6);
}

async function run(seconds: number): Promise<{ calls: number; workerUs: number; serverUs: number }> {
  const cpu0 = process.cpuUsage();
  const s0 = await childCpu();
  const started: Promise<void>[] = [];
  const perTick = RATE / 1000;
  let owed = 0;
  const end = performance.now() + seconds * 1000;
  const t0 = performance.now();
  while (performance.now() < end) {
    owed += perTick;
    for (; owed >= 1; owed--) started.push(call(n++));
    await new Promise((r) => setTimeout(r, 1));
    const due = ((performance.now() - t0) * RATE) / 1000;
    owed += Math.max(0, due - started.length - owed);
  }
  await Promise.all(started);
  const cpu = process.cpuUsage(cpu0);
  const serverS = (await childCpu()) - s0;
  return { calls: started.length, workerUs: (cpu.user + cpu.system) / started.length, serverUs: (serverS * 1e6) / started.length };
}

await run(1); // warm-up
latencies.length = 0;
const r = await run(SECONDS);
latencies.sort((a, b) => a - b);
process.stdout.write(`${r.calls} calls at ${RATE}/s over ${SECONDS} s: worker side ${r.workerUs.toFixed(1)} µs CPU per call (includes the driver), serving side ${r.serverUs.toFixed(1)} µs per call; per-op latency p50 ${latencies[latencies.length >> 1]!.toFixed(2)} ms, p99 ${latencies[Math.floor(latencies.length * 0.99)]!.toFixed(2)} ms\n`);
await store.close();
child.kill();
await once(child, 'exit');
