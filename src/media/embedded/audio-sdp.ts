/**
 * The audio part of an SDP, as far as the embedded relay needs it (RFC 8866,
 * RFC 3264): the first audio m-line's address, ports, codecs and direction,
 * and the other m-lines so an answer can reject them in place. Hostile input
 * gives an error, never a throw.
 */
import type { Result } from '../../sip/result.js';

export type MediaDirection = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';

/** One payload type of the audio m-line. `name` is as written (case kept); compare with {@link codecKey}. */
export interface AudioCodec {
  pt: number;
  name: string;
  rate: number;
  channels: number;
  fmtp?: string;
}

export interface AudioDescription {
  /** Connection address (media-level c= over session-level). */
  address: string;
  port: number;
  /** a=rtcp port, if given. */
  rtcpPort: number | undefined;
  rtcpMux: boolean;
  protocol: string;
  /** A WebRTC description: DTLS fingerprint or a SAVPF/TLS profile. */
  webrtc: boolean;
  codecs: AudioCodec[];
  direction: MediaDirection;
  ptime: number | undefined;
  /** Every m= line in order; `audioIndex` is ours. */
  mLines: string[];
  audioIndex: number;
}

/** RFC 3551 static payload types we relay. */
const STATIC_PTS: Readonly<Record<number, { name: string; rate: number }>> = {
  0: { name: 'PCMU', rate: 8000 },
  8: { name: 'PCMA', rate: 8000 },
  9: { name: 'G722', rate: 8000 },
};

const MAX_LINES = 512;
const MAX_CODECS = 64;

/** Codec identity across legs: lower-case name and clock rate. */
export function codecKey(c: { name: string; rate: number }): string {
  return `${c.name.toLowerCase()}/${c.rate}`;
}

export function isTelephoneEvent(c: { name: string }): boolean {
  return c.name.toLowerCase() === 'telephone-event';
}

