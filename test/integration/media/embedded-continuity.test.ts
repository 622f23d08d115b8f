/**
 * What the embedded relay must keep straight across one call, seen from both
 * ends with an in-process werift browser (WS) and the plain-RTP echo phone:
 * - telephone-event both ways through a payload-type map: the browser offers
 *   it as 110, the phone answers it as 96; a digit from the browser reaches
 *   the phone as 96, and the phone's echo of it (sent as the relay's offer
 *   said) reaches the browser as 110;
 * - a re-INVITE (session refresh) from the browser keeps the plain side on
 *   the same relay port and keeps the stream toward the browser one stream:
 *   one SSRC, sequence numbers without a jump (issue 11: "keep
 *   SSRC/sequence/timestamp continuous toward the browser across re-INVITEs").
 * Proxy and B2BUA mode.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { RtpUas } from '../../helpers/rtp-uas.js';
import { startSbc, type TestSbc } from '../../helpers/sbc.js';
import { WeriftPhone, type WeriftCall } from '../../helpers/werift-phone.js';

const BROWSER_EVENT_PT = 110;
/** The phone answers telephone-event with its own number (RFC 3264 §6.1: SHOULD keep the offer's, not MUST). */
const PHONE_EVENT_PT = 96;
const PORT_MIN = 26000;
const PORT_MAX = 26399;

function telephoneEventPt(sdp: string | undefined): number | undefined {
  const m = /\r?\na=rtpmap:(\d+) telephone-event\/8000\b/i.exec(sdp ?? '');
  return m === null ? undefined : Number(m[1]);
}

function mediaPort(sdp: string | undefined): number | undefined {
  const m = /\r?\nm=audio (\d+) /.exec(sdp ?? '');
  return m === null ? undefined : Number(m[1]);
}

