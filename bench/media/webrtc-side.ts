/**
 * The WebRTC side of the media bench, one process (forked with IPC): werift
 * calls (ICE, DTLS-SRTP) over one SIP WebSocket to the SBC, each sending 50
 * stamped packets/s while the window runs and counting what arrives
 * (bench/media/probe.ts). A browser, minus the browser.
 *
 * IPC in:  { cmd: 'calls', url, target, n, concurrency } | { cmd: 'hangup' }
 *          { cmd: 'arm', epoch } | { cmd: 'start' } | { cmd: 'stop' } | { cmd: 'report' } | { cmd: 'close' }
 * IPC out: { ready: true } | { calls: { established, failed, errors } } | { hungUp: { ok, failed } }
 *          { armed } | { started } | { stopped } | { report }
 */
import { WeriftPhone, type WeriftCall } from '../../test/helpers/werift-phone.js';
import { Pacer, stampedPayload, WindowCounter } from './probe.js';

const counter = new WindowCounter();
const pacer = new Pacer();
let phone: WeriftPhone | undefined;
let calls: WeriftCall[] = [];
/** Distinct failure messages kept for the report. */
const MAX_ERRORS = 5;

function send(message: unknown): void {
  process.send?.(message);
}

async function placeCalls(url: string, target: string, n: number, concurrency: number): Promise<{ established: number; failed: number; errors: string[] }> {
  phone ??= await WeriftPhone.connect(url);
  const active = phone;
  let next = 0;
  let failed = 0;
  const errors = new Set<string>();
  const worker = async (): Promise<void> => {
    while (next < n) {
      next++;
      try {
        const call = await active.call(target, { timeoutMs: 20_000 });
        call.onRtp = (rtp) => counter.onPayload(rtp.payload);
        try {
          await call.connected(20_000);
        } catch (err) {
          await active.hangup(call).catch(() => undefined);
          throw err;
        }
        calls.push(call);
      } catch (err) {
        failed++;
        if (errors.size < MAX_ERRORS) errors.add((err as Error).message.split('\n')[0] ?? '');
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, () => worker()));
  return { established: calls.length, failed, errors: [...errors] };
}

async function hangupAll(): Promise<{ ok: number; failed: number }> {
  const active = phone;
  const ending = calls;
  calls = [];
  let ok = 0;
  let failed = 0;
  // A few at a time: hundreds of BYEs and peer closes at once only measure the burst.
  for (let i = 0; i < ending.length; i += 20) {
    await Promise.all(ending.slice(i, i + 20).map(async (call) => {
      const status = active === undefined ? 0 : await active.hangup(call).catch(() => 0);
      if (status === 200) ok++;
      else failed++;
    }));
  }
  return { ok, failed };
}

process.on('message', (m: { cmd: string; url?: string; target?: string; n?: number; concurrency?: number; epoch?: number }) => {
  void (async () => {
    try {
      switch (m.cmd) {
        case 'calls':
          send({ calls: await placeCalls(m.url ?? '', m.target ?? '', m.n ?? 0, m.concurrency ?? 10) });
          return;
        case 'hangup':
          send({ hungUp: await hangupAll() });
          return;
        case 'arm':
          pacer.stop();
          counter.start(m.epoch ?? 1);
          send({ armed: counter.epoch });
          return;
        case 'start':
          pacer.start(() => calls.length, (i) => {
            const call = calls[i];
            if (call === undefined) return;
            call.send(stampedPayload(counter.epoch));
            counter.sent++;
          });
          send({ started: counter.epoch });
          return;
        case 'stop':
          pacer.stop();
          send({ stopped: true });
          return;
        case 'report':
          send({ report: { ...counter.report(), endpoints: calls.length } });
          return;
        case 'close':
          pacer.stop();
          await hangupAll().catch(() => undefined);
          await phone?.close();
          process.disconnect?.();
          return;
      }
    } catch (err) {
      send({ error: (err as Error).message });
    }
  })();
});

send({ ready: true });