export function parseAudioSdp(sdp: string): Result<AudioDescription, string> {
  const lines = sdp.split('\n');
  if (lines.length > MAX_LINES) return { ok: false, error: 'SDP has too many lines' };
  if (!lines[0]?.startsWith('v=0')) return { ok: false, error: 'SDP does not start with v=0' };
  let sessionAddress: string | undefined;
  let mediaAddress: string | undefined;
  let sessionDirection: MediaDirection | undefined;
  let direction: MediaDirection | undefined;
  const mLines: string[] = [];
  let audioIndex = -1;
  let inAudio = false;
  let port = 0;
  let protocol = '';
  let pts: number[] = [];
  const rtpmap = new Map<number, { name: string; rate: number; channels: number }>();
  const fmtp = new Map<number, string>();
  let rtcpPort: number | undefined;
  let rtcpMux = false;
  let fingerprint = false;
  let ptime: number | undefined;
  for (const raw of lines) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.startsWith('m=')) {
      mLines.push(line);
      inAudio = false;
      if (audioIndex < 0 && line.startsWith('m=audio ')) {
        const parts = line.slice(8).split(' ');
        const p = Number(parts[0]?.split('/')[0]);
        if (!Number.isInteger(p) || p < 0 || p > 65535) return { ok: false, error: 'bad audio port' };
        port = p;
        protocol = parts[1] ?? '';
        pts = [];
        for (const f of parts.slice(2, 2 + MAX_CODECS)) {
          const n = Number(f);
          if (Number.isInteger(n) && n >= 0 && n <= 127) pts.push(n);
        }
        audioIndex = mLines.length - 1;
        inAudio = true;
      }
      continue;
    }
    if (line.startsWith('c=')) {
      const addr = line.split(' ')[2]?.split('/')[0];
      if (addr === undefined || addr === '') return { ok: false, error: 'bad c= line' };
      if (mLines.length === 0) sessionAddress = addr;
      else if (inAudio) mediaAddress = addr;
      continue;
    }
    if (!line.startsWith('a=')) continue;
    const attr = line.slice(2);
    if (attr.startsWith('fingerprint:')) fingerprint = true;
    const dir = attr === 'sendrecv' || attr === 'sendonly' || attr === 'recvonly' || attr === 'inactive' ? attr : undefined;
    if (mLines.length === 0) {
      if (dir !== undefined) sessionDirection = dir;
      continue;
    }
    if (!inAudio) continue;
    if (dir !== undefined) direction = dir;
    else if (attr === 'rtcp-mux') rtcpMux = true;
    else if (attr.startsWith('rtcp:')) {
      const n = Number(attr.slice(5).split(' ')[0]);
      if (Number.isInteger(n) && n > 0 && n <= 65535) rtcpPort = n;
    } else if (attr.startsWith('rtpmap:')) {
      const sp = attr.indexOf(' ');
      const pt = Number(attr.slice(7, sp));
      const [name, rate, channels] = attr.slice(sp + 1).split('/');
      const r = Number(rate);
      if (sp > 0 && Number.isInteger(pt) && name !== undefined && name !== '' && Number.isInteger(r) && r > 0) {
        rtpmap.set(pt, { name, rate: r, channels: channels === undefined ? 1 : Number(channels) || 1 });
      }
    } else if (attr.startsWith('fmtp:')) {
      const sp = attr.indexOf(' ');
      const pt = Number(attr.slice(5, sp));
      if (sp > 0 && Number.isInteger(pt)) fmtp.set(pt, attr.slice(sp + 1));
    } else if (attr.startsWith('ptime:')) {
      const n = Number(attr.slice(6));
      if (Number.isFinite(n) && n > 0) ptime = n;
    }
  }
  if (audioIndex < 0) return { ok: false, error: 'no audio m-line' };
  const address = mediaAddress ?? sessionAddress;
  if (address === undefined) return { ok: false, error: 'no connection address' };
  const codecs: AudioCodec[] = [];
  for (const pt of pts) {
    const m = rtpmap.get(pt);
    const s = m === undefined ? STATIC_PTS[pt] : undefined;
    const f = fmtp.get(pt);
    if (m !== undefined) codecs.push({ pt, name: m.name, rate: m.rate, channels: m.channels, ...(f !== undefined ? { fmtp: f } : {}) });
    else if (s !== undefined) codecs.push({ pt, name: s.name, rate: s.rate, channels: 1, ...(f !== undefined ? { fmtp: f } : {}) });
  }
  return {
    ok: true,
    value: {
      address,
      port,
      rtcpPort,
      rtcpMux,
      protocol,
      webrtc: fingerprint || protocol.includes('SAVPF') || protocol.includes('TLS'),
      codecs,
      direction: direction ?? sessionDirection ?? 'sendrecv',
      ptime,
      mLines,
      audioIndex,
    },
  };
}

/** The direction as seen from the other end (RFC 3264 §6.1). */
export function reverseDirection(d: MediaDirection): MediaDirection {
  return d === 'sendonly' ? 'recvonly' : d === 'recvonly' ? 'sendonly' : d;
}

export interface PlainSdpSpec {
  sessionId: number;
  version: number;
  address: string;
  port: number;
  codecs: readonly AudioCodec[];
  direction: MediaDirection;
  ptime?: number | undefined;
  /** m-lines of the offer this answers: the others go back rejected (port 0), in place. */
  answering?: { mLines: readonly string[]; audioIndex: number } | undefined;
}

/** An RTP/AVP SDP carrying only our address (topology hiding for media). */
export function plainSdp(s: PlainSdpSpec): string {
  const out = ['v=0', `o=- ${s.sessionId} ${s.version} IN IP4 ${s.address}`, 's=-', `c=IN IP4 ${s.address}`, 't=0 0'];
  const audio: string[] = [];
  if (s.codecs.length === 0) audio.push('m=audio 0 RTP/AVP 0');
  else {
    audio.push(`m=audio ${s.port} RTP/AVP ${s.codecs.map((c) => c.pt).join(' ')}`);
    for (const c of s.codecs) {
      audio.push(`a=rtpmap:${c.pt} ${c.name}/${c.rate}${c.channels > 1 ? `/${c.channels}` : ''}`);
      if (c.fmtp !== undefined) audio.push(`a=fmtp:${c.pt} ${c.fmtp}`);
    }
    if (s.ptime !== undefined) audio.push(`a=ptime:${s.ptime}`);
    audio.push(`a=rtcp:${s.port + 1}`, `a=${s.direction}`);
  }
  const a = s.answering;
  if (a === undefined) out.push(...audio);
  else {
    a.mLines.forEach((m, i) => {
      if (i === a.audioIndex) out.push(...audio);
      else out.push(rejectedMLine(m));
    });
  }
  return out.join('\r\n') + '\r\n';
}