async function until(what: () => string, check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Sends a 20 ms packet until the returned stop() is called. */
function keepSending(call: WeriftCall): () => void {
  const timer = setInterval(() => call.send(), 20);
  return () => clearInterval(timer);
}

for (const mode of ['proxy', 'b2bua'] as const) {
  describe(`embedded relay continuity (${mode} mode): telephone-event both ways through a payload-type map, one stream across a re-INVITE`, () => {
    let sbc: TestSbc;
    let uas: RtpUas;
    let phone: WeriftPhone;

    before(async () => {
      uas = await RtpUas.start({ user: 'echo', domain: 'example.com', answerEventPt: PHONE_EVENT_PT });
      sbc = await startSbc({
        mode,
        backends: { default: { algorithm: 'round-robin', probe: { method: 'OPTIONS', intervalSeconds: 0, failuresToDown: 3, successesToUp: 1 }, targets: [{ uri: `sip:127.0.0.1:${uas.peer.address.port};transport=udp`, weight: 1, priority: 0 }] } },
        media: { mode: 'embedded', embedded: { address: '127.0.0.1', ports: `${PORT_MIN}-${PORT_MAX}` } },
        timers: { t1Ms: 100 },
      });
      phone = await WeriftPhone.connect(`ws://127.0.0.1:${sbc.listener('ws').boundPort}`, { eventPt: BROWSER_EVENT_PT });
    });

    after(async () => {
      await phone?.close();
      uas?.close();
      await sbc?.stop();
    });

    /** A call from the browser to the echo phone with audio flowing back; the phone's side of it. */
    const connectedCall = async (): Promise<{ call: WeriftCall; far: NonNullable<ReturnType<RtpUas['call']>> }> => {
      const call = await phone.call('sip:echo@example.com');
      await call.connected();
      const far = mode === 'proxy' ? uas.call(call.callId) : uas.calls().at(-1);
      assert.ok(far !== undefined, 'the echo phone has the call');
      const stop = keepSending(call);
      try {
        await until(() => `echo reaching the browser: ${call.packetsReceived} packets`, () => call.packetsReceived >= 5);
      } finally {
        stop();
      }
      return { call, far };
    };

    test('a digit from the browser reaches the phone with the phone\'s telephone-event payload type, and the phone\'s echo of it comes back with the browser\'s', async (t) => {
      const { call, far } = await connectedCall();
      try {
        const answerPt = telephoneEventPt(call.remoteSdp);
        assert.equal(answerPt, BROWSER_EVENT_PT, `the relay's answer keeps the browser's telephone-event payload type:\n${call.remoteSdp}`);
        const offeredPt = telephoneEventPt(far.remoteSdps[0]);
        assert.ok(offeredPt !== undefined, `the relay offered the phone telephone-event/8000:\n${far.remoteSdps[0]}`);
        assert.notEqual(offeredPt, PHONE_EVENT_PT, 'the phone answers with another number than the relay offered (so a map is needed)');
        t.diagnostic(`telephone-event: browser ${BROWSER_EVENT_PT}, relay offered the phone ${offeredPt}, the phone answered ${PHONE_EVENT_PT}`);
        const phonePt = PHONE_EVENT_PT;

        await call.sendEvent('5', BROWSER_EVENT_PT);
        await call.sendEvent('#', BROWSER_EVENT_PT);
        await until(() => `the phone decoded "${far.media.digits}", packets by payload type ${JSON.stringify([...far.media.payloadTypes])}`, () => far.media.digits.endsWith('5#'));
        assert.deepEqual([...far.media.digitPayloadTypes], [phonePt], 'the events reached the phone with its payload type');
        // The phone echoes every packet, events included: they must come back as the browser's 110.
        await until(() => `events back at the browser: by payload type ${JSON.stringify([...call.payloadTypes])}`, () => (call.payloadTypes.get(BROWSER_EVENT_PT) ?? 0) >= 6);
        const foreign = [...call.payloadTypes.keys()].filter((pt) => pt !== 0 && pt !== BROWSER_EVENT_PT);
        assert.deepEqual(foreign, [], `the browser got payload types its SDP does not have: ${JSON.stringify([...call.payloadTypes])}`);
      } finally {
        await phone.hangup(call);
      }
    });

    test('a re-INVITE from the browser: the phone keeps the same relay port, the browser keeps one stream (one SSRC, no sequence jump)', async () => {
      const { call, far } = await connectedCall();
      call.keepHeaders = true;
      const stop = keepSending(call);
      try {
        await new Promise((r) => setTimeout(r, 600));
        const before = call.headers.length;
        const answer = await phone.reinvite(call, 'sendrecv');
        assert.match(answer, /a=candidate:/, 'the re-INVITE was answered with WebRTC SDP');
        await until(() => `audio after the re-INVITE: ${call.headers.length - before} packets`, () => call.headers.length >= before + 30, 5000);
        await new Promise((r) => setTimeout(r, 300));
      } finally {
        stop();
      }
      try {
        assert.equal(far.remoteSdps.length, 2, 'the phone received the re-INVITE');
        assert.equal(mediaPort(far.remoteSdps[1]), mediaPort(far.remoteSdps[0]), `the re-offer points the phone at the same relay port:\n${far.remoteSdps[0]}\n---\n${far.remoteSdps[1]}`);
        const audio = call.headers.filter((h) => h.payloadType === 0);
        const ssrcs = [...new Set(audio.map((h) => h.ssrc))];
        assert.equal(ssrcs.length, 1, `one SSRC toward the browser across the re-INVITE, saw ${ssrcs.join(', ')}`);
        const jumps: string[] = [];
        for (let i = 1; i < audio.length; i++) {
          const step = (audio[i]!.sequenceNumber - audio[i - 1]!.sequenceNumber + 0x10000) & 0xffff;
          if (step === 0 || step > 10) jumps.push(`${audio[i - 1]!.sequenceNumber}→${audio[i]!.sequenceNumber} at packet ${i}`);
        }
        assert.deepEqual(jumps, [], 'sequence numbers toward the browser run on without a jump');
      } finally {
        await phone.hangup(call);
      }
    });
  });
}
