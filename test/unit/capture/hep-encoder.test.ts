import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { callIdOf } from '../../../src/capture/call-id.js';
import { encodeHep3, hepLength, type HepRecord } from '../../../src/capture/hep-encoder.js';
import { addressBytes, ipv6Form } from '../../../src/transport/address-bytes.js';
import { decodeHep3 } from '../../helpers/hep-collector.js';

const SIP = 'INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/WSS abc.invalid;branch=z9hG4bK1\r\nCall-ID: c1@abc\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n';

function record(over: Partial<HepRecord> = {}): HepRecord {
  return {
    family: 'IPv4', ipProtocol: 6,
    source: addressBytes('192.0.2.10')!, destination: addressBytes('198.51.100.1')!,
    sourcePort: 50123, destinationPort: 7443, seconds: 1_700_000_000, micros: 123_456, captureId: 2001,
    payload: Buffer.from(SIP), correlationId: Buffer.from('c1@abc'), ...over,
  };
}

describe('HEPv3 encoding', () => {
  test('an IPv4 TCP message decodes back to every field, correlation before the payload, payload last', () => {
    const buf = encodeHep3(record());
    assert.equal(buf.length, hepLength(record()));
    const p = decodeHep3(buf);
    assert.equal(p.family, 2);
    assert.equal(p.ipProtocol, 6);
    assert.equal(p.source, '192.0.2.10');
    assert.equal(p.destination, '198.51.100.1');
    assert.equal(p.sourcePort, 50123);
    assert.equal(p.destinationPort, 7443);
    assert.equal(p.seconds, 1_700_000_000);
    assert.equal(p.micros, 123_456);
    assert.equal(p.protocolType, 1, 'protocol type SIP');
    assert.equal(p.captureId, 2001);
    assert.equal(p.authKey, undefined);
    assert.equal(p.correlationId, 'c1@abc');
    assert.equal(p.payload, SIP);
    assert.equal(p.chunkOrder.at(-1), 0x0f);
    assert.ok(p.chunkOrder.indexOf(0x11) < p.chunkOrder.indexOf(0x0f));
  });

  test('IPv6 ends go in the IPv6 chunks; an auth key is carried when set', () => {
    const p = decodeHep3(encodeHep3(record({
      family: 'IPv6', ipProtocol: 17,
      source: addressBytes('2001:db8::5')!, destination: ipv6Form(addressBytes('192.0.2.1')!),
      authKey: Buffer.from('s3cret'),
    })));
    assert.equal(p.family, 10);
    assert.equal(p.ipProtocol, 17);
    assert.equal(p.source, '2001:db8:0:0:0:0:0:5');
    assert.equal(p.destination, '0:0:0:0:0:ffff:c000:201');
    assert.equal(p.authKey, 's3cret');
  });

  test('a capture agent id above 2^31 survives (unsigned)', () => {
    assert.equal(decodeHep3(encodeHep3(record({ captureId: 0xfffffffe }))).captureId, 0xfffffffe);
  });
});

describe('Call-ID from raw bytes', () => {
  test('long and compact forms, any case, value trimmed', () => {
    assert.equal(callIdOf(Buffer.from(SIP))?.toString(), 'c1@abc');
    assert.equal(callIdOf(Buffer.from('SIP/2.0 200 OK\r\nVia: x\r\ni:   k9 \r\n\r\n'))?.toString(), 'k9');
    assert.equal(callIdOf(Buffer.from('BYE sip:a SIP/2.0\r\nCALL-ID :zz\r\n\r\n'))?.toString(), 'zz');
  });

  test('headers that only start like Call-ID, or a Call-ID in the body, do not count', () => {
    assert.equal(callIdOf(Buffer.from('OPTIONS sip:a SIP/2.0\r\nInfo: 1\r\nCall-Info: <x>\r\n\r\nCall-ID: body\r\n')), undefined);
    assert.equal(callIdOf(Buffer.from('OPTIONS sip:a SIP/2.0')), undefined);
    assert.equal(callIdOf(Buffer.from('OPTIONS sip:a SIP/2.0\r\nCall-ID:\r\n\r\n')), undefined);
  });
});
