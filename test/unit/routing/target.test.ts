import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseTargetUri } from '../../../src/routing/target.js';

describe('parseTargetUri', () => {
  it('reads transport, host and port with the RFC 3261 default ports', () => {
    assert.deepEqual(parseTargetUri('sip:127.0.0.1:5080;transport=udp'), { ok: true, value: { transport: 'udp', host: '127.0.0.1', port: 5080 } });
    assert.deepEqual(parseTargetUri('sip:fs1.example.com'), { ok: true, value: { transport: 'udp', host: 'fs1.example.com', port: 5060 } });
    assert.deepEqual(parseTargetUri('sip:FS1.Example.com;transport=TCP'), { ok: true, value: { transport: 'tcp', host: 'fs1.example.com', port: 5060 } });
    assert.deepEqual(parseTargetUri('sip:10.0.0.2;transport=tls'), { ok: true, value: { transport: 'tls', host: '10.0.0.2', port: 5061 } });
    assert.deepEqual(parseTargetUri('sips:pbx.example.com'), { ok: true, value: { transport: 'tls', host: 'pbx.example.com', port: 5061 } });
    assert.deepEqual(parseTargetUri('sip:[2001:db8::5]:5070;lr;transport=tcp'), { ok: true, value: { transport: 'tcp', host: '2001:db8::5', port: 5070 } });
    assert.deepEqual(parseTargetUri('sip:gw@192.0.2.1:5062'), { ok: true, value: { transport: 'udp', host: '192.0.2.1', port: 5062 } });
  });

  it('rejects what it cannot send to, saying why', () => {
    const bad = {
      'http://x': 'not a sip',
      'sip:host:99999': 'out of range',
      'sip:host:50a': 'not a number',
      'sip:host;transport=ws': 'not supported',
      'sips:host;transport=udp': 'sips cannot',
      'sip:bad_host!': 'not a host name',
      'sip:[::1': 'unterminated',
      'sip:': 'not a host name',
    };
    for (const [uri, why] of Object.entries(bad)) {
      const r = parseTargetUri(uri);
      assert.equal(r.ok, false, uri);
      if (!r.ok) assert.match(r.error, new RegExp(why), uri);
    }
  });
});
