import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Dispatcher, type BackendGroupSpec } from '../../../src/routing/index.js';
import { silentLogger } from '../../../src/log/logger.js';

const group = (uri: string): BackendGroupSpec => ({
  algorithm: 'round-robin',
  probe: { method: 'OPTIONS', intervalSeconds: 10, failuresToDown: 3, successesToUp: 1 },
  targets: [{ uri, weight: 1, priority: 0 }],
});
const probe = async () => ({ kind: 'response', status: 200 }) as const;

function dispatcher(groups: Record<string, BackendGroupSpec>, routes: { domain: string; backend: string }[]): Dispatcher {
  return new Dispatcher({ groups, routes, logger: silentLogger(), probe });
}

describe('Dispatcher.groupFor (routes by Request-URI domain)', () => {
  const groups = { default: group('sip:10.0.0.1'), tenantA: group('sip:10.0.1.1'), tenantB: group('sip:10.0.2.1'), catchAll: group('sip:10.0.3.1') };

  it('matches exact domains case-insensitively', () => {
    const d = dispatcher(groups, [{ domain: 'tenant-a.example.com', backend: 'tenantA' }]);
    assert.equal(d.groupFor('tenant-a.example.com'), 'tenantA');
    assert.equal(d.groupFor('Tenant-A.EXAMPLE.com'), 'tenantA');
    assert.equal(d.groupFor('tenant-a.example.com.'), 'tenantA');
    assert.equal(d.groupFor('sub.tenant-a.example.com'), 'default');
  });

  it('matches *.suffix wildcards on subdomains only, first match winning', () => {
    const d = dispatcher(groups, [
      { domain: 'vip.tenant-b.example.com', backend: 'tenantA' },
      { domain: '*.tenant-b.example.com', backend: 'tenantB' },
      { domain: 'tenant-b.example.com', backend: 'catchAll' },
    ]);
    assert.equal(d.groupFor('vip.tenant-b.example.com'), 'tenantA');
    assert.equal(d.groupFor('east.tenant-b.example.com'), 'tenantB');
    assert.equal(d.groupFor('a.b.TENANT-B.example.com'), 'tenantB');
    assert.equal(d.groupFor('tenant-b.example.com'), 'catchAll');
    assert.equal(d.groupFor('eviltenant-b.example.com'), 'default');
  });

  it('falls back to group "default", or to nothing when there is none', () => {
    const withDefault = dispatcher(groups, [{ domain: 'a.example.com', backend: 'tenantA' }]);
    assert.equal(withDefault.groupFor('192.0.2.10'), 'default');
    const { default: _omit, ...noDefault } = groups;
    const without = dispatcher(noDefault, [{ domain: 'a.example.com', backend: 'tenantA' }]);
    assert.equal(without.groupFor('other.example.com'), undefined);
    const star = dispatcher(noDefault, [{ domain: 'a.example.com', backend: 'tenantA' }, { domain: '*', backend: 'catchAll' }]);
    assert.equal(star.groupFor('other.example.com'), 'catchAll');
  });
});
