/**
 * A real Kamailio on loopback for integration tests: a Path-honouring
 * registrar and proxy (PEERS.md, "Kamailio as a Path-honouring registrar").
 * The configuration comes from test/fixtures/kamailio/kamailio.cfg.template;
 * the process runs in the foreground, is stopped by its PID and its temp dir
 * removed, and `ul.dump` is read through kamcmd without blocking the event loop.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePortInRange } from './free-port.js';
import { fixturesDir } from './paths.js';

const execFileAsync = promisify(execFile);

const KAMAILIO = '/usr/sbin/kamailio';
const KAMCMD = '/usr/sbin/kamcmd';
const MODULE_DIRS = [
  '/usr/lib/x86_64-linux-gnu/kamailio/modules',
  '/usr/lib/aarch64-linux-gnu/kamailio/modules',
  '/usr/lib64/kamailio/modules',
  '/usr/lib/kamailio/modules',
  '/usr/local/lib64/kamailio/modules',
  '/usr/local/lib/kamailio/modules',
];
/** Lines of Kamailio's stderr kept for assertions and failure messages. */
const MAX_LOG_LINES = 20_000;

export interface KamailioOptions {
  /** UDP port; a free four-digit one by default. */
  port?: number;
  /** SIP worker processes. @default 4 */
  children?: number;
  /** How long to wait for the first 200 to OPTIONS. @default 10000 */
  startTimeoutMs?: number;
}

/** One binding as `ul.dump` shows it. */
export interface KamailioContact {
  contact: string;
  /** The stored Path vector, first hop first. */
  path: string[];
  expires?: number;
}

export interface RunningKamailio {
  host: '127.0.0.1';
  port: number;
  /** `sip:127.0.0.1:PORT;transport=udp`: the target URI for the SBC's backend group. */
  uri: string;
  pid: number;
  /** `kamcmd ul.dump`, parsed into nested objects (repeated keys become arrays). */
  ulDump(): Promise<unknown>;
  /** Bindings of one AOR (the user part: usrloc runs without domains). */
  contacts(aor: string): Promise<KamailioContact[]>;
  /** Kamailio's stderr so far, one entry a line. */
  logLines(): readonly string[];
  /** The `KAMTEST` lines the cfg writes (requests, branches, replies it saw). */
  events(): string[];
  /** Resolves with the first `KAMTEST` line matching `re`, waiting up to `timeoutMs`. */
  waitForEvent(re: RegExp, timeoutMs?: number): Promise<string>;
  stop(): Promise<void>;
}

/** The directory with Kamailio's modules on this machine. */
export function kamailioModuleDir(): string {
  for (const dir of MODULE_DIRS) if (existsSync(join(dir, 'registrar.so'))) return dir;
  throw new Error(`Kamailio modules not found in ${MODULE_DIRS.join(', ')}: install the Debian package "kamailio"`);
}

