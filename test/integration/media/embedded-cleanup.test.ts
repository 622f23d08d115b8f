/**
 * The embedded relay gives back everything a call took: 50 WebRTC calls set
 * up, carrying audio both ways, and torn down (BYE from each side in turn)
 * through an in-process SBC with `media.mode: embedded`. Afterwards the open
 * UDP sockets, file descriptors and timers of the process are back at their
 * count before the calls, the relay lists no session, and the JS heap after
 * a full GC has not grown by more than a small bound.
 *
 *   WeriftPhone (werift, WS) ──► SBC + relay ──UDP──► RtpUas (plain RTP, echoes)
 *
 * The browser side is werift in this process (test/helpers/werift-phone.ts),
 * so its sockets are counted too: they must close as well. SIP timers are
 * shortened (T1 50 ms, T4 500 ms) so finished transactions leave in a second.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { after, before, describe, test } from 'node:test';
import { relayHolding } from '../../helpers/embedded-relay.js';
import { RtpUas } from '../../helpers/rtp-uas.js';
import { startSbc, type TestSbc } from '../../helpers/sbc.js';
import { WeriftPhone, type WeriftCall } from '../../helpers/werift-phone.js';

const CALLS = 50;
const CONCURRENT = 5;
const WARM_UP_CALLS = 5;
/**
 * The heap is judged over calls made after the 50: the first tens of calls
 * grow it by ~2-4 MB once (compiled code, werift's and pino's caches; a
 * standalone run measured +1.9 MB after 50, +1.8 MB after 100, +1.5 MB after
 * 150), a leak keeps growing it. After the first 50, 3-15 kB per call was
 * seen (everything in this process counts: the SBC's SIP state, both werift
 * ends); a werift peer or a relay session kept per call is far above the bound.
 */
const MORE_CALLS = 50;
const MAX_HEAP_GROWTH_PER_CALL_BYTES = 30 * 1024;
const PORT_MIN = 25000;
const PORT_MAX = 25999;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

interface Resources {
  udp: number;
  timeouts: number;
  fds: number;
}

function resources(): Resources {
  const info = process.getActiveResourcesInfo();
  return {
    udp: info.filter((r) => r === 'UDPWrap').length,
    timeouts: info.filter((r) => r === 'Timeout').length,
    fds: readdirSync('/proc/self/fd').length,
  };
}

async function heapAfterGc(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setImmediate(r));
  }
  return process.memoryUsage().heapUsed;
}

