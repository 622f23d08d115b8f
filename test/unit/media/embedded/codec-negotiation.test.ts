import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AudioCodec } from '../../../../src/media/embedded/audio-sdp.js';
import { codecsToAnswer, codecsToOffer, eventPayloadTypes, payloadTypeMap, ptKeys } from '../../../../src/media/embedded/codec-negotiation.js';

const opus: AudioCodec = { pt: 111, name: 'opus', rate: 48000, channels: 2, fmtp: 'minptime=10;useinbandfec=1' };
const pcmu: AudioCodec = { pt: 0, name: 'PCMU', rate: 8000, channels: 1 };
const pcma: AudioCodec = { pt: 8, name: 'PCMA', rate: 8000, channels: 1 };
const g729: AudioCodec = { pt: 18, name: 'G729', rate: 8000, channels: 1 };
const te48: AudioCodec = { pt: 110, name: 'telephone-event', rate: 48000, channels: 1 };
const te8: AudioCodec = { pt: 126, name: 'telephone-event', rate: 8000, channels: 1 };
const chrome = [opus, { pt: 63, name: 'red', rate: 48000, channels: 2 }, pcmu, pcma, { pt: 13, name: 'CN', rate: 8000, channels: 1 }, te48, te8];

describe('codecsToOffer', () => {
  it('keeps the relayed audio codecs in the offerer\'s order and the telephone-events of their rates', () => {
    assert.deepEqual(codecsToOffer(chrome, false).map((c) => c.pt), [111, 0, 8, 110, 126]);
  });

  it('toward WebRTC keeps one telephone-event, the rate of the first audio codec (werift matches by name)', () => {
    const plain = [pcmu, { ...te8, pt: 101 }, { ...te48, pt: 102 }];
    assert.deepEqual(codecsToOffer(plain, true).map((c) => c.pt), [0, 101]);
  });

  it('is empty when no audio codec is in common (the call gets 488)', () => {
    assert.deepEqual(codecsToOffer([g729, te8], false), []);
  });
});

describe('codecsToAnswer', () => {
  it('a PCMU-only backend means PCMU (and telephone-event/8000) toward the browser, in the browser\'s payload types', () => {
    const backendAnswer: AudioCodec[] = [pcmu, { ...te8, pt: 126 }];
    assert.deepEqual(codecsToAnswer(chrome, backendAnswer).map((c) => `${c.pt} ${c.name}/${c.rate}`), ['0 PCMU/8000', '126 telephone-event/8000']);
  });

  it('is empty when the answer accepted nothing we offered', () => {
    assert.deepEqual(codecsToAnswer([pcmu], [g729]), []);
  });
});

describe('payloadTypeMap', () => {
  it('maps by codec name and rate, the receiver\'s own declaration first, and drops the rest', () => {
    // The browser uses 126 for telephone-event/8000; the phone declared 101.
    const fromBrowser = ptKeys([pcmu, te8]);
    const map = payloadTypeMap(fromBrowser, [pcmu, { ...te8, pt: 101 }], [pcmu, te8]);
    assert.equal(map[0], 0);
    assert.equal(map[126], 101);
    assert.equal(map[111], -1);
    assert.equal(map.length, 128);
  });

  it('marks telephone-event payload types', () => {
    const events = eventPayloadTypes([pcmu, te8], [te48]);
    assert.equal(events[126], 1);
    assert.equal(events[110], 1);
    assert.equal(events[0], 0);
  });
});