/** Start Kamailio and wait until it answers OPTIONS. */
export async function startKamailio(options: KamailioOptions = {}): Promise<RunningKamailio> {
  if (!existsSync(KAMAILIO)) throw new Error(`${KAMAILIO} is missing: install the Debian package "kamailio" (apt-get install kamailio)`);
  if (!existsSync(KAMCMD)) throw new Error(`${KAMCMD} is missing: install the Debian package "kamailio" (it ships kamcmd)`);
  const modules = kamailioModuleDir();
  const port = options.port ?? (await freePortInRange());
  // Kamailio changes into / before writing its pid file: every path is absolute.
  const runDir = mkdtempSync(join(tmpdir(), 'kamailio-test-'));
  const cfgPath = join(runDir, 'kamailio.cfg');
  const ctl = `unix:${join(runDir, 'kamailio_ctl')}`;
  const template = readFileSync(join(fixturesDir, 'kamailio', 'kamailio.cfg.template'), 'utf8');
  try {
    writeFileSync(cfgPath, fillTemplate(template, {
      PORT: String(port),
      RUNDIR: runDir,
      MODULES: modules,
      CHILDREN: String(options.children ?? 4),
    }));
  } catch (err) {
    rmSync(runDir, { recursive: true, force: true });
    throw err;
  }

  const lines: string[] = [];
  const listeners = new Set<(line: string) => void>();
  let partial = '';
  // Own process group, so a SIGKILL fallback also reaches the workers it forked.
  const child = spawn(KAMAILIO, ['-DD', '-E', '-f', cfgPath, '-Y', runDir, '-P', join(runDir, 'kamailio.pid'), '-m', '512', '-M', '16'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const onData = (chunk: Buffer): void => {
    const text = partial + chunk.toString('utf8');
    const parts = text.split('\n');
    partial = parts.pop() ?? '';
    for (const line of parts) {
      if (lines.length >= MAX_LOG_LINES) lines.shift();
      lines.push(line);
      for (const l of listeners) l(line);
    }
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let exitCode: number | null | undefined;
  void exited.then((code) => { exitCode = code; });
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      await terminate(child, exited);
      rmSync(runDir, { recursive: true, force: true });
    })();
    return stopping;
  };

  try {
    const ready = waitForOptions(port, options.startTimeoutMs ?? 10_000, () => exitCode !== undefined);
    const failed = spawnError.then((err) => Promise.reject(new Error(`kamailio did not start: ${err.message}`)));
    // A spawn error after start-up must not surface as an unhandled rejection.
    failed.catch(() => undefined);
    await Promise.race([ready, failed]);
  } catch (err) {
    await stop();
    const tail = lines.slice(-30).join('\n');
    throw new Error(`${(err as Error).message}\n--- kamailio output (last lines) ---\n${tail}`);
  }

  const events = (): string[] => lines.filter((l) => l.includes('KAMTEST ')).map((l) => l.slice(l.indexOf('KAMTEST ') + 8));
  const ulDump = async (): Promise<unknown> => {
    const { stdout } = await execFileAsync(KAMCMD, ['-s', ctl, 'ul.dump'], { timeout: 5000 });
    return parseKamcmdOutput(stdout);
  };

  return {
    host: '127.0.0.1',
    port,
    uri: `sip:127.0.0.1:${port};transport=udp`,
    pid: child.pid ?? -1,
    ulDump,
    contacts: async (aor) => contactsOf(await ulDump(), aor),
    logLines: () => lines,
    events,
    waitForEvent: (re, timeoutMs = 5000) => {
      const seen = events().find((e) => re.test(e));
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          listeners.delete(listener);
          reject(new Error(`kamailio never logged ${re}; its KAMTEST lines:\n${events().slice(-40).join('\n')}`));
        }, timeoutMs);
        const listener = (line: string): void => {
          const i = line.indexOf('KAMTEST ');
          if (i < 0 || !re.test(line.slice(i + 8))) return;
          clearTimeout(timer);
          listeners.delete(listener);
          resolve(line.slice(i + 8));
        };
        listeners.add(listener);
      });
    },
    stop,
  };
}

function fillTemplate(template: string, values: Record<string, string>): string {
  const out = template.replace(/@([A-Z]+)@/g, (m, key: string) => {
    const v = values[key];
    if (v === undefined) throw new Error(`kamailio.cfg.template: no value for ${m}`);
    return v;
  });
  return out;
}

/** SIGTERM, then SIGKILL to the whole process group if it has not exited in time. */
async function terminate(child: ChildProcess, exited: Promise<number | null>): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const timedOut = await Promise.race([
    exited.then(() => false),
    new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(true), 3000); }),
  ]);
  clearTimeout(timer);
  if (timedOut) {
    try { process.kill(-child.pid, 'SIGKILL'); } catch { /* already gone */ }
    await exited;
  }
}

