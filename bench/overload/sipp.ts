/**
 * SIPp (Debian package sip-tester) as the overload bench's caller and
 * callee: a record-routing UAS (bench/fixtures/sipp-uas-rr.xml) and one
 * caller run per load step (bench/fixtures/sipp-uac-rr.xml), each its own
 * process, stopped by its PID. A caller run is bounded from outside (its
 * -timeout does not always end a run with stuck calls; PEERS.md) and leaves
 * its outcome log and -trace_stat CSV for bench/overload/sipp-files.ts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { repoRoot } from '../../test/helpers/paths.js';
import { callsCreated, parseOutcomeLog, parseStatCsv, type CallOutcome } from './sipp-files.js';

export const SIPP = '/usr/bin/sipp';
const FIXTURES = join(repoRoot, 'bench', 'fixtures');
/** Socket buffers SIPp asks for (capped by net.core.rmem_max/wmem_max): the generators must not be what drops. */
const SIPP_BUFFER = '4194304';

export function requireSipp(): void {
  if (!existsSync(SIPP)) throw new Error(`${SIPP} is missing: install the Debian package "sip-tester" (apt-get install -y sip-tester; npm run bench does it as root)`);
}

/** Resolves once something is bound to host:port on UDP (binding it ourselves fails). */
async function waitUdpBound(host: string, port: number, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`sipp exited (${child.signalCode ?? child.exitCode}) before binding ${host}:${port}`);
    const taken = await new Promise<boolean>((resolve) => {
      const s = createSocket('udp4');
      s.once('error', () => resolve(true));
      s.bind(port, host, () => s.close(() => resolve(false)));
    });
    if (taken) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`sipp did not bind ${host}:${port} within ${timeoutMs} ms`);
}

/** SIGTERM, SIGKILL after `graceMs`; resolves when the process is gone. */
export function stopProcess(child: ChildProcess, graceMs = 2000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

export interface SippUas {
  host: string;
  port: number;
  pid: number;
  stop(): Promise<void>;
}

/** The record-routing SIPp UAS on host:port. */
export async function startSippUas(host: string, port: number): Promise<SippUas> {
  requireSipp();
  const args = ['-sf', join(FIXTURES, 'sipp-uas-rr.xml'), '-i', host, '-p', String(port), '-nostdin', '-buff_size', SIPP_BUFFER,
    // Unbounded otherwise: a call whose BYE never comes would be kept for ever.
    '-recv_timeout', '30000'];
  const child = spawn(SIPP, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr?.on('data', (d: Buffer) => {
    err = (err + d.toString('utf8')).slice(-2000);
  });
  try {
    await waitUdpBound(host, port, child, 5000);
  } catch (e) {
    await stopProcess(child);
    throw new Error(`${(e as Error).message}\n${err}`);
  }
  return { host, port, pid: child.pid ?? 0, stop: () => stopProcess(child) };
}

export interface CallerRunOptions {
  /** host:port the INVITEs go to (the proxy under test). */
  target: string;
  /** Local address and port of the caller. */
  host: string;
  port: number;
  /** Calls per second, and how many in all (rate × seconds). */
  rate: number;
  calls: number;
  /** Directory for its outcome log and stat CSV; `name` tells the files apart. */
  dir: string;
  name: string;
  /** Kill the run this long after it started, whatever state it is in. */
  boundMs: number;
  /**
   * SIPp's UDP mode: `u1` every call from one socket (one source port), `un`
   * one socket per call (sources spread, as from many phones). @default u1
   */
  udpMode?: 'u1' | 'un';
}

export interface CallerResult {
  outcomes: CallOutcome[];
  /** Calls SIPp created (stat CSV). */
  created: number;
  /** The run had to be killed at its bound (some calls had no outcome yet). */
  killed: boolean;
  exitCode: number | null;
}

export interface CallerRun {
  pid: number;
  /** Resolves when the run ended (by itself or at its bound) with what it left. */
  done: Promise<CallerResult>;
  stop(): Promise<void>;
}

/**
 * Start one caller run: `calls` calls at `rate`/s, no limit on calls open at
 * once (an open-loop load: a slow proxy does not slow the caller down).
 */
export function startCaller(o: CallerRunOptions): CallerRun {
  requireSipp();
  const logFile = join(o.dir, `${o.name}-outcomes.log`);
  const statFile = join(o.dir, `${o.name}-stat.csv`);
  const args = [
    o.target,
    '-sf', join(FIXTURES, 'sipp-uac-rr.xml'),
    '-i', o.host, '-p', String(o.port),
    '-r', String(o.rate), '-rp', '1000',
    '-m', String(o.calls),
    // Every call of the run may be open at once.
    '-l', String(o.calls + 1),
    '-trace_logs', '-log_file', logFile,
    '-trace_stat', '-stf', statFile, '-fd', '1',
    '-nostdin',
    '-buff_size', SIPP_BUFFER,
    ...(o.udpMode === 'un' ? ['-t', 'un', '-max_socket', '15000'] : []),
  ];
  const child = spawn(SIPP, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr?.on('data', (d: Buffer) => {
    err = (err + d.toString('utf8')).slice(-2000);
  });
  let killed = false;
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.once('error', (e) => {
      err += e.message;
      resolve(null);
    });
  });
  const bound = setTimeout(() => {
    killed = true;
    void stopProcess(child);
  }, o.boundMs);
  const done = (async (): Promise<CallerResult> => {
    const exitCode = await exited;
    clearTimeout(bound);
    const [log, stat] = await Promise.all([readFile(logFile, 'utf8').catch(() => ''), readFile(statFile, 'utf8').catch(() => '')]);
    if (log === '' && stat === '') throw new Error(`sipp caller ${o.name} left no files (exit ${exitCode}): ${err.trim().slice(-500)}`);
    return { outcomes: parseOutcomeLog(log), created: callsCreated(parseStatCsv(stat)), killed, exitCode };
  })();
  return { pid: child.pid ?? 0, done, stop: () => stopProcess(child) };
}
