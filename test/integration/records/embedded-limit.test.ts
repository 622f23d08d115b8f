/**
 * A call whose media the embedded relay frees at media.embedded.maxCallSeconds
 * ends its record as max-duration (a proxied plain call, anchored in the relay).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { startSbc } from '../../helpers/sbc.js';
import { SipPeer } from '../../helpers/sip-peer.js';
import { backends, placeCall, recordFor, uas } from './records-helpers.js';

test('embedded relay at maxCallSeconds: the record ends as max-duration, ended by the SBC', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sbc-records-emb-'));
  const file = join(dir, 'calls.jsonl');
  const backend = await uas();
  const sbc = await startSbc({
    backends: backends(backend),
    timers: { t1Ms: 50 },
    media: { mode: 'embedded', embedded: { address: '127.0.0.1', ports: '25700-25739', maxCallSeconds: 1 } },
    callRecords: { file },
  });
  const client = await SipPeer.udp();
  try {
    const call = await placeCall(client, { address: '127.0.0.1', port: sbc.listener('udp').boundPort }, backend);
    assert.doesNotMatch(call.inviteAtBackend.raw, /m=audio 40000 /, 'the relay anchored the media');
    const r = await recordFor(file, call.callId, 6000);
    assert.equal(r.reason, 'max-duration');
    assert.equal(r.endedBy, 'sbc');
    assert.equal(r.media, 'embedded');
    assert.ok(r.duration >= 0.9, `duration ${r.duration}`);
  } finally {
    client.close();
    backend.peer.close();
    await sbc.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
