/**
 * Flow recovery with a real browser: the softphone page (SIP.js in
 * Chromium) in a call with a plain-RTP phone behind Kamailio, media through
 * a real rtpengine, topology hiding on. The SBC drops the page's WebSocket
 * mid-call; SIP.js reconnects and registers again (same Contact), and the
 * call goes on: audio both ways, the phone's hang-up reaches the page. An
 * ICE restart re-INVITE from the page (as after a network change) goes
 * through rtpengine and the audio resumes. The page's tab closing in a call
 * ends it toward the phone with a Reason, within grace + 1 s.
 *
 *   page ──WSS──► SBC ──UDP──► Kamailio ──► RtpUas (echo, registered at Kamailio)
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe } from 'node:test';
import type { Browser } from 'playwright-core';
import { launchChromium, SoftphonePage, waitForAudio } from '../helpers/browser.js';
import { behindKamailio, ensureWebBuilt, need, scenarios } from '../helpers/e2e-bed.js';
import { startKamailio, type RunningKamailio } from '../helpers/kamailio.js';
import { RtpUas, type RtpCall } from '../helpers/rtp-uas.js';
import { startRtpengine, type RunningRtpengine } from '../helpers/rtpengine.js';
import { startSbcInProcess, type TestSbc } from '../helpers/sbc.js';
import { readRecords, sleep } from '../integration/records/records-helpers.js';

const DOMAIN = 'example.com';
const ECHO = `sip:echo@${DOMAIN}`;
const MIN_RTP = 50;
const GRACE_SECONDS = 4;
const ENGINE_LOG_TAIL = 6000;

const MEDIA_PORTS = '41000-41199';

for (const media of ['rtpengine', 'embedded'] as const) describe(`flow recovery with Chromium (SIP.js), Kamailio and ${media === 'rtpengine' ? 'rtpengine' : 'the embedded relay (werift)'}`, () => {
  let engine: RunningRtpengine | undefined;
  let kam: RunningKamailio | undefined;
  let sbc: TestSbc | undefined;
  let uas: RtpUas | undefined;
  let browser: Browser | undefined;
  const pages: SoftphonePage[] = [];
  const recordsDir = mkdtempSync(join(tmpdir(), 'sbc-e2e-fr-'));
  const recordsFile = join(recordsDir, 'calls.jsonl');

  before(async () => {
    await ensureWebBuilt();
    if (media === 'rtpengine') engine = await startRtpengine({ ports: 200 });
    kam = await startKamailio();
    // In-process: the scenarios have the gateway drop the page's WebSocket by closing its flow object.
    sbc = await startSbcInProcess({
      listen: [
        { transport: 'udp', address: '127.0.0.1', port: 0 },
        { transport: 'wss', address: '127.0.0.1', port: 0 },
      ],
      ...behindKamailio(kam.uri),
      topologyHiding: { enabled: true },
      flowRecovery: { graceSeconds: GRACE_SECONDS },
      callRecords: { file: recordsFile },
      media: engine !== undefined
        ? { mode: 'rtpengine', rtpengine: { engines: [{ url: engine.udpUrl, weight: 1 }] } }
        : { mode: 'embedded', embedded: { address: '127.0.0.1', ports: MEDIA_PORTS } },
    });
    uas = await RtpUas.start({ user: 'echo', domain: DOMAIN });
    await uas.register({ address: kam.host, port: kam.port });
    browser = await launchChromium();
  });

  after(async () => {
    for (const page of pages) await page.close();
    await browser?.close().catch(() => undefined);
    uas?.close();
    await sbc?.stop().catch(() => undefined);
    await kam?.stop();
    await engine?.stop();
    rmSync(recordsDir, { recursive: true, force: true });
  });

  const scenario = scenarios(pages, {
    explain: (err) => new Error(`${err.message}\n--- rtpengine log (tail) ---\n${engine?.logs().slice(-ENGINE_LOG_TAIL) ?? '(no engine)'}`, { cause: err }),
  });

  const openPage = async (name: string): Promise<SoftphonePage> => {
    const s = need(sbc, 'the SBC');
    const p = await SoftphonePage.open(need(browser, 'Chromium'), `https://127.0.0.1:${s.listener('wss').boundPort}/`, name);
    pages.push(p);
    await p.register({ server: `wss://127.0.0.1:${s.listener('wss').boundPort}`, aor: `sip:${name}@${DOMAIN}` });
    await p.waitForState('registered');
    return p;
  };

  const wssFlowIds = (): string[] => [...need(sbc, 'the SBC').server.transport.flows.values()].filter((f) => f.transport === 'wss').map((f) => f.id);
  /** The id of the WSS flow a page registered on (GET /api/flows). */
  const flowOf = async (p: SoftphonePage): Promise<string | undefined> => {
    const body = (await (await fetch(`${need(sbc, 'the SBC').adminUrl}/api/flows`)).json()) as { flows: Array<{ id: string; registered: Array<{ aor: string }> }> };
    return body.flows.find((f) => f.registered.some((b) => b.aor === `sip:${p.name}@${DOMAIN}`))?.id;
  };

  const dialogFlowState = async (callId: string): Promise<string | undefined> => {
    const body = (await (await fetch(`${need(sbc, 'the SBC').adminUrl}/api/dialogs`)).json()) as { dialogs: Array<{ callId: string; flow?: string }> };
    return body.dialogs.find((d) => d.callId === callId)?.flow;
  };

  const assertAudioBothWays = async (p: SoftphonePage, call: RtpCall, label: string): Promise<void> => {
    const receivedBefore = call.media.audioPacketsReceived;
    const heard = await waitForAudio(p);
    assert.ok(heard.after.inboundPackets > heard.before.inboundPackets, `${label}: the page receives audio packets`);
    assert.ok(heard.after.audioEnergy > heard.before.audioEnergy, `${label}: the page plays audio with energy (its own beep, echoed)`);
    await waitUntil(() => call.media.audioPacketsReceived >= receivedBefore + MIN_RTP, 10_000,
      () => `${label}: the echo phone received ${call.media.audioPacketsReceived - receivedBefore} RTP packets, want ≥ ${MIN_RTP}`);
  };

  /** In a call with the echo phone: the SBC drops the page's WebSocket; the page reconnects and registers again. */
  const callThenDrop = async (p: SoftphonePage): Promise<RtpCall> => {
    const echo = need(uas, 'the echo phone');
    await p.call(ECHO);
    const call = await echo.nextIncomingCall();
    await p.waitForState('in call');
    await assertAudioBothWays(p, call, 'before the drop');
    assert.equal(await dialogFlowState(call.callId), 'up');

    const old = await flowOf(p);
    assert.ok(old !== undefined, 'the page\'s WSS flow');
    const kamailio = need(kam, 'Kamailio');
    const pathBefore = (await kamailio.contacts(p.name))[0]?.path[0];
    assert.ok(pathBefore !== undefined, 'Kamailio holds the page\'s binding with our Path');
    need(sbc, 'the SBC').server.transport.flows.get(old)?.close('e2e: the server drops the WebSocket');
    // SIP.js reconnects on a new WebSocket and the page registers again (same Contact): the call follows.
    await waitUntil(() => wssFlowIds().some((id) => id !== old), 10_000, () => 'the page never opened a new WebSocket');
    const reRegistered = async (): Promise<boolean> => {
      const contacts = await kamailio.contacts(p.name);
      return contacts.length === 1 && contacts[0]!.path[0] !== pathBefore;
    };
    await waitUntil(async () => (await dialogFlowState(call.callId)) === 'up' && (await reRegistered()), 10_000,
      async () => `the call's client flow is ${await dialogFlowState(call.callId)} after the reconnect; Kamailio: ${JSON.stringify(await kamailio.contacts(p.name))}`);
    assert.equal((await p.statusLine()).state, 'in call', 'the page still shows the call');
    return call;
  };

  scenario('the page\'s WebSocket drops in a call: SIP.js reconnects and re-registers, audio goes on both ways, the phone\'s hang-up reaches the page', async () => {
    const p = await openPage('alice');
    const call = await callThenDrop(p);
    await assertAudioBothWays(p, call, 'after the reconnect');

    const ok = await need(uas, 'the echo phone').hangup(call);
    assert.equal(ok.status, 200, 'the page answered the BYE on its new WebSocket');
    await p.waitForState('ended');
    assert.equal((await p.statusLine()).text, 'Call ended: remote hung up');
  });

  scenario(`after the reconnect an ICE restart re-INVITE from the page goes through ${media === 'rtpengine' ? 'rtpengine' : 'the embedded relay'} and the audio resumes; the page hangs up`, async () => {
    const p = await openPage('carol');
    const call = await callThenDrop(p);
    const offers = call.remoteSdps.length;
    const ufrags = await p.restartIce();
    assert.notEqual(ufrags.local[1], ufrags.local[0], 'the page offered new ICE credentials');
    assert.notEqual(ufrags.remote[1], ufrags.remote[0], `the answer carries new ICE credentials of the ${media === 'rtpengine' ? 'engine' : 'relay'} (an ICE restart both ways): ${JSON.stringify(ufrags)}`);
    // What a user checks: audio both ways after the restart. (rtpengine's restarted ICE agent does not
    // always complete: Chromium may check the engine's unchanged address with the old credentials a
    // moment before the restart offer reaches it, and then keeps that pairing; the engine's media
    // path follows the page's packets from the new port either way.)
    assert.ok(call.remoteSdps.length > offers, 'the echo phone got the re-INVITE (a plain RTP offer from the engine)');
    if (media === 'rtpengine') assert.match(call.remoteSdps.at(-1)!, /\r\nm=audio \d+ RTP\/AVP /, 'still RTP/AVP toward the phone');
    await assertAudioBothWays(p, call, 'after the ICE restart');

    await p.hangup();
    await p.waitForState('ended');
    await call.ended;
    assert.equal(call.endedBy, 'remote', 'the page\'s BYE reached the echo phone');
  });

  scenario('the tab closes in a call: the phone gets the BYE with Reason within grace + 1 s; the call\'s one record says client-gone', async () => {
    const p = await openPage('dave');
    const echo = need(uas, 'the echo phone');
    await p.call(ECHO);
    const call = await echo.nextIncomingCall();
    await p.waitForState('in call');
    // The tab goes without a word (a crash, a laptop lid): no BYE, no unregister, no reconnect.
    await p.page.evaluate(() => {
      (globalThis as unknown as { WebSocket: unknown }).WebSocket = class {
        constructor() {
          throw new Error('offline');
        }
      };
    });
    const flowId = await flowOf(p);
    need(sbc, 'the SBC').server.transport.flows.get(flowId ?? '')?.close('e2e: the tab is gone');
    await Promise.race([
      call.ended,
      new Promise((_, reject) => setTimeout(() => reject(new Error(`no BYE within grace + 1 s; the call is ${call.state}`)), (GRACE_SECONDS + 1) * 1000)),
    ]);
    assert.equal(call.endedBy, 'remote', 'the SBC hung up toward the phone');
    const bye = echo.peer.received.find((r) => r.msg.kind === 'request' && r.msg.method === 'BYE' && r.msg.callId === call.callId);
    assert.equal(bye?.msg.headers.get('reason'), 'SIP;cause=480;text="client connection lost"');
    const ofCall = (): ReturnType<typeof readRecords> => readRecords(recordsFile).filter((r) => r.insideCallId === call.callId || r.callId === call.callId);
    await waitUntil(() => ofCall().length > 0, 5000, () => `no record for ${call.callId}: ${JSON.stringify(readRecords(recordsFile))}`);
    await sleep(300);
    const records = ofCall();
    assert.equal(records.length, 1, `one record for the call: ${JSON.stringify(records)}`);
    assert.equal(records[0]!.reason, 'client-gone');
    assert.equal(records[0]!.endedBy, 'sbc');
  });
});

async function waitUntil(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: () => string | Promise<string>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${await what()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
