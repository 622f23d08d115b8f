import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { configSchema } from '../../../src/config/schema.js';
import { domainRoutesOf, RouteRules } from '../../../src/routing/route-rules.js';

const rulesOf = (routes: unknown[]): RouteRules => new RouteRules(configSchema.parse({ routes }).routes);
const input = (ruriUser: string | undefined, extra: Partial<{ ruriHost: string; fromUser: string; sourceAddress: string }> = {}) => ({
  ruriUser, ruriHost: 'example.com', fromUser: 'alice', sourceAddress: '192.0.2.10', ...extra,
});

describe('RouteRules', () => {
  const rules = rulesOf([
    { match: { fromUser: { regex: '^anon' } }, action: { reply: { status: 433, reason: 'Anonymity Disallowed' } } },
    { match: { ruriUser: { prefix: '00' } }, action: { strip: 2, prefix: '+' } },
    { match: { ruriUser: { regex: '^1\\d{2}$' }, source: ['10.0.0.0/8', '192.0.2.0/24'] }, action: { group: 'emergency' } },
    { domain: '*.tenant.example', backend: 'tenants' },
    { match: { domain: 'b.example' }, action: { group: 'b' } },
  ]);

  it('first match wins, in order', () => {
    assert.deepEqual(rules.evaluate(input('0049301', { fromUser: 'anonymous' }))?.reply, { status: 433, reason: 'Anonymity Disallowed' });
    const intl = rules.evaluate(input('0049301'));
    assert.equal(intl?.index, 1);
    assert.equal(intl?.ruriUser, '+49301');
    assert.equal(intl?.group, undefined);
  });

  it('every condition of a rule must hold: the source CIDR', () => {
    assert.equal(rules.evaluate(input('112'))?.group, 'emergency');
    assert.equal(rules.evaluate(input('112', { sourceAddress: '198.51.100.1' })), undefined);
    assert.equal(rules.evaluate(input('1122')), undefined, 'the regex is anchored');
  });

  it('domain form and match.domain; tenant is the domain that matched', () => {
    const t = rules.evaluate(input('bob', { ruriHost: 'Acme.Tenant.Example.' }));
    assert.equal(t?.group, 'tenants');
    assert.equal(t?.tenant, '*.tenant.example');
    assert.equal(rules.evaluate(input('bob', { ruriHost: 'tenant.example' })), undefined, '*.x matches names under x only');
    assert.equal(rules.evaluate(input('bob', { ruriHost: 'b.example' }))?.group, 'b');
    assert.equal(rules.tenantOf('b.example'), 'b.example');
    assert.equal(rules.tenantOf('nowhere.example'), undefined);
  });

  it('a rule on the user part does not match a Request-URI without one', () => {
    assert.equal(rules.evaluate(input(undefined)), undefined);
  });

  it('hasRules: the domain form alone needs no routing step', () => {
    assert.equal(rules.hasRules, true);
    assert.equal(rulesOf([{ domain: 'a.example', backend: 'a' }]).hasRules, false);
    assert.deepEqual(domainRoutesOf(configSchema.parse({ routes: [{ domain: 'A.example', backend: 'a' }, { match: {}, action: { group: 'x' } }] }).routes), [{ domain: 'a.example', backend: 'a' }]);
  });
});
