import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseAudioSdp, plainSdp, sdpForWerift, sdpFromWerift } from '../../../../src/media/embedded/audio-sdp.js';
import { chromeOffer, plainRtpSdp } from '../../../integration/media/sdp-samples.js';

describe('parseAudioSdp', () => {
  it('reads a Chrome offer: WebRTC, rtcp-mux, codecs with static and dynamic payload types', () => {
    const r = parseAudioSdp(chromeOffer(51000));
    assert.ok(r.ok);
    const d = r.value;
    assert.equal(d.webrtc, true);
    assert.equal(d.rtcpMux, true);
    assert.equal(d.port, 51000);
    assert.equal(d.direction, 'sendrecv');
    assert.deepEqual(d.codecs.map((c) => `${c.pt}:${c.name}/${c.rate}`), ['111:opus/48000', '63:red/48000', '9:G722/8000', '0:PCMU/8000', '8:PCMA/8000', '13:CN/8000', '110:telephone-event/48000', '126:telephone-event/8000']);
  });

  it('reads a plain phone: session-level c=, static payload types without rtpmap, hold', () => {
    const r = parseAudioSdp('v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8 0\r\na=sendonly\r\n');
    assert.ok(r.ok);
    assert.equal(r.value.address, '10.0.0.1');
    assert.equal(r.value.webrtc, false);
    assert.equal(r.value.direction, 'sendonly');
    assert.deepEqual(r.value.codecs.map((c) => c.name), ['PCMA', 'PCMU']);
  });

  it('refuses hostile input with a reason instead of throwing', () => {
    for (const bad of ['', 'hello', 'v=0\r\nm=audio x RTP/AVP 0\r\n', 'v=0\r\nm=video 5000 RTP/AVP 96\r\nc=IN IP4 1.2.3.4\r\n', 'v=0\r\nm=audio 4000 RTP/AVP 0\r\n', `v=0\r\n${'a=x\r\n'.repeat(1000)}`]) {
      const r = parseAudioSdp(bad);
      assert.equal(r.ok, false, JSON.stringify(bad.slice(0, 40)));
    }
  });
});

describe('plainSdp', () => {
  it('carries only our address and rejects the offer\'s other m-lines in place', () => {
    const sdp = plainSdp({
      sessionId: 7, version: 2, address: '203.0.113.5', port: 30000,
      codecs: [{ pt: 0, name: 'PCMU', rate: 8000, channels: 1 }, { pt: 101, name: 'telephone-event', rate: 8000, channels: 1, fmtp: '0-16' }],
      direction: 'recvonly', answering: { mLines: ['m=video 9 UDP/TLS/RTP/SAVPF 96 97', 'm=audio 9 UDP/TLS/RTP/SAVPF 0 101'], audioIndex: 1 },
    });
    const lines = sdp.split('\r\n');
    assert.deepEqual(lines.filter((l) => l.startsWith('m=')), ['m=video 0 UDP/TLS/RTP/SAVPF 96', 'm=audio 30000 RTP/AVP 0 101']);
    assert.ok(lines.includes('c=IN IP4 203.0.113.5'));
    assert.ok(lines.includes('a=rtcp:30001'));
    assert.ok(lines.includes('a=recvonly'));
    assert.ok(lines.includes('a=fmtp:101 0-16'));
    assert.equal(parseAudioSdp(sdp).ok, true);
  });
});

describe('SDP rewriting around werift', () => {
  it('sdpForWerift makes a short a=rtcp long, drops telephone-events of another rate and TCP candidates', () => {
    const offer = chromeOffer().replace(/a=rtcp:\d+ IN IP4 127\.0\.0\.1/, 'a=rtcp:9');
    const out = sdpForWerift(offer, 8000);
    assert.match(out, /a=rtcp:9 IN IP4 127\.0\.0\.1/);
    assert.ok(!out.includes('telephone-event/48000'));
    assert.ok(out.includes('a=rtpmap:126 telephone-event/8000'));
    assert.match(out, /m=audio \d+ UDP\/TLS\/RTP\/SAVPF 111 63 9 0 8 13 126\r\n/);
    assert.ok(!/ tcp /.test(out));
  });

  it('sdpFromWerift keeps one UDP candidate at the advertised address and points c=, m= and a=rtcp at it', () => {
    const werift = ['v=0', 'o=- 1 0 IN IP4 0.0.0.0', 's=-', 't=0 0', 'm=audio 9 UDP/TLS/RTP/SAVPF 0', 'c=IN IP4 0.0.0.0',
      'a=candidate:1 1 udp 2116026367 127.0.0.1 30000 typ host generation 0', 'a=candidate:2 1 udp 2116026367 192.0.2.2 30001 typ host generation 0',
      'a=rtcp:9 IN IP4 0.0.0.0', 'a=rtcp-mux', ''].join('\r\n');
    const out = sdpFromWerift(werift, '198.51.100.7');
    const candidates = out.split('\r\n').filter((l) => l.startsWith('a=candidate:'));
    assert.deepEqual(candidates, ['a=candidate:1 1 udp 2116026367 198.51.100.7 30000 typ host generation 0']);
    assert.match(out, /m=audio 30000 /);
    assert.match(out, /c=IN IP4 198\.51\.100\.7/);
    assert.match(out, /a=rtcp:30000 IN IP4 198\.51\.100\.7/);
    assert.match(out, /o=- 1 0 IN IP4 198\.51\.100\.7/);
    assert.ok(!out.includes('127.0.0.1') && !out.includes('192.0.2.2'));
  });

  it('the plain sample parses as plain', () => {
    const r = parseAudioSdp(plainRtpSdp(40000));
    assert.ok(r.ok && !r.value.webrtc);
  });
});
