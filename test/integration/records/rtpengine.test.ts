/**
 * The record of a call whose media went through a real rtpengine (plain
 * calls are anchored by default): media says rtpengine and names the engine
 * that held the call.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startRtpengine, type RunningRtpengine } from '../../helpers/rtpengine.js';
import { startSbc, type TestSbc } from '../../helpers/sbc.js';
import { SipPeer } from '../../helpers/sip-peer.js';
import { backends, callerHangsUp, placeCall, recordFor, uas, type Uas } from './records-helpers.js';

describe('call records with rtpengine', () => {
  let dir: string;
  let file: string;
  let engine: RunningRtpengine;
  let backend: Uas;
  let sbc: TestSbc;
  let client: SipPeer;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sbc-records-rtpe-'));
    file = join(dir, 'calls.jsonl');
    engine = await startRtpengine();
    backend = await uas();
    sbc = await startSbc({
      backends: backends(backend),
      timers: { t1Ms: 50 },
      media: { mode: 'rtpengine', rtpengine: { engines: [{ url: engine.udpUrl, weight: 1 }], timeoutMs: 500 } },
      callRecords: { file },
    });
    client = await SipPeer.udp();
  });
  after(async () => {
    client?.close();
    backend?.peer.close();
    await sbc?.stop();
    await engine?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('an anchored plain call: media rtpengine, mediaEngine the engine’s ng URL', async () => {
    const sbcUdp = { address: '127.0.0.1', port: sbc.listener('udp').boundPort };
    const call = await placeCall(client, sbcUdp, backend);
    const offered = call.inviteAtBackend.raw;
    assert.doesNotMatch(offered, /m=audio 40000 /, 'the offer the backend got is the engine’s, not the caller’s');
    await callerHangsUp(client, sbcUdp, call, backend);
    const r = await recordFor(file, call.callId);
    assert.equal(r.media, 'rtpengine');
    assert.equal(r.mediaEngine, engine.udpUrl);
    assert.equal(r.reason, 'bye-caller');
  });
});
