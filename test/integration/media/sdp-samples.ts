/** SDPs shaped like what Chrome and a plain SIP phone send, for driving a real rtpengine. */

const crlf = (lines: string[]): string => lines.join('\r\n') + '\r\n';

/** A Chrome offer: BUNDLE, ICE with host candidates, DTLS actpass, SAVPF, rtcp-mux, opus. */
export function chromeOffer(rtpPort = 51_000): string {
  return crlf([
    'v=0',
    'o=- 4611731400430051336 2 IN IP4 127.0.0.1',
    's=-',
    't=0 0',
    'a=group:BUNDLE 0',
    'a=extmap-allow-mixed',
    'a=msid-semantic: WMS 5f4b2c1e-9a7d-4c3b-8e2f-1a2b3c4d5e6f',
    `m=audio ${rtpPort} UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126`,
    'c=IN IP4 127.0.0.1',
    `a=rtcp:${rtpPort} IN IP4 127.0.0.1`,
    `a=candidate:1467250027 1 udp 2122260223 127.0.0.1 ${rtpPort} typ host generation 0 network-id 1`,
    `a=candidate:435653019 1 tcp 1518280447 127.0.0.1 9 typ host tcptype active generation 0 network-id 1`,
    'a=ice-ufrag:Kf8w',
    'a=ice-pwd:Y3dNtHhWbJq0VwZ2m7pS0t1A',
    'a=ice-options:trickle',
    'a=fingerprint:sha-256 7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08',
    'a=setup:actpass',
    'a=mid:0',
    'a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level',
    'a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time',
    'a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid',
    'a=sendrecv',
    'a=msid:5f4b2c1e-9a7d-4c3b-8e2f-1a2b3c4d5e6f 0c1d2e3f-4a5b-6c7d-8e9f-a0b1c2d3e4f5',
    'a=rtcp-mux',
    'a=rtcp-rsize',
    'a=rtpmap:111 opus/48000/2',
    'a=rtcp-fb:111 transport-cc',
    'a=fmtp:111 minptime=10;useinbandfec=1',
    'a=rtpmap:63 red/48000/2',
    'a=fmtp:63 111/111',
    'a=rtpmap:9 G722/8000',
    'a=rtpmap:0 PCMU/8000',
    'a=rtpmap:8 PCMA/8000',
    'a=rtpmap:13 CN/8000',
    'a=rtpmap:110 telephone-event/48000',
    'a=rtpmap:126 telephone-event/8000',
    'a=ssrc:3735928559 cname:4TOk42mSjXCkVIa6',
    'a=ssrc:3735928559 msid:5f4b2c1e-9a7d-4c3b-8e2f-1a2b3c4d5e6f 0c1d2e3f-4a5b-6c7d-8e9f-a0b1c2d3e4f5',
  ]);
}

/** A Chrome answer to an offer with DTLS passive: it takes the active role. */
export function chromeAnswer(rtpPort = 51_100): string {
  return crlf([
    'v=0',
    'o=- 2309481203948123 2 IN IP4 127.0.0.1',
    's=-',
    't=0 0',
    'a=group:BUNDLE 0',
    'a=msid-semantic: WMS',
    `m=audio ${rtpPort} UDP/TLS/RTP/SAVPF 0 101`,
    'c=IN IP4 127.0.0.1',
    `a=rtcp:${rtpPort} IN IP4 127.0.0.1`,
    `a=candidate:2999745851 1 udp 2122260223 127.0.0.1 ${rtpPort} typ host generation 0 network-id 1`,
    'a=ice-ufrag:aB3d',
    'a=ice-pwd:Qw8mZp2Lr5Tn7Vx9Yb1Cd3Fg',
    'a=fingerprint:sha-256 1A:2B:3C:4D:5E:6F:70:81:92:A3:B4:C5:D6:E7:F8:09:1A:2B:3C:4D:5E:6F:70:81:92:A3:B4:C5:D6:E7:F8:09',
    'a=setup:active',
    'a=mid:0',
    'a=sendrecv',
    'a=rtcp-mux',
    'a=rtpmap:0 PCMU/8000',
    'a=rtpmap:101 telephone-event/8000',
    'a=ssrc:12345678 cname:Zx81Qw',
  ]);
}

/** A plain SIP phone or FreeSWITCH SDP: RTP/AVP, no ICE, no DTLS, separate RTCP. */
export function plainRtpSdp(rtpPort = 52_000, payloads = '0 101'): string {
  return crlf([
    'v=0',
    'o=FreeSWITCH 1700000000 1700000001 IN IP4 127.0.0.1',
    's=FreeSWITCH',
    'c=IN IP4 127.0.0.1',
    't=0 0',
    `m=audio ${rtpPort} RTP/AVP ${payloads}`,
    'a=rtpmap:0 PCMU/8000',
    'a=rtpmap:101 telephone-event/8000',
    'a=fmtp:101 0-16',
    'a=ptime:20',
    'a=sendrecv',
  ]);
}

/** Lines of an SDP. */
export function sdpLines(sdp: string): string[] {
  return sdp.split(/\r?\n/).filter((l) => l !== '');
}

/** The first m= line. */
export function mediaLine(sdp: string): string {
  const m = sdpLines(sdp).find((l) => l.startsWith('m='));
  if (!m) throw new Error(`no m= line in\n${sdp}`);
  return m;
}