/** OPTIONS to Kamailio every 100 ms until a 200 arrives. */
async function waitForOptions(port: number, timeoutMs: number, hasExited: () => boolean): Promise<void> {
  const sock = createSocket('udp4');
  sock.on('error', () => undefined);
  await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', () => resolve()));
  const local = sock.address().port;
  const callId = randomBytes(8).toString('hex');
  let timer: NodeJS.Timeout | undefined;
  let answered = false;
  sock.on('message', (buf) => {
    if (/^SIP\/2\.0 200 /.test(buf.toString('utf8')) && buf.includes(callId)) answered = true;
  });
  try {
    const deadline = Date.now() + timeoutMs;
    for (let cseq = 1; !answered; cseq++) {
      if (hasExited()) throw new Error('kamailio exited during start-up');
      if (Date.now() > deadline) throw new Error(`kamailio did not answer OPTIONS on 127.0.0.1:${port} within ${timeoutMs} ms`);
      const msg = [
        `OPTIONS sip:127.0.0.1:${port} SIP/2.0`,
        `Via: SIP/2.0/UDP 127.0.0.1:${local};branch=z9hG4bK${randomBytes(6).toString('hex')};rport`,
        'Max-Forwards: 70',
        `From: <sip:probe@127.0.0.1:${local}>;tag=${randomBytes(4).toString('hex')}`,
        `To: <sip:127.0.0.1:${port}>`,
        `Call-ID: ${callId}`,
        `CSeq: ${cseq} OPTIONS`,
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n');
      sock.send(msg, port, '127.0.0.1');
      await new Promise((resolve) => { timer = setTimeout(resolve, 100); });
    }
  } finally {
    clearTimeout(timer);
    sock.close();
  }
}

type KamValue = string | KamNode | Array<string | KamNode>;
interface KamNode { [key: string]: KamValue }

/**
 * kamcmd's default output: `{`, `Key: value`, `Key: {` … `}` lines. A key
 * that repeats in one block (AoRs, Contacts) becomes an array.
 */
export function parseKamcmdOutput(text: string): unknown {
  const root: KamNode = {};
  const stack: KamNode[] = [root];
  const put = (node: KamNode, key: string, value: string | KamNode): void => {
    const prev = node[key];
    if (prev === undefined) node[key] = value;
    else if (Array.isArray(prev)) prev.push(value);
    else node[key] = [prev, value];
  };
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line === '{') continue;
    if (line === '}') {
      if (stack.length > 1) stack.pop();
      continue;
    }
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const key = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    const top = stack[stack.length - 1]!;
    if (value === '{') {
      const child: KamNode = {};
      put(top, key, child);
      stack.push(child);
    } else put(top, key, value);
  }
  return root;
}

const asArray = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
const asNode = (v: unknown): KamNode | undefined => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as KamNode) : undefined);

/** The bindings of `aor` in a parsed ul.dump. */
export function contactsOf(dump: unknown, aor: string): KamailioContact[] {
  const out: KamailioContact[] = [];
  const domains = asNode(asNode(dump)?.['Domains']);
  for (const domain of asArray(domains?.['Domain'])) {
    for (const aors of asArray(asNode(domain)?.['AoRs'])) {
      for (const info of asArray(asNode(aors)?.['Info'])) {
        const node = asNode(info);
        if (node?.['AoR'] !== aor) continue;
        for (const contacts of asArray(node['Contacts'])) {
          for (const c of asArray(asNode(contacts)?.['Contact'])) {
            const cn = asNode(c);
            if (cn === undefined || typeof cn['Address'] !== 'string') continue;
            const path = typeof cn['Path'] === 'string' && cn['Path'] !== '[not set]' ? splitPath(cn['Path']) : [];
            const expires = typeof cn['Expires'] === 'string' && /^\d+$/.test(cn['Expires']) ? Number(cn['Expires']) : undefined;
            out.push({ contact: cn['Address'], path, ...(expires === undefined ? {} : { expires }) });
          }
        }
      }
    }
  }
  return out;
}

/** `<a>,<b>` → [`<a>`, `<b>`]; commas inside <> do not split. */
function splitPath(value: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < value.length; i++) {
    const ch = value[i];
    if (ch === '<') depth++;
    else if (ch === '>') depth--;
    else if (ch === ',' && depth === 0) {
      out.push(value.slice(start, i).trim());
      start = i + 1;
    }
  }
  const last = value.slice(start).trim();
  if (last !== '') out.push(last);
  return out;
}
