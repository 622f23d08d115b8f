import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isStunBindingRequest, stunBindingResponse } from '../../../src/transport/stun.js';
import { bindingRequest, decodeMapped } from './stun-client.js';

describe('STUN keepalive', () => {
  it('recognises a Binding request and nothing that starts like SIP', () => {
    assert.equal(isStunBindingRequest(bindingRequest()), true);
    assert.equal(isStunBindingRequest(Buffer.from('OPTIONS sip:a@b SIP/2.0\r\n\r\n')), false);
    const wrongLength = bindingRequest();
    wrongLength.writeUInt16BE(8, 2);
    assert.equal(isStunBindingRequest(wrongLength), false);
  });

  it('answers with the XOR-mapped IPv4 address and the same transaction id', () => {
    const req = bindingRequest();
    const mapped = decodeMapped(stunBindingResponse(req, '203.0.113.77', 40123)!);
    assert.equal(mapped.address, '203.0.113.77');
    assert.equal(mapped.port, 40123);
    assert.deepEqual(mapped.txid, req.subarray(8, 20));
  });

  it('answers IPv6 and reports an IPv4-mapped address as IPv4', () => {
    assert.equal(decodeMapped(stunBindingResponse(bindingRequest(), '2001:db8::7', 5060)!).address, '2001:db8:0:0:0:0:0:7');
    assert.equal(decodeMapped(stunBindingResponse(bindingRequest(), '::1', 5060)!).address, '0:0:0:0:0:0:0:1');
    assert.equal(decodeMapped(stunBindingResponse(bindingRequest(), '::ffff:192.0.2.4', 5060)!).address, '192.0.2.4');
  });
});