/** `m=video 9 UDP/TLS/RTP/SAVPF 96 97` → `m=video 0 UDP/TLS/RTP/SAVPF 96` (RFC 3264 §6: rejected stream). */
function rejectedMLine(m: string): string {
  const parts = m.split(' ');
  return `${parts[0]} 0 ${parts[2] ?? 'RTP/AVP'} ${parts[3] ?? '0'}`;
}

/**
 * What werift's SDP parser needs before setRemoteDescription: the short
 * `a=rtcp:PORT` form made long (it throws otherwise; PEERS.md), telephone-event
 * payload types other than `keepEventRate` removed (it matches by name only),
 * and TCP candidates dropped.
 */
export function sdpForWerift(sdp: string, keepEventRate: number | undefined): string {
  const lines = sdp.split(/\r?\n/);
  const dropPts = new Set<number>();
  if (keepEventRate !== undefined) {
    for (const l of lines) {
      const m = /^a=rtpmap:(\d+) telephone-event\/(\d+)/i.exec(l);
      if (m !== null && Number(m[2]) !== keepEventRate) dropPts.add(Number(m[1]));
    }
  }
  const out: string[] = [];
  let connection = 'IN IP4 0.0.0.0';
  for (const l of lines) {
    if (l === '') continue;
    if (l.startsWith('c=')) connection = l.slice(2);
    if (l.startsWith('a=rtcp:') && !l.includes(' ')) {
      out.push(`${l} ${connection}`);
      continue;
    }
    if (l.startsWith('a=candidate:') && / tcp /i.test(l)) continue;
    if (dropPts.size > 0) {
      const pt = /^a=(?:rtpmap|fmtp|rtcp-fb):(\d+)/.exec(l);
      if (pt !== null && dropPts.has(Number(pt[1]))) continue;
      if (l.startsWith('m=audio ')) {
        const parts = l.split(' ');
        out.push([...parts.slice(0, 3), ...parts.slice(3).filter((p) => !dropPts.has(Number(p)))].join(' '));
        continue;
      }
    }
    out.push(l);
  }
  return out.join('\r\n') + '\r\n';
}

/**
 * werift's local SDP as the browser should see it: one host candidate at our
 * advertised address (werift lists one per interface it found, all on our
 * sockets), c= and the m-line port pointing at it, the origin without the
 * bind address.
 */
export function sdpFromWerift(sdp: string, advertise: string): string {
  const lines = sdp.split(/\r?\n/);
  let port: number | undefined;
  const out: string[] = [];
  for (const l of lines) {
    if (l === '') continue;
    if (l.startsWith('a=candidate:')) {
      const parts = l.split(' ');
      if (port !== undefined || parts[2]?.toLowerCase() !== 'udp') continue;
      port = Number(parts[5]);
      parts[4] = advertise;
      out.push(parts.join(' '));
      continue;
    }
    out.push(l);
  }
  return out
    .map((l) => {
      if (l.startsWith('o=')) return l.replace(/IN IP4 \S+$/, `IN IP4 ${advertise}`);
      if (l.startsWith('c=')) return `c=IN IP4 ${advertise}`;
      if (l.startsWith('a=rtcp:')) return `a=rtcp:${port ?? 9} IN IP4 ${advertise}`;
      if (l.startsWith('m=audio ') && port !== undefined) return l.replace(/^m=audio \d+/, `m=audio ${port}`);
      return l;
    })
    .join('\r\n') + '\r\n';
}
