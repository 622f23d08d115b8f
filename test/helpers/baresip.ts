/**
 * baresip 1.0 (Debian `baresip-core`) as a real SIP phone in tests: a config
 * dir in os.tmpdir(), `baresip -f DIR -s` as a child process, and its
 * ctrl_tcp socket to dial, hang up and read events. The SIP trace (`-s`) on
 * stdout tells what the phone itself sent and received.
 *
 * ctrl_tcp speaks netstrings (`LEN:JSON,`): commands are
 * `{"command":"dial","params":"sip:…","token":"1"}`, answers carry
 * `"response":true` and the token, events carry `"event":true` and a `type`
 * (REGISTER_OK, CALL_ESTABLISHED, CALL_CLOSED, …).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tcpFree, udpFree } from './free-port.js';
import { fixturesDir } from './paths.js';

const PACKAGE = 'baresip-core';

/** Where Debian and source builds put the modules. */
const MODULE_DIRS = ['/usr/lib/baresip/modules', '/usr/lib/x86_64-linux-gnu/baresip/modules', '/usr/lib/aarch64-linux-gnu/baresip/modules', '/usr/local/lib/baresip/modules'];

/** Media modules (loaded with `module`) and application modules (`module_app`), all required. */
const MEDIA_MODULES = ['g711', 'ausine', 'aufile', 'alsa'];
const APP_MODULES = ['account', 'menu', 'ctrl_tcp'];

/** Keep this much of baresip's stdout/stderr; a call's SIP trace is a few kB. */
const MAX_OUTPUT_CHARS = 4_000_000;
const MAX_EVENTS = 10_000;

export interface BaresipOptions {
  /** Account line as in baresip's accounts file, e.g. `<sip:carol@127.0.0.1:5060;transport=udp>;regint=60;answermode=auto;audio_codecs=PCMU`. */
  account: string;
  /** SIP port (UDP and TCP; baresip also binds TLS on port + 1). @default a free one */
  listenPort?: number;
  /** ctrl_tcp commands (long form, e.g. `dial sip:bob@…`) run once the account exists. */
  commands?: string[];
  /** How long start may take, ms. @default 10000 */
  startTimeoutMs?: number;
}

/** One ctrl_tcp event. */
export interface BaresipEvent {
  event: true;
  type: string;
  class?: string;
  accountaor?: string;
  direction?: string;
  peeruri?: string;
  id?: string;
  param?: string;
  [key: string]: unknown;
}

/** One SIP message from baresip's `-s` trace. */
export interface SipTraceEntry {
  /** `in`: baresip received it; `out`: baresip sent it. */
  direction: 'in' | 'out';
  transport: string;
  src: string;
  dst: string;
  /** The message text, CRLF line ends as on the wire. */
  raw: string;
  firstLine: string;
}

interface CommandResponse {
  ok: boolean;
  data: string;
}

type EventWaiter = { type: string; match: (e: BaresipEvent) => boolean; resolve: (e: BaresipEvent) => void; reject: (e: Error) => void; timer: NodeJS.Timeout };
type CommandWaiter = { resolve: (r: CommandResponse) => void; reject: (e: Error) => void; timer: NodeJS.Timeout };

/** A running baresip; `stop()` ends it by PID and removes its config dir. */
export class Baresip {
  readonly confDir: string;
  readonly sipPort: number;
  readonly ctrlPort: number;
  /** Every event received so far, oldest first. */
  readonly events: BaresipEvent[] = [];
  #child: ChildProcess;
  #ctrl: Socket | undefined;
  #ctrlBuf = Buffer.alloc(0);
  #output = '';
  #exited: Promise<number | null>;
  #exitCode: number | null | undefined;
  #eventWaiters: EventWaiter[] = [];
  #commandWaiters = new Map<string, CommandWaiter>();
  #nextToken = 1;
  /** Events not yet handed to a waitEvent() call. */
  #unclaimed: BaresipEvent[] = [];
  #stopped: Promise<void> | undefined;
  #suspended = false;

