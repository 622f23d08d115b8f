import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseMessage } from '../../../../src/sip/parser.js';
import type { SipRequest } from '../../../../src/sip/message.js';
import { routingRequest, routingRequestJson } from '../../../../src/routing/request-view.js';
import { runRoute } from '../../../../src/routing/script/script-runner.js';
import type { RouteFunction } from '../../../../src/routing/script/types.js';

const req = ((): SipRequest => {
  const text = [
    'INVITE sip:0049301@example.com;user=phone SIP/2.0', 'Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1', 'Max-Forwards: 70',
    'f: "Al" <sip:alice@a.example>;tag=1', 'To: <sip:0049301@example.com>', 'Call-ID: c1', 'CSeq: 1 INVITE',
    'Proxy-Authorization: Digest username="alice"', 'X-A: 1', 'X-A: 2', 'Content-Length: 0', '', '',
  ].join('\r\n');
  const r = parseMessage(Buffer.from(text));
  assert.ok(r.ok && r.value.kind === 'request');
  return r.value;
})();
const view = routingRequest(req, { source: { address: '192.0.2.1', port: 5060, transport: 'udp' }, fromInside: false, authUser: 'alice', tenant: undefined });

describe('the request view', () => {
  it('is frozen, reads headers by any name form, and its JSON leaves credentials out', () => {
    assert.ok(Object.isFrozen(view) && Object.isFrozen(view.ruri) && Object.isFrozen(view.from));
    assert.throws(() => { (view as { method: string }).method = 'BYE'; }, TypeError);
    assert.equal(view.header('From'), view.header('f'));
    assert.deepEqual(view.headers('x-a'), ['1', '2']);
    assert.equal(view.from.displayName, 'Al');
    const json = routingRequestJson(view, req);
    assert.deepEqual(json.headers['x-a'], ['1', '2']);
    assert.equal(json.headers['proxy-authorization'], undefined);
    assert.deepEqual(JSON.parse(JSON.stringify(json)).ruri, { user: '0049301', host: 'example.com', params: { user: 'phone' } });
  });
});

describe('runRoute', () => {
  it('a plain value comes back at once (no promise, no timer)', () => {
    const r = runRoute(() => ({ relay: { group: 'a' } }), view, 1000);
    assert.deepEqual(r, { kind: 'value', value: { relay: { group: 'a' } } });
  });

  it('a throw, a rejection and a thenable whose then throws are errors', async () => {
    assert.equal((runRoute(() => { throw new Error('x'); }, view, 1000) as { kind: string }).kind, 'error');
    assert.equal((await runRoute(async () => { throw new Error('y'); }, view, 1000)).kind, 'error');
    const evil = (() => ({ then: () => { throw new Error('z'); } })) as unknown as RouteFunction;
    assert.equal((await runRoute(evil, view, 1000)).kind, 'error');
  });

  it('a promise that overruns is a timeout; its late rejection goes nowhere', async () => {
    const late: RouteFunction = () => new Promise((_r, reject) => setTimeout(() => reject(new Error('late')), 60));
    assert.deepEqual(await runRoute(late, view, 20), { kind: 'timeout' });
    await new Promise((r) => setTimeout(r, 80)); // an unhandled rejection would fail the test run
  });
});
