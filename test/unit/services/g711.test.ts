import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { alawToLinear, linearToAlaw, linearToUlaw, ulawToLinear } from '../../../src/services/g711.js';

describe('G.711 encoders', () => {
  test('µ-law: the reference code points (ITU-T G.711 table 2a)', () => {
    assert.equal(linearToUlaw(0), 0xff, 'zero is 0xFF');
    assert.equal(linearToUlaw(-1), 0x7f, 'negative zero is 0x7F');
    assert.equal(linearToUlaw(32767), 0x80, 'positive full scale');
    assert.equal(linearToUlaw(-32768), 0x00, 'negative full scale');
    assert.equal(linearToUlaw(1000), 0xce);
    assert.equal(linearToUlaw(-1000), 0x4e);
  });

  test('A-law: the reference code points (ITU-T G.711 table 1a, even bits inverted)', () => {
    assert.equal(linearToAlaw(0), 0xd5, 'zero is 0xD5');
    assert.equal(linearToAlaw(-8), 0x55, 'the smallest negative step is 0x55');
    assert.equal(linearToAlaw(32767), 0xaa, 'positive full scale');
    assert.equal(linearToAlaw(-32768), 0x2a, 'negative full scale');
    assert.equal(linearToAlaw(1000), 0xfa);
  });

  test('both round-trip every 16-bit sample within their quantisation step (monotonic, sign kept)', () => {
    for (const [encode, decode] of [[linearToUlaw, ulawToLinear], [linearToAlaw, alawToLinear]] as const) {
      let last = -Infinity;
      for (let s = -32768; s <= 32767; s += 7) {
        const back = decode(encode(s));
        // Segment step is at most 1/16 of the magnitude (+ the smallest step) for both laws.
        assert.ok(Math.abs(back - s) <= Math.abs(s) / 16 + 132, `${encode.name}(${s}) → ${back}`);
        assert.ok(back >= last, `${encode.name} is monotonic at ${s}`);
        last = back;
      }
    }
  });

  test('out-of-range and fractional input is clipped and rounded, never wraps', () => {
    assert.equal(linearToUlaw(100_000), linearToUlaw(32767));
    assert.equal(linearToUlaw(-100_000), linearToUlaw(-32768));
    assert.equal(linearToAlaw(100_000), linearToAlaw(32767));
    assert.equal(linearToAlaw(999.6), linearToAlaw(1000));
  });
});