  private constructor(child: ChildProcess, confDir: string, sipPort: number, ctrlPort: number) {
    this.#child = child;
    this.confDir = confDir;
    this.sipPort = sipPort;
    this.ctrlPort = ctrlPort;
    const keep = (chunk: Buffer): void => {
      this.#output += chunk.toString('utf8');
      if (this.#output.length > MAX_OUTPUT_CHARS) this.#output = this.#output.slice(-MAX_OUTPUT_CHARS / 2);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.#exited = new Promise((resolve) => {
      child.once('exit', (code) => {
        this.#exitCode = code;
        this.#failAll(new Error(`baresip exited (code ${String(code)}); output tail:\n${this.outputTail()}`));
        resolve(code);
      });
    });
  }

  /** PID of the baresip process. */
  get pid(): number {
    return this.#child.pid ?? -1;
  }

  /** `sip:127.0.0.1:PORT` where baresip listens. */
  get address(): { address: string; port: number } {
    return { address: '127.0.0.1', port: this.sipPort };
  }

  static async start(options: BaresipOptions): Promise<Baresip> {
    const moduleDir = findModuleDir();
    const sipPort = options.listenPort ?? (await freeSipPort());
    const ctrlPort = await freeTcpPortOutside([sipPort, sipPort + 1]);
    const confDir = mkdtempSync(join(tmpdir(), 'baresip-test-'));
    writeFileSync(join(confDir, 'config'), renderConfig({ sipPort, ctrlPort, moduleDir }));
    // The account is created over ctrl_tcp (uanew) once the socket is up, so
    // no REGISTERING/REGISTER_OK event is lost before the test listens.
    writeFileSync(join(confDir, 'accounts'), '');
    writeFileSync(join(confDir, 'contacts'), '');

    const child = spawn('baresip', ['-f', confDir, '-s'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const spawned = await new Promise<Error | undefined>((resolve) => {
      child.once('spawn', () => resolve(undefined));
      child.once('error', (err) => resolve(err));
    });
    if (spawned !== undefined) {
      rmSync(confDir, { recursive: true, force: true });
      const missing = (spawned as NodeJS.ErrnoException).code === 'ENOENT';
      throw new Error(missing ? `baresip is not installed: install the Debian package ${PACKAGE} (apt-get install ${PACKAGE})` : `cannot start baresip: ${spawned.message}`);
    }
    const phone = new Baresip(child, confDir, sipPort, ctrlPort);
    try {
      await phone.#connectCtrl(options.startTimeoutMs ?? 10_000);
      const created = await phone.command('uanew', options.account);
      if (!created.ok || !/Creating UA/.test(created.data)) throw new Error(`uanew failed: ${created.data}`);
      for (const c of options.commands ?? []) {
        const space = c.indexOf(' ');
        await phone.command(space < 0 ? c : c.slice(0, space), space < 0 ? undefined : c.slice(space + 1));
      }
    } catch (err) {
      await phone.stop();
      throw err;
    }
    return phone;
  }

  /** Run a ctrl_tcp command by its long name (`dial`, `hangup`, `uanew`, `reginfo`, …). */
  command(name: string, params?: string, timeoutMs = 5000): Promise<CommandResponse> {
    const ctrl = this.#ctrl;
    if (ctrl === undefined || this.#exitCode !== undefined) return Promise.reject(new Error(`baresip is not running; output tail:\n${this.outputTail()}`));
    const token = String(this.#nextToken++);
    const json = JSON.stringify(params === undefined ? { command: name, token } : { command: name, params, token });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#commandWaiters.delete(token);
        reject(new Error(`baresip did not answer "${name}" within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#commandWaiters.set(token, { resolve, reject, timer });
      ctrl.write(`${Buffer.byteLength(json)}:${json},`);
    });
  }

  /** Place a call. Resolves when baresip accepted the command, not when the call is up. */
  async dial(uri: string): Promise<void> {
    const r = await this.command('dial', uri);
    if (!r.ok) throw new Error(`dial ${uri} failed: ${r.data}`);
  }

  /** Hang up the current call. */
  async hangup(): Promise<void> {
    const r = await this.command('hangup');
    if (!r.ok) throw new Error(`hangup failed: ${r.data}`);
  }

  /**
   * The next event of `type` (optionally also matching `match`) not handed out
   * before, including ones that arrived before the call.
   */
  waitEvent(type: string, timeoutMs = 5000, match: (e: BaresipEvent) => boolean = () => true): Promise<BaresipEvent> {
    const ok = (e: BaresipEvent): boolean => e.type === type && match(e);
    const idx = this.#unclaimed.findIndex(ok);
    if (idx >= 0) return Promise.resolve(this.#unclaimed.splice(idx, 1)[0]!);
    if (this.#exitCode !== undefined) return Promise.reject(new Error(`baresip exited before ${type}; output tail:\n${this.outputTail()}`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#eventWaiters = this.#eventWaiters.filter((w) => w.timer !== timer);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for baresip event ${type}; events so far: ${this.events.map((e) => e.type).join(', ')}\noutput tail:\n${this.outputTail()}`));
      }, timeoutMs);
      this.#eventWaiters.push({ type, match: ok, resolve, reject, timer });
    });
  }

