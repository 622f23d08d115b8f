/**
 * The ng flag sets that turn WebRTC media into plain RTP and back, as data.
 *
 * A direction names where an SDP comes from and where it goes:
 * - `webrtcToRtp`: an SDP from a browser (SAVPF, ICE, DTLS, rtcp-mux) going to
 *   a plain-RTP peer: the browser's offer, or the browser's answer to a backend offer.
 * - `rtpToWebrtc`: an SDP from a plain-RTP peer going to a browser: the backend's
 *   answer to a browser offer, or the backend's offer to a browser.
 *
 * The defaults are the sets that worked against rtpengine 10.5 and Chrome
 * (PEERS.md "rtpengine"; PROTOCOLS.md §1.5). Operators override them per
 * direction in `media.rtpengine.flags`: each top-level key given replaces the
 * default's key (lists are replaced, not appended), `null` removes it.
 */
import type { NgDict } from './ng-client.js';

export const MEDIA_DIRECTIONS = ['webrtcToRtp', 'rtpToWebrtc'] as const;
export type MediaDirection = (typeof MEDIA_DIRECTIONS)[number];

/** A value in a flag set, as JSON/YAML can write it and bencode can carry it. */
export type FlagValue = string | number | readonly FlagValue[] | { readonly [key: string]: FlagValue };
export type FlagSet = { readonly [key: string]: FlagValue };

export const DEFAULT_FLAG_SETS: Readonly<Record<MediaDirection, FlagSet>> = Object.freeze({
  webrtcToRtp: Object.freeze({
    'transport-protocol': 'RTP/AVP',
    ICE: 'remove',
    DTLS: 'off',
    SDES: ['off'],
    'rtcp-mux': ['demux'],
    replace: ['origin', 'session-connection'],
    flags: ['trust-address'],
    // Without it rtpengine starts DTLS as client before the browser has the
    // answer, and Chrome hangs in "connecting" (PEERS.md, DTLS race).
    'DTLS-reverse': 'passive',
  }),
  rtpToWebrtc: Object.freeze({
    'transport-protocol': 'UDP/TLS/RTP/SAVPF',
    ICE: 'force',
    DTLS: 'passive',
    // Chrome rejects a=crypto next to DTLS (sipwise/rtpengine #437).
    SDES: ['off'],
    'rtcp-mux': ['require'],
    replace: ['origin', 'session-connection'],
    flags: ['trust-address', 'generate-mid'],
  }),
});

/** rtpengine interface names (`--interface=NAME/IP`) facing each side, for multi-homed engines. */
export interface InterfaceLabels {
  /** Interface facing browsers, e.g. "pub". */
  webrtc: string;
  /** Interface facing the plain-RTP side, e.g. "priv". */
  rtp: string;
}

export interface FlagConfig {
  /** Per-direction overrides; a `null` value removes the default key. */
  flags?: Partial<Record<MediaDirection, { readonly [key: string]: FlagValue | null }>>;
  interfaces?: InterfaceLabels;
}

/** The dicts to send, resolved once from the configuration. */
export interface FlagSets {
  /** Flags for an offer going this way, with `direction` when interfaces are labelled. */
  offer(direction: MediaDirection): NgDict;
  /** Flags for an answer going this way. */
  answer(direction: MediaDirection): NgDict;
}

/** Merge the configured overrides over the defaults. */
export function resolveFlagSets(config: FlagConfig = {}): FlagSets {
  const merged = {} as Record<MediaDirection, FlagSet>;
  for (const direction of MEDIA_DIRECTIONS) merged[direction] = mergeFlagSet(DEFAULT_FLAG_SETS[direction], config.flags?.[direction]);
  const labels = config.interfaces;
  const offers = {} as Record<MediaDirection, NgDict>;
  for (const direction of MEDIA_DIRECTIONS) {
    // `direction` is [interface facing the offerer, interface facing the recipient]; rtpengine reads it on the initial offer only [ng].
    const pair = labels ? (direction === 'webrtcToRtp' ? [labels.webrtc, labels.rtp] : [labels.rtp, labels.webrtc]) : undefined;
    offers[direction] = Object.freeze(pair ? { ...merged[direction], direction: pair } : merged[direction]);
  }
  return {
    offer: (direction) => offers[direction],
    answer: (direction) => merged[direction],
  };
}

/** Shallow merge: a given key replaces the default's, `null` deletes it. */
export function mergeFlagSet(base: FlagSet, override: { readonly [key: string]: FlagValue | null } | undefined): FlagSet {
  if (!override) return base;
  const out: { [key: string]: FlagValue } = { ...base };
  for (const [key, value] of Object.entries(override)) {
    if (value === null) delete out[key];
    else out[key] = value;
  }
  return Object.freeze(out);
}
