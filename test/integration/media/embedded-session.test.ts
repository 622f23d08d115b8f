/**
 * A Session with WebRTC on both sides (two browsers, as calls between
 * registered browsers go): two werift peers of ours, RTP decrypted and
 * re-encrypted between them, each browser seeing one SSRC. No SIP: the
 * session's offer/answer is driven directly.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseAudioSdp } from '../../../src/media/embedded/audio-sdp.js';
import { createRelayCertificate } from '../../../src/media/embedded/certificate.js';
import { LegFactory } from '../../../src/media/embedded/leg-factory.js';
import { SideCounters } from '../../../src/media/embedded/media-leg.js';
import { PortAllocator } from '../../../src/media/embedded/port-allocator.js';
import { Session } from '../../../src/media/embedded/session.js';
import { WeriftBrowser } from '../../helpers/werift-browser.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
async function until(what: string, check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}
const desc = (sdp: string) => {
  const r = parseAudioSdp(sdp);
  if (!r.ok) throw new Error(r.error);
  return r.value;
};

test('browser ⇄ browser through two relay peers: Opus both ways, telephone-event kept, ports back after close', async () => {
  const base = 20_000 + 2 * Math.floor(Math.random() * 10_000);
  const allocator = new PortAllocator(base, base + 19);
  const counters = { webrtc: new SideCounters(), plain: new SideCounters() };
  const legs = new LegFactory({ allocator, bindAddress: '127.0.0.1', advertise: '127.0.0.1', certificate: await createRelayCertificate(), counters });
  const session = new Session({ id: 't', callerTag: 'a', clientFlows: [], kinds: { caller: 'webrtc', callee: 'webrtc' }, legs, counters });
  const alice = new WeriftBrowser();
  const bob = new WeriftBrowser();
  try {
    const offerA = await alice.offer();
    const towardBob = await session.offer('caller', desc(offerA), offerA);
    assert.match(towardBob, /UDP\/TLS\/RTP\/SAVPF 111 /, 'Opus first, as Alice offered');
    assert.equal((towardBob.match(/telephone-event/g) ?? []).length, 1, 'one telephone-event toward a werift-matched peer');
    const answerB = await bob.answer(towardBob);
    const towardAlice = await session.answer('callee', desc(answerB), answerB);
    await alice.accept(towardAlice);
    await Promise.all([alice.connected(), bob.connected()]);
    await Promise.all([alice.sendAudio(30, 111), bob.sendAudio(30, 111)]);
    await until('Opus both ways', () => alice.totalReceived(111) >= 25 && bob.totalReceived(111) >= 25);
    await alice.sendDtmf(3, 110);
    await until('telephone-event/48000 at Bob', () => bob.totalReceived(110) >= 5);
    assert.equal(alice.ssrcs.size, 1);
    assert.equal(bob.ssrcs.size, 1);
    assert.ok(counters.webrtc.dtmfEvents >= 1);
  } finally {
    await session.close();
    await alice.close();
    await bob.close();
  }
  assert.equal(allocator.free, allocator.total);
  assert.equal(legs.open, 0);
});