  /** SIP messages baresip sent and received so far, from its `-s` trace. */
  sipTrace(): SipTraceEntry[] {
    return parseSipTrace(this.#output, this.sipPort);
  }

  /** Everything baresip printed (bounded). */
  output(): string {
    return this.#output;
  }

  outputTail(chars = 3000): string {
    return this.#output.slice(-chars).replace(/\x1b\[[0-9;]*m/g, '');
  }

  /** SIGSTOP: the phone goes silent (a phone that lost its network), until `resume()`. */
  suspend(): void {
    if (this.#exitCode !== undefined) return;
    this.#child.kill('SIGSTOP');
    this.#suspended = true;
  }

  resume(): void {
    if (!this.#suspended || this.#exitCode !== undefined) return;
    this.#child.kill('SIGCONT');
    this.#suspended = false;
  }

  /** SIGTERM by PID, SIGKILL if it lingers; removes the config dir. Idempotent. */
  stop(): Promise<void> {
    this.#stopped ??= (async () => {
      this.#ctrl?.destroy();
      if (this.#exitCode === undefined) {
        this.resume(); // a stopped process would hold SIGTERM pending
        this.#child.kill('SIGTERM');
        // baresip un-registers on SIGTERM and waits for the answer; do not let it hold the test.
        const timer = setTimeout(() => this.#child.kill('SIGKILL'), 2000);
        await this.#exited;
        clearTimeout(timer);
      }
      this.#failAll(new Error('baresip stopped'));
      rmSync(this.confDir, { recursive: true, force: true });
    })();
    return this.#stopped;
  }

  async #connectCtrl(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.#exitCode !== undefined) throw new Error(`baresip exited at start (code ${String(this.#exitCode)}); output:\n${this.outputTail()}`);
      const sock = await new Promise<Socket | undefined>((resolve) => {
        const s = connect({ host: '127.0.0.1', port: this.ctrlPort });
        s.once('connect', () => resolve(s));
        s.once('error', () => { s.destroy(); resolve(undefined); });
      });
      if (sock !== undefined) {
        this.#ctrl = sock;
        sock.on('data', (chunk: Buffer) => this.#onCtrlData(chunk));
        sock.on('error', () => undefined);
        return;
      }
      if (Date.now() > deadline) throw new Error(`baresip ctrl_tcp did not listen on 127.0.0.1:${this.ctrlPort} within ${timeoutMs} ms; output:\n${this.outputTail()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  #onCtrlData(chunk: Buffer): void {
    this.#ctrlBuf = Buffer.concat([this.#ctrlBuf, chunk]);
    for (;;) {
      const colon = this.#ctrlBuf.indexOf(0x3a);
      if (colon < 0) return;
      const len = Number(this.#ctrlBuf.subarray(0, colon).toString('ascii'));
      if (!Number.isInteger(len) || len < 0) {
        // Thrown from a socket handler this would crash the runner; fail the waiters instead.
        this.#failAll(new Error(`bad netstring from baresip: ${this.#ctrlBuf.subarray(0, 40).toString()}`));
        this.#ctrl?.destroy();
        return;
      }
      if (this.#ctrlBuf.length < colon + 1 + len + 1) return;
      const text = this.#ctrlBuf.subarray(colon + 1, colon + 1 + len).toString('utf8');
      this.#ctrlBuf = this.#ctrlBuf.subarray(colon + 1 + len + 1);
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(text) as Record<string, unknown>;
      } catch {
        continue; // baresip 1.0 escapes its JSON; a broken one is skipped, its waiter times out with the output
      }
      this.#onCtrlMessage(msg);
    }
  }

  #onCtrlMessage(msg: Record<string, unknown>): void {
    if (msg.event === true) {
      const ev = msg as BaresipEvent;
      if (this.events.length < MAX_EVENTS) this.events.push(ev);
      const idx = this.#eventWaiters.findIndex((w) => w.match(ev));
      if (idx >= 0) {
        const [w] = this.#eventWaiters.splice(idx, 1);
        clearTimeout(w!.timer);
        w!.resolve(ev);
      } else if (this.#unclaimed.length < MAX_EVENTS) this.#unclaimed.push(ev);
    } else if (msg.response === true && typeof msg.token === 'string') {
      const w = this.#commandWaiters.get(msg.token);
      if (w === undefined) return;
      this.#commandWaiters.delete(msg.token);
      clearTimeout(w.timer);
      w.resolve({ ok: msg.ok === true, data: typeof msg.data === 'string' ? msg.data : '' });
    }
  }

  #failAll(err: Error): void {
    for (const w of this.#eventWaiters) { clearTimeout(w.timer); w.reject(err); }
    this.#eventWaiters = [];
    for (const w of this.#commandWaiters.values()) { clearTimeout(w.timer); w.reject(err); }
    this.#commandWaiters.clear();
  }
}

/** Start a baresip phone; see {@link BaresipOptions}. Stop it with `stop()`, also on failure (`t.after`). */
export function startBaresip(options: BaresipOptions): Promise<Baresip> {
  return Baresip.start(options);
}

/**
 * Split baresip's `-s` trace into messages. Each one is printed as
 * `ESC[36;1m#\nUDP SRC -> DST\n<message>ESC[;m`; a message whose destination
 * is baresip's own port came in.
 */
export function parseSipTrace(output: string, ownPort: number): SipTraceEntry[] {
  const entries: SipTraceEntry[] = [];
  const re = /\x1b\[36;1m#\n(\S+) (\S+) -> (\S+)\n([\s\S]*?)\x1b\[;m/g;
  for (let m = re.exec(output); m !== null; m = re.exec(output)) {
    const [, transport = '', src = '', dst = '', raw = ''] = m;
    entries.push({
      direction: dst.endsWith(`:${ownPort}`) ? 'in' : 'out',
      transport,
      src,
      dst,
      raw,
      firstLine: raw.slice(0, Math.max(0, raw.indexOf('\r\n'))),
    });
  }
  return entries;
}

function findModuleDir(): string {
  const dir = MODULE_DIRS.find((d) => existsSync(join(d, 'ctrl_tcp.so')));
  if (dir === undefined) throw new Error(`baresip modules not found in ${MODULE_DIRS.join(', ')}: install the Debian package ${PACKAGE}`);
  const missing = [...MEDIA_MODULES, ...APP_MODULES].filter((m) => !existsSync(join(dir, `${m}.so`)));
  if (missing.length > 0) throw new Error(`baresip modules ${missing.join(', ')} missing in ${dir}: install the Debian package ${PACKAGE}`);
  return dir;
}

function renderConfig(v: { sipPort: number; ctrlPort: number; moduleDir: string }): string {
  const modules = [...MEDIA_MODULES.map((m) => `module\t\t\t${m}.so`), ...APP_MODULES.map((m) => `module_app\t\t${m}.so`)].join('\n');
  return readFileSync(join(fixturesDir, 'baresip', 'config.template'), 'utf8')
    .replaceAll('{{SIP_PORT}}', String(v.sipPort))
    .replaceAll('{{CTRL_PORT}}', String(v.ctrlPort))
    .replaceAll('{{MODULE_PATH}}', v.moduleDir)
    .replaceAll('{{MODULES}}', modules);
}

/** A port free on UDP and TCP whose successor is free on TCP (baresip's TLS listener). */
async function freeSipPort(): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 30_000);
    if ((await tcpFree(port)) && (await udpFree(port)) && (await tcpFree(port + 1))) return port;
  }
  throw new Error('no free port pair for baresip');
}

async function freeTcpPortOutside(taken: number[]): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 30_000);
    if (!taken.includes(port) && (await tcpFree(port))) return port;
  }
  throw new Error('no free TCP port for baresip ctrl_tcp');
}

