/**
 * What one datagram costs a Node process at different rates, apart from the
 * gateway: the machine's floor under the gateway's CPU per call. A sender
 * paces datagrams (a SIP INVITE of ~400 bytes) at each rate in 1 ms ticks to
 * a child process, which does one of three things with each one:
 *   empty   nothing (a 'message' listener that counts)
 *   echo    sends it back
 *   relay   parses it, asks for the views the proxy asks for (top Via, CSeq,
 *           From, To, Request-URI), adds a Via, serializes and sends it back
 * and the figure is the child's CPU time (user + system, /proc) per datagram.
 * At a low rate each datagram has a wake-up of its own; at a high one the
 * kernel queues a few per tick and one wake-up reads them all, so CPU per
 * datagram falls with the rate for reasons that have nothing to do with SIP.
 * `workers: N` splits one rate into N processes each seeing 1/N of it: this
 * bench says what that costs on the machine at hand.
 * Run: node dist/bench/overload/wakeup-cost.js [--rates 600,2000,5000] [--seconds 8]
 */
import { fork } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parseMessage } from '../../src/sip/parser.js';
import { serialize } from '../../src/sip/serializer.js';

type Mode = 'empty' | 'echo' | 'relay';
const MODES: readonly Mode[] = ['empty', 'echo', 'relay'];

const INVITE = Buffer.from([
  'INVITE sip:bob@127.0.0.1:5080 SIP/2.0',
  'Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-bench-1;rport',
  'Max-Forwards: 70',
  'From: "Alice" <sip:alice@127.0.0.1:5070>;tag=1928301774',
  'To: <sip:bob@127.0.0.1>',
  'Call-ID: a84b4c76e66710@127.0.0.1',
  'CSeq: 314159 INVITE',
  'Contact: <sip:alice@127.0.0.1:5070>',
  'Content-Length: 0',
  '', '',
].join('\r\n'));

/** The child: bind, say the port, then handle datagrams in `mode`. */
function child(mode: Mode): void {
  const socket = createSocket('udp4');
  let n = 0;
  socket.on('message', (msg, rinfo) => {
    if (mode === 'empty') { n++; return; }
    if (mode === 'echo') { socket.send(msg, rinfo.port, rinfo.address); return; }
    const r = parseMessage(msg);
    if (!r.ok || r.value.kind !== 'request') return;
    const req = r.value;
    req.topVia(); req.cseq(); req.from(); req.to(); req.requestUri();
    req.headers.prepend('via', `SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-relay-${n++}`);
    socket.send(serialize(req), rinfo.port, rinfo.address);
  });
  socket.bind(0, '127.0.0.1', () => process.send?.({ port: socket.address().port }));
}

async function cpuSeconds(pid: number): Promise<number> {
  const text = await readFile(`/proc/${pid}/stat`, 'utf8');
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

async function measure(mode: Mode, rates: number[], seconds: number): Promise<Array<{ rate: number; usPerDatagram: number }>> {
  const proc = fork(fileURLToPath(import.meta.url), ['--child', mode], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      proc.once('message', (m) => resolve((m as { port: number }).port));
      proc.once('exit', () => reject(new Error(`the ${mode} receiver exited`)));
    });
    const sender: Socket = createSocket('udp4');
    sender.on('message', () => undefined);
    await new Promise<void>((resolve) => sender.bind(0, '127.0.0.1', () => resolve()));
    /** CPU seconds of the receiver per datagram sent at `rate` for `secs`. */
    const run = async (rate: number, secs: number): Promise<number> => {
      const c0 = await cpuSeconds(proc.pid!);
      const t0 = performance.now();
      let sent = 0;
      while (performance.now() - t0 < secs * 1000) {
        const due = Math.floor(((performance.now() - t0) / 1000) * rate);
        for (; sent < due; sent++) sender.send(INVITE, port, '127.0.0.1');
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      await new Promise((resolve) => setTimeout(resolve, 300));
      return ((await cpuSeconds(proc.pid!)) - c0) / Math.max(sent, 1);
    };
    // Warm-up (not counted): V8 optimizes the receiver's code after enough datagrams.
    await run(Math.max(...rates), 3);
    const out: Array<{ rate: number; usPerDatagram: number }> = [];
    for (const rate of rates) {
      const us = (await run(rate, seconds)) * 1e6;
      out.push({ rate, usPerDatagram: us });
      process.stderr.write(`${mode}: ${rate}/s for ${seconds} s → ${us.toFixed(1)} µs per datagram (cpu ${((us * rate) / 1e4).toFixed(1)} %)\n`);
    }
    sender.close();
    return out;
  } finally {
    proc.kill();
  }
}

const { values } = parseArgs({ options: { child: { type: 'string' }, rates: { type: 'string', default: '600,2000,5000' }, seconds: { type: 'string', default: '8' } } });
if (values.child !== undefined) {
  if (!MODES.includes(values.child as Mode)) throw new Error(`--child is one of ${MODES.join(', ')}`);
  child(values.child as Mode);
} else {
  const rates = values.rates!.split(',').map(Number);
  if (rates.some((r) => !(r > 0))) throw new Error(`--rates needs positive numbers, not ${values.rates}`);
  const seconds = Number(values.seconds);
  const rows: string[] = ['| receiver | ' + rates.map((r) => `${r}/s`).join(' | ') + ' |', '| --- |' + rates.map(() => ' --- |').join('')];
  for (const mode of MODES) {
    const r = await measure(mode, rates, seconds);
    rows.push(`| ${mode} | ${r.map((x) => `${x.usPerDatagram.toFixed(1)} µs`).join(' | ')} |`);
  }
  process.stdout.write(`CPU per datagram of the receiving process:\n${rows.join('\n')}\n`);
}
