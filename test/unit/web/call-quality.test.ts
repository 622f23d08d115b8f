import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { lossPercent, NO_QUALITY, summarizeStats, type StatsEntry } from '../../../web/call-quality.js';

// Shaped like Chromium's RTCStatsReport values for an audio call (ids shortened).
const chromiumReport: StatsEntry[] = [
  { type: 'codec', id: 'COT01_111', mimeType: 'audio/opus' },
  { type: 'inbound-rtp', id: 'IT01A', kind: 'audio', packetsReceived: 155, packetsLost: 5, jitter: 0.004, audioLevel: 0.25, totalAudioEnergy: 0.53 },
  { type: 'outbound-rtp', id: 'OT01A', kind: 'audio', packetsSent: 150 },
  { type: 'remote-inbound-rtp', id: 'RI01A', kind: 'audio', packetsLost: 99, jitter: 0.5 },
  { type: 'candidate-pair', id: 'CP1', packetsReceived: 9999, packetsSent: 9999 },
  { type: 'inbound-rtp', id: 'IT01V', kind: 'video', packetsReceived: 1000 },
];

describe('summarizeStats', () => {
  test('reads the audio inbound-rtp and outbound-rtp entries only', () => {
    assert.deepEqual(summarizeStats(chromiumReport), {
      inboundPackets: 155,
      outboundPackets: 150,
      audioEnergy: 0.53,
      audioLevel: 0.25,
      jitter: 0.004,
      lost: 5,
    });
  });

  test('an empty report (call not connected yet) gives zeros', () => {
    assert.deepEqual(summarizeStats([]), NO_QUALITY);
  });

  test('missing or non-numeric fields count as zero', () => {
    const quality = summarizeStats([{ type: 'inbound-rtp', kind: 'audio', packetsReceived: 10, jitter: 'n/a' }]);
    assert.equal(quality.inboundPackets, 10);
    assert.equal(quality.jitter, 0);
    assert.equal(quality.audioEnergy, 0);
  });

  test('accepts the older mediaType field', () => {
    assert.equal(summarizeStats([{ type: 'outbound-rtp', mediaType: 'audio', packetsSent: 7 }]).outboundPackets, 7);
  });
});

describe('lossPercent', () => {
  test('is lost over expected packets', () => {
    assert.equal(lossPercent({ ...NO_QUALITY, inboundPackets: 95, lost: 5 }), 5);
  });

  test('is 0 with no packets and never negative with duplicates', () => {
    assert.equal(lossPercent(NO_QUALITY), 0);
    assert.equal(lossPercent({ ...NO_QUALITY, inboundPackets: 10, lost: -2 }), 0);
  });
});
