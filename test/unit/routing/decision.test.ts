import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkDecision } from '../../../src/routing/decision.js';

describe('checkDecision', () => {
  it('undefined, null and {} are the usual routing', () => {
    for (const v of [undefined, null, {}]) assert.deepEqual(checkDecision(v), { ok: true, decision: undefined });
  });

  it('accepts whole relay and reply decisions', () => {
    const relay = { relay: { group: 'carrier', ruriUser: '+4930123', ruriHost: 'carrier.example', setHeaders: { 'X-A': '1' }, removeHeaders: ['X-B'] } };
    assert.deepEqual(checkDecision(relay), { ok: true, decision: relay });
    assert.deepEqual(checkDecision({ relay: { uri: 'sip:+1@192.0.2.1:5070;transport=tcp' } }).ok, true);
    assert.deepEqual(checkDecision({ reply: { status: 302, headers: { 'X-Why': 'moved' } } }).ok, true);
  });

  it('names what is wrong, by path', () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ relay: { group: 'a', uri: 'sip:b@c' } }, /relay\.uri: group and uri exclude each other/],
      [{ relay: { uri: 'http://x' } }, /relay\.uri: is not a sip: or sips: URI/],
      [{ relay: { ruriUser: 'a b' } }, /relay\.ruriUser: is not a SIP URI user part/],
      [{ relay: { ruriHost: 'bad host' } }, /relay\.ruriHost/],
      [{ relay: { setHeaders: { Via: 'x' } } }, /relay\.setHeaders\.Via: is a header the gateway owns/],
      [{ relay: { setHeaders: { 'X-Inject': 'a\r\nVia: evil' } } }, /relay\.setHeaders\.X-Inject: must be on one line/],
      [{ relay: { removeHeaders: ['call-id'] } }, /relay\.removeHeaders\[0\]: is a header the gateway owns/],
      [{ relay: { grop: 'a' } }, /Unrecognized key|grop/],
      [{ reply: { status: 200 } }, /reply\.status/],
      [{ reply: { status: 486, reason: 'x\ny' } }, /reply\.reason: must be on one line/],
      [{ relay: {}, reply: { status: 486 } }, /(relay|reply)/],
      ['carrier', /must be \{ relay/],
      [[{ relay: {} }], /must be \{ relay/],
    ];
    for (const [value, expected] of cases) {
      const r = checkDecision(value);
      assert.equal(r.ok, false, JSON.stringify(value));
      if (!r.ok) assert.match(r.error, expected, JSON.stringify(value));
    }
  });
});
