import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { withEngineTotals } from '../../../src/cluster/engine-view.js';
import { gatewayRegistrarSummary } from '../../../src/cluster/health-summary.js';

describe('gatewayRegistrarSummary (GET /healthz under a supervisor)', () => {
  test('the mode the workers share and the bindings each holds, summed', () => {
    const bodies = [
      { status: 'ok', registrar: { mode: 'local', registrations: 2 } },
      { status: 'ok', registrar: { mode: 'local', registrations: 3 } },
    ];
    assert.deepEqual(gatewayRegistrarSummary(bodies), { mode: 'local', registrations: 5 });
  });

  test('a worker without a summary (unhealthy, or no answer body) adds nothing; none at all gives none', () => {
    assert.deepEqual(gatewayRegistrarSummary([undefined, { status: 'unavailable' }, { registrar: { mode: 'path', registrations: 0 } }]), { mode: 'path', registrations: 0 });
    assert.equal(gatewayRegistrarSummary([undefined, { status: 'ok' }]), undefined);
    assert.deepEqual(gatewayRegistrarSummary([{ registrar: { mode: 'local', registrations: 'x' } }, { registrar: { mode: 'local', registrations: 4 } }]), { mode: 'local', registrations: 4 });
  });
});

describe('withEngineTotals (GET /api/engines under a supervisor)', () => {
  test('the embedded relay: sessions, legs and port pairs of every worker\'s slice added up', () => {
    const w1 = { mode: 'embedded', active: 'embedded', engines: [{ name: 'embedded', address: '127.0.0.1', sessions: 1, maxSessions: 10, portPairsFree: 9, portPairsTotal: 10, legsOpen: 2 }] };
    const w2 = { mode: 'embedded', active: 'embedded', engines: [{ name: 'embedded', address: '127.0.0.1', sessions: 2, maxSessions: 10, portPairsFree: 8, portPairsTotal: 10, legsOpen: 4 }] };
    const merged = withEngineTotals(w1, [w1, w2]) as typeof w1;
    assert.deepEqual(merged.engines[0], { name: 'embedded', address: '127.0.0.1', sessions: 3, maxSessions: 20, portPairsFree: 17, portPairsTotal: 20, legsOpen: 6 });
    assert.equal(merged.mode, 'embedded');
    assert.equal(w1.engines[0]!.sessions, 1, 'the worker\'s own view is left as it was');
  });

  test('rtpengine: each engine matched by its url; health kept from the view given', () => {
    const e = (url: string, sessions: number, up: boolean) => ({ url, weight: 1, health: up ? 'up' : 'down', sessions, requests: sessions * 3, errors: 0, timeouts: 1 });
    const w1 = { engines: [e('udp://a', 1, true), e('udp://b', 0, false)] };
    const w2 = { engines: [e('udp://b', 4, true), e('udp://a', 2, true)] };
    const merged = withEngineTotals(w1, [w1, w2]) as typeof w1;
    assert.deepEqual(merged.engines.map((x) => [x.url, x.sessions, x.requests, x.timeouts, x.health]), [['udp://a', 3, 9, 2, 'up'], ['udp://b', 4, 12, 2, 'down']]);
  });

  test('a body without an engines list passes unchanged', () => {
    assert.deepEqual(withEngineTotals({ mode: 'passthrough' }, [{ mode: 'passthrough' }]), { mode: 'passthrough' });
    assert.equal(withEngineTotals(undefined, []), undefined);
  });
});
