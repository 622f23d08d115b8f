import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeBencode, encodeBencode, type BencodeValue } from '../../../../src/media/rtpengine/bencode.js';

const bytes = (text: string): Buffer => Buffer.from(text, 'latin1');

function decodeOk(input: Buffer, options?: Parameters<typeof decodeBencode>[1]): BencodeValue {
  const r = decodeBencode(input, options);
  if (!r.ok) assert.fail(`decode failed: ${r.error.code} at ${r.error.offset}: ${r.error.message}`);
  return r.value;
}

function decodeError(input: Buffer, options?: Parameters<typeof decodeBencode>[1]): string {
  const r = decodeBencode(input, options);
  if (r.ok) assert.fail(`expected a decode error, got ${JSON.stringify(r.value)}`);
  return r.error.code;
}

describe('bencode encode', () => {
  it('writes the ng ping exactly as rtpengine documents it', () => {
    assert.equal(encodeBencode({ command: 'ping' }).toString('latin1'), 'd7:command4:pinge');
  });

  it('counts UTF-8 bytes, not UTF-16 units, in string lengths', () => {
    // "é" is 2 bytes, "€" 3, "𝄞" 4 (a surrogate pair in JS).
    assert.equal(encodeBencode('é€𝄞').toString('latin1'), `9:${Buffer.from('é€𝄞', 'utf8').toString('latin1')}`);
    const sdp = 's=Café\r\n';
    const wire = encodeBencode({ sdp });
    assert.ok(wire.toString('latin1').startsWith(`d3:sdp${Buffer.byteLength(sdp)}:`));
    assert.deepEqual(decodeOk(wire), { sdp });
  });

  it('sorts dict keys by their bytes and leaves out undefined entries', () => {
    const wire = encodeBencode({ sdp: 'v=0', 'call-id': 'a', ICE: 'remove', 'from-tag': undefined, 'DTLS-reverse': 'passive' });
    assert.equal(wire.toString('latin1'), 'd12:DTLS-reverse7:passive3:ICE6:remove7:call-id1:a3:sdp3:v=0e');
  });

  it('writes nested lists, dicts, integers and Buffers', () => {
    const wire = encodeBencode({ replace: ['origin', 'session-connection'], codec: { strip: ['all'] }, 'delete delay': 0, n: -42, raw: Buffer.from([0, 255]) });
    assert.equal(
      wire.toString('latin1'),
      'd5:codecd5:stripl3:allee12:delete delayi0e1:ni-42e3:raw2:\x00\xff7:replacel6:origin18:session-connectionee',
    );
  });

  it('refuses values bencode cannot carry', () => {
    assert.throws(() => encodeBencode(1.5), TypeError);
    assert.throws(() => encodeBencode({ a: true } as never), TypeError);
    assert.throws(() => encodeBencode({ a: null } as never), TypeError);
  });
});

describe('bencode decode', () => {
  it('reads an rtpengine reply with nested dicts and lists', () => {
    const value = decodeOk(bytes('d6:result2:ok7:warning10:be careful4:tagsd3:abcd6:mediasld5:indexi1eeeee5:callsl3:one3:twoee'));
    assert.deepEqual(value, { result: 'ok', warning: 'be careful', tags: { abc: { medias: [{ index: 1 }] } }, calls: ['one', 'two'] });
  });

  it('round-trips what it encodes, UTF-8 included', () => {
    const value = { sdp: 'v=0\r\ns=Zoë ☎\r\n', flags: ['trust-address'], n: 9007199254740991, nested: { list: [[], {}, 0, ''] } };
    assert.deepEqual(decodeOk(encodeBencode(value)), value);
  });

  it('gives Buffers for string values when asked for bytes', () => {
    assert.deepEqual(decodeOk(bytes('d3:raw2:\x00\xffe'), { strings: 'buffer' }), { raw: Buffer.from([0, 255]) });
  });

  it('keeps a "__proto__" key as plain data', () => {
    const value = decodeOk(bytes('d9:__proto__d5:admini1eee')) as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(value), Object.prototype);
    assert.deepEqual(Object.keys(value), ['__proto__']);
    assert.equal(({} as Record<string, unknown>)['admin'], undefined);
  });

  it('rejects truncated input at every cut of a valid message', () => {
    const wire = encodeBencode({ result: 'ok', sdp: 'v=0\r\n', list: [1, 'x'] });
    for (let cut = 0; cut < wire.length; cut++) {
      assert.equal(decodeBencode(wire.subarray(0, cut)).ok, false, `cut at ${cut} was accepted`);
    }
  });

  it('names the problem in hostile or malformed input', () => {
    assert.equal(decodeError(bytes('i01e')), 'bad-integer');
    assert.equal(decodeError(bytes('i-0e')), 'bad-integer');
    assert.equal(decodeError(bytes('ie')), 'bad-integer');
    assert.equal(decodeError(bytes('i99999999999999999999e')), 'bad-integer');
    assert.equal(decodeError(bytes('99999999999999999999:x')), 'bad-string');
    assert.equal(decodeError(bytes('05:hello')), 'bad-string');
    assert.equal(decodeError(bytes('3:hi')), 'truncated');
    assert.equal(decodeError(bytes('5:hi')), 'bad-string');
    assert.equal(decodeError(bytes('di1e1:xe')), 'bad-key');
    assert.equal(decodeError(bytes('x')), 'unexpected-byte');
    assert.equal(decodeError(bytes('le1:x')), 'trailing-bytes');
    assert.equal(decodeError(bytes('')), 'truncated');
  });

  it('bounds nesting depth without exhausting the stack', () => {
    assert.equal(decodeError(bytes('l'.repeat(100_000) + 'e'.repeat(100_000))), 'too-deep');
    assert.deepEqual(decodeOk(bytes('llee'), { maxDepth: 2 }), [[]]);
    assert.equal(decodeError(bytes('llee'), { maxDepth: 1 }), 'too-deep');
  });

  it('bounds input size and item count', () => {
    assert.equal(decodeError(Buffer.alloc(2_000_000, 0x30)), 'too-large');
    assert.equal(decodeError(bytes('l' + 'i1e'.repeat(20) + 'e'), { maxItems: 10 }), 'too-many-items');
  });

  it('never throws on random bytes', () => {
    // Deterministic pseudo-random input (xorshift) drawn from the bencode alphabet and noise.
    let seed = 0x2545f491;
    const next = (): number => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return seed >>> 0;
    };
    const alphabet = bytes('dlie0123456789:-x');
    let accepted = 0;
    for (let i = 0; i < 20_000; i++) {
      const input = Buffer.alloc(1 + (next() % 40));
      for (let j = 0; j < input.length; j++) input[j] = next() % 4 === 0 ? next() & 0xff : alphabet[next() % alphabet.length]!;
      const r = decodeBencode(input);
      if (r.ok) {
        accepted++;
        // Whatever was accepted survives a round trip unchanged.
        assert.deepEqual(decodeOk(encodeBencode(r.value)), r.value);
      }
    }
    assert.ok(accepted > 0);
  });
});
