/**
 * Which codecs each side is offered, and how payload types map between legs.
 * The relay forwards without transcoding, so each side gets only codecs both
 * can do: Opus, PCMU, PCMA, G722, and RFC 4733 telephone-event at the clock
 * rate of the audio codec it goes with.
 */
import { codecKey, isTelephoneEvent, type AudioCodec } from './audio-sdp.js';

/** Audio codecs the relay passes through (name/rate, lower case). */
export const RELAYED_AUDIO: ReadonlySet<string> = new Set(['opus/48000', 'pcmu/8000', 'pcma/8000', 'g722/8000']);

/**
 * The codecs to offer the far side for an offer listing `offered`: the relayed
 * audio codecs in the offerer's order, and the telephone-events whose clock
 * rate matches one of them. Toward WebRTC only one telephone-event is kept (the
 * rate of the first audio codec): werift matches it by name only.
 * Empty when no audio codec is in common (the call gets 488).
 */
export function codecsToOffer(offered: readonly AudioCodec[], towardWebrtc: boolean): AudioCodec[] {
  const audio = offered.filter((c) => !isTelephoneEvent(c) && RELAYED_AUDIO.has(codecKey(c)));
  if (audio.length === 0) return [];
  const rates = new Set(audio.map((c) => c.rate));
  let events = offered.filter((c) => isTelephoneEvent(c) && rates.has(c.rate));
  if (towardWebrtc && events.length > 1) {
    const first = audio[0]!.rate;
    events = [events.find((e) => e.rate === first) ?? events[0]!];
  }
  return dedupeByPt([...audio, ...events]);
}

/**
 * The codecs to answer the offerer with, in its own payload types: those of
 * its offer that the far side accepted (by name and rate), with the
 * telephone-event of the chosen audio rate. Empty when nothing matches.
 */
export function codecsToAnswer(offer: readonly AudioCodec[], accepted: readonly AudioCodec[]): AudioCodec[] {
  const keys = new Set(accepted.map(codecKey));
  const audio = offer.filter((c) => !isTelephoneEvent(c) && keys.has(codecKey(c)));
  if (audio.length === 0) return [];
  const rate = audio[0]!.rate;
  const event = offer.find((c) => isTelephoneEvent(c) && c.rate === rate && keys.has(codecKey(c)));
  return dedupeByPt(event === undefined ? audio : [...audio, event]);
}

/** Payload type → codec key, for the payload types one party uses. */
export function ptKeys(...lists: ReadonlyArray<readonly AudioCodec[]>): Map<number, string> {
  const out = new Map<number, string>();
  // Earlier lists win: the party's own declaration over what we told it.
  for (const list of lists) for (const c of list) if (!out.has(c.pt)) out.set(c.pt, codecKey(c));
  return out;
}

/**
 * A payload-type translation table for one direction: index = payload type
 * received from the sender, value = payload type to send to the receiver, -1
 * to drop. `fromKeys` is what the sender's payload types mean; `toCodecs` the
 * receiver's declared codecs first, then ours toward it.
 */
export function payloadTypeMap(fromKeys: ReadonlyMap<number, string>, ...toCodecs: ReadonlyArray<readonly AudioCodec[]>): Int16Array {
  const map = new Int16Array(128).fill(-1);
  const byKey = new Map<string, number>();
  for (const list of toCodecs) for (const c of list) if (!byKey.has(codecKey(c))) byKey.set(codecKey(c), c.pt);
  for (const [pt, key] of fromKeys) {
    const out = byKey.get(key);
    if (out !== undefined && pt >= 0 && pt < 128) map[pt] = out;
  }
  return map;
}

/** Payload types that carry telephone-event, as a 128-entry lookup. */
export function eventPayloadTypes(...lists: ReadonlyArray<readonly AudioCodec[]>): Uint8Array {
  const out = new Uint8Array(128);
  for (const list of lists) for (const c of list) if (isTelephoneEvent(c) && c.pt < 128) out[c.pt] = 1;
  return out;
}

function dedupeByPt(codecs: AudioCodec[]): AudioCodec[] {
  const seen = new Set<number>();
  return codecs.filter((c) => (seen.has(c.pt) ? false : (seen.add(c.pt), true)));
}
