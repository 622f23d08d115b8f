/**
 * Call quality from WebRTC statistics (W3C webrtc-stats: inbound-rtp / outbound-rtp).
 * Pure: takes the entries of an RTCStatsReport, so it runs in Node tests too.
 */

/** What the page shows and `window.softphone.stats()` returns. */
export interface CallQuality {
  /** inbound-rtp packetsReceived (audio). */
  inboundPackets: number;
  /** outbound-rtp packetsSent (audio). */
  outboundPackets: number;
  /** inbound-rtp totalAudioEnergy: grows only while the remote track is played. */
  audioEnergy: number;
  /** inbound-rtp audioLevel, 0..1, at the last sample. */
  audioLevel: number;
  /** inbound-rtp jitter in seconds, as getStats() reports it. */
  jitter: number;
  /** inbound-rtp packetsLost (cumulative, may be negative with duplicates per RFC 3550 §6.4.1). */
  lost: number;
}

/** The fields we read from one stats entry; an RTCStats object satisfies it. */
export interface StatsEntry {
  readonly type: string;
  readonly kind?: string;
  readonly mediaType?: string;
  readonly [field: string]: unknown;
}

export const NO_QUALITY: CallQuality = Object.freeze({
  inboundPackets: 0,
  outboundPackets: 0,
  audioEnergy: 0,
  audioLevel: 0,
  jitter: 0,
  lost: 0,
});

/** Sums the audio RTP streams of one getStats() report into a {@link CallQuality}. */
export function summarizeStats(entries: Iterable<StatsEntry>): CallQuality {
  const quality = { ...NO_QUALITY };
  for (const entry of entries) {
    if (!isAudio(entry)) continue;
    if (entry.type === 'inbound-rtp') {
      quality.inboundPackets += numberField(entry, 'packetsReceived');
      quality.lost += numberField(entry, 'packetsLost');
      quality.audioEnergy += numberField(entry, 'totalAudioEnergy');
      quality.audioLevel = Math.max(quality.audioLevel, numberField(entry, 'audioLevel'));
      quality.jitter = Math.max(quality.jitter, numberField(entry, 'jitter'));
    } else if (entry.type === 'outbound-rtp') {
      quality.outboundPackets += numberField(entry, 'packetsSent');
    }
  }
  return quality;
}

/** Loss as a percentage of the packets expected (received + lost). */
export function lossPercent(quality: CallQuality): number {
  const expected = quality.inboundPackets + Math.max(quality.lost, 0);
  return expected === 0 ? 0 : (Math.max(quality.lost, 0) / expected) * 100;
}

// Older Chromium builds name the field mediaType; a missing kind means an audio-only call.
function isAudio(entry: StatsEntry): boolean {
  const kind = entry.kind ?? entry.mediaType;
  return kind === undefined || kind === 'audio';
}

function numberField(entry: StatsEntry, name: string): number {
  const value = entry[name];
  return typeof value === 'number' && Number.isFinite(value) ? value : 0;
}
