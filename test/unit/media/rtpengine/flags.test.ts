import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_FLAG_SETS, resolveFlagSets } from '../../../../src/media/rtpengine/flags.js';

describe('ng flag sets', () => {
  it('default to the sets that worked with rtpengine 10.5 and Chrome (PEERS.md)', () => {
    const sets = resolveFlagSets();
    assert.deepEqual(sets.offer('webrtcToRtp'), {
      'transport-protocol': 'RTP/AVP', ICE: 'remove', DTLS: 'off', SDES: ['off'], 'rtcp-mux': ['demux'],
      replace: ['origin', 'session-connection'], flags: ['trust-address'], 'DTLS-reverse': 'passive',
    });
    assert.deepEqual(sets.answer('rtpToWebrtc'), {
      'transport-protocol': 'UDP/TLS/RTP/SAVPF', ICE: 'force', DTLS: 'passive', SDES: ['off'], 'rtcp-mux': ['require'],
      replace: ['origin', 'session-connection'], flags: ['trust-address', 'generate-mid'],
    });
    assert.deepEqual(sets.answer('webrtcToRtp'), DEFAULT_FLAG_SETS.webrtcToRtp);
    assert.deepEqual(sets.offer('rtpToWebrtc'), DEFAULT_FLAG_SETS.rtpToWebrtc);
  });

  it('merges overrides per direction: a key replaces the default, null removes it', () => {
    const sets = resolveFlagSets({ flags: { webrtcToRtp: { ICE: 'force', 'DTLS-reverse': null, flags: ['trust-address', 'strict-source'] } } });
    const offer = sets.offer('webrtcToRtp');
    assert.equal(offer['ICE'], 'force');
    assert.equal('DTLS-reverse' in offer, false);
    assert.deepEqual(offer['flags'], ['trust-address', 'strict-source']);
    assert.equal(offer['transport-protocol'], 'RTP/AVP');
    assert.deepEqual(sets.offer('rtpToWebrtc'), DEFAULT_FLAG_SETS.rtpToWebrtc);
    // The defaults themselves are untouched.
    assert.equal(DEFAULT_FLAG_SETS.webrtcToRtp['ICE'], 'remove');
  });

  it('adds the interface direction pair to offers only, facing the offerer first', () => {
    const sets = resolveFlagSets({ interfaces: { webrtc: 'pub', rtp: 'priv' } });
    assert.deepEqual(sets.offer('webrtcToRtp')['direction'], ['pub', 'priv']);
    assert.deepEqual(sets.offer('rtpToWebrtc')['direction'], ['priv', 'pub']);
    assert.equal(sets.answer('webrtcToRtp')['direction'], undefined);
    assert.equal(sets.answer('rtpToWebrtc')['direction'], undefined);
  });
});