describe('embedded relay: 50 calls leave no socket, timer, session or heap behind', () => {
  let sbc: TestSbc;
  let uas: RtpUas;
  let phone: WeriftPhone;

  before(async () => {
    uas = await RtpUas.start({ user: 'echo', domain: 'example.com' });
    sbc = await startSbc({
      backends: { default: { algorithm: 'round-robin', probe: { method: 'OPTIONS', intervalSeconds: 0, failuresToDown: 3, successesToUp: 1 }, targets: [{ uri: `sip:127.0.0.1:${uas.peer.address.port};transport=udp`, weight: 1, priority: 0 }] } },
      media: { mode: 'embedded', embedded: { address: '127.0.0.1', ports: `${PORT_MIN}-${PORT_MAX}` } },
      timers: { t1Ms: 50, t2Ms: 400, t4Ms: 500 },
    });
    phone = await WeriftPhone.connect(`ws://127.0.0.1:${sbc.listener('ws').boundPort}`);
  });

  after(async () => {
    await phone?.close();
    uas?.close();
    await sbc?.stop();
  });

  const relaySessions = () => relayHolding(sbc.adminUrl);

  /** Live heap after a full GC, without the test's own records of SIP messages and ended calls. */
  const heapNow = async (): Promise<number> => {
    uas.forgetEnded();
    phone.peer.forget();
    // Closed peers let go of their buffers a little after close() resolves.
    await new Promise((r) => setTimeout(r, 2000));
    return heapAfterGc();
  };

  /** One call: set up, audio both ways, torn down by `hangupBy`. */
  const oneCall = async (n: number, hangupBy: 'browser' | 'phone'): Promise<void> => {
    const call: WeriftCall = await phone.call(`sip:echo@example.com`);
    try {
      await call.connected();
      const far = uas.call(call.callId);
      assert.ok(far !== undefined, `call ${n}: the phone got the INVITE`);
      const deadline = Date.now() + 5000;
      while (far.media.audioPacketsReceived < 5 || call.packetsReceived < 3) {
        if (Date.now() > deadline) {
          assert.fail(`call ${n}: audio did not flow both ways: phone received ${far.media.audioPacketsReceived}, werift received ${call.packetsReceived} of ${far.media.packetsSent} echoed; answer:\n${call.remoteSdp}`);
        }
        call.send();
        await new Promise((r) => setTimeout(r, 20));
      }
      if (hangupBy === 'browser') {
        assert.equal(await phone.hangup(call), 200, `call ${n}: BYE from the browser side answered`);
        await far.ended;
      } else {
        assert.equal((await uas.hangup(far)).status, 200, `call ${n}: BYE from the phone answered`);
        await call.ended;
        assert.ok(call.endedByRemote, `call ${n}: the browser side received the BYE`);
      }
    } finally {
      await call.close();
    }
  };

  const runCalls = async (count: number, first: number): Promise<number> => {
    let peakUdp = 0;
    for (let i = 0; i < count; i += CONCURRENT) {
      const batch = Array.from({ length: Math.min(CONCURRENT, count - i) }, (_, k) => first + i + k);
      const running = batch.map((n) => oneCall(n, n % 2 === 0 ? 'browser' : 'phone'));
      // Sample while the batch's calls are up.
      await new Promise((r) => setTimeout(r, 150));
      peakUdp = Math.max(peakUdp, resources().udp);
      await Promise.all(running);
    }
    return peakUdp;
  };

  /** Polls until `resources()` is at or below `base` in every count (closes and timers finish asynchronously). */
  const settle = async (base: Resources, timeoutMs: number): Promise<Resources> => {
    const deadline = Date.now() + timeoutMs;
    let now = resources();
    while (Date.now() < deadline && (now.udp > base.udp || now.timeouts > base.timeouts || now.fds > base.fds)) {
      await new Promise((r) => setTimeout(r, 200));
      now = resources();
    }
    return now;
  };

  test(`${CALLS} calls with audio both ways, BYE from each side in turn: sockets, fds, timers and relay sessions back to their start; the heap stops growing`, async (t) => {
    // Warm-up: werift's and the relay's first-use allocations (certificate, code) are not a leak.
    await runCalls(WARM_UP_CALLS, 0);
    // Closes and finished transactions go away within a second or two.
    await new Promise((r) => setTimeout(r, 2000));
    const base = resources();
    const heapAtStart = await heapNow();
    assert.equal((await relaySessions()).sessions, 0, 'no session before the measured calls');

    const peakUdp = await runCalls(CALLS, WARM_UP_CALLS);
    assert.ok(peakUdp > base.udp, `calls open UDP sockets while up (peak ${peakUdp}, base ${base.udp}): the count measures something`);

    const end = await settle(base, 10_000);
    const sessions = await relaySessions();
    assert.equal(sessions.sessions, 0, `the relay lists no session after the calls: ${JSON.stringify(sessions.raw)}`);
    assert.ok(end.udp <= base.udp, `UDP sockets back to ${base.udp}, have ${end.udp}: ${JSON.stringify(process.getActiveResourcesInfo())}`);
    assert.ok(end.fds <= base.fds, `file descriptors back to ${base.fds}, have ${end.fds}`);
    assert.ok(end.timeouts <= base.timeouts, `timers back to ${base.timeouts}, have ${end.timeouts}`);
    assert.equal(phone.openCalls, 0, 'the browser side holds no call');

    const heapAfter50 = await heapNow();
    await runCalls(MORE_CALLS, WARM_UP_CALLS + CALLS);
    const heapAfterMore = await heapNow();
    const growth = heapAfterMore - heapAfter50;
    t.diagnostic(`heap: +${((heapAfter50 - heapAtStart) / 1024).toFixed(0)} kB over ${CALLS} calls, then +${(growth / 1024).toFixed(0)} kB over ${MORE_CALLS} more; UDP sockets at peak ${peakUdp}, at rest ${base.udp}`);
    assert.ok(growth <= MAX_HEAP_GROWTH_PER_CALL_BYTES * MORE_CALLS,
      `live heap grew ${(growth / 1024).toFixed(0)} kB over ${MORE_CALLS} more calls (${(growth / MORE_CALLS / 1024).toFixed(1)} kB per call, allowed ${MAX_HEAP_GROWTH_PER_CALL_BYTES / 1024}); ` +
      `over the first ${CALLS}: ${((heapAfter50 - heapAtStart) / 1024).toFixed(0)} kB`);
    const last = await settle(base, 10_000);
    assert.ok(last.udp <= base.udp && last.fds <= base.fds, `sockets and fds back to start after ${MORE_CALLS} more calls too: ${JSON.stringify(last)} vs ${JSON.stringify(base)}`);
  });
});

