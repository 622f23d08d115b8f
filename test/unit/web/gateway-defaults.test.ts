import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { accountDefaults, readGatewayInfo } from '../../../web/gateway-defaults.js';

describe('gateway defaults for the page', () => {
  test('a local registrar: a random user on its domain and the hint', () => {
    const d = accountDefaults(readGatewayInfo({ registrar: 'local', domain: '192.0.2.5' }), () => 0.5);
    assert.deepEqual(d, { aor: 'sip:user5500@192.0.2.5', hint: 'Open this page twice and call each other.' });
    const other = accountDefaults(readGatewayInfo({ registrar: 'local', domain: 'sbc.example.com' }), () => 0.01);
    assert.notEqual(other?.aor, d?.aor);
  });

  test('services, when the gateway lists them, join the hint', () => {
    const d = accountDefaults(readGatewayInfo({ registrar: 'local', domain: 'localhost', services: [{ name: 'echo', number: '9196' }, { name: 'tone', number: '9197' }] }));
    assert.equal(d?.hint, 'Open this page twice and call each other, or call 9196 (echo) or 9197 (tone).');
  });

  test('a path registrar, a missing domain or anything odd: nothing pre-filled', () => {
    for (const v of [{ registrar: 'path' }, { registrar: 'local' }, { registrar: 'local', domain: 'a b<script>' }, null, 'local', [], { registrar: 'other', domain: 'x' }]) {
      assert.equal(accountDefaults(readGatewayInfo(v)), undefined, JSON.stringify(v));
    }
  });
});
