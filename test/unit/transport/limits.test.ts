import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resolveLimits, TRANSPORT_LIMITS } from '../../../src/transport/limits.js';
import { crlfKeepalive } from '../../../src/transport/keepalive.js';

describe('transport limits', () => {
  it('has the documented defaults', () => {
    assert.equal(TRANSPORT_LIMITS.maxMessageBytes, 65535);
    assert.equal(TRANSPORT_LIMITS.maxHeaderCount, 128);
    assert.equal(TRANSPORT_LIMITS.maxConnectionsPerIp, 100);
    assert.equal(TRANSPORT_LIMITS.handshakeTimeoutMs, 10_000);
    assert.equal(TRANSPORT_LIMITS.idleTimeoutMs, 900_000);
    assert.equal(TRANSPORT_LIMITS.wsPingIntervalMs, 30_000);
    assert.equal(TRANSPORT_LIMITS.maxUdpFlows, 200_000);
    assert.equal(TRANSPORT_LIMITS.udpFlowIdleMs, 600_000);
    assert.equal(TRANSPORT_LIMITS.maxWsPayloadBytes, 65535);
  });

  it('lets the WS payload limit follow maxMessageBytes unless set', () => {
    assert.equal(resolveLimits({ maxMessageBytes: 4000 }).maxWsPayloadBytes, 4000);
    assert.equal(resolveLimits({ maxMessageBytes: 4000, maxWsPayloadBytes: 9000 }).maxWsPayloadBytes, 9000);
    assert.equal(resolveLimits({ maxConnectionsPerIp: undefined }).maxConnectionsPerIp, 100);
  });
});

describe('crlfKeepalive', () => {
  it('tells pings from pongs from SIP', () => {
    assert.equal(crlfKeepalive(Buffer.from('\r\n\r\n')), 'ping');
    assert.equal(crlfKeepalive(Buffer.from('\r\n')), 'pong');
    assert.equal(crlfKeepalive(Buffer.from('OPTIONS sip:x SIP/2.0\r\n\r\n')), undefined);
    assert.equal(crlfKeepalive(Buffer.alloc(0)), undefined);
  });
});
