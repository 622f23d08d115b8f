/**
 * The local registrar on literal REGISTERs, with the memory store and flows
 * without sockets: Contact parsing, expiry from the header and the
 * parameter, removal, 423, domains, the limits, and the registrar clock.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LocalDomains } from '../../../src/registrar/local/local-domains.js';
import { LocalRegistrar } from '../../../src/registrar/local/local-registrar.js';
import { BindingStore } from '../../../src/registrar/local/binding-store.js';
import { GatewayBindingTotal } from '../../../src/registrar/local/gateway-binding-total.js';
import { readRegister } from '../../../src/registrar/local/register-request.js';
import { registrarMode } from '../../../src/registrar/local/index.js';
import { parseMessage } from '../../../src/sip/parser.js';
import type { SipRequest } from '../../../src/sip/message.js';
import { MemoryStore } from '../../../src/state/index.js';
import { FlowTable, FlowTokens } from '../../../src/transport/index.js';
import { silentLogger } from '../../../src/log/logger.js';
import { FakeFlow } from '../transport/fake-flow.js';

const RULES = { minExpires: 60, maxExpires: 3600 };

function register(o: { contact?: string[]; expires?: string; to?: string; ruri?: string; callId?: string; cseq?: number } = {}): SipRequest {
  const lines = [
    `REGISTER ${o.ruri ?? 'sip:example.test'} SIP/2.0`,
    'Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKabc',
    'Max-Forwards: 70',
    `From: <${o.to ?? 'sip:alice@example.test'}>;tag=f1`,
    `To: <${o.to ?? 'sip:alice@example.test'}>`,
    `Call-ID: ${o.callId ?? 'reg-1'}`,
    `CSeq: ${o.cseq ?? 1} REGISTER`,
    ...(o.contact ?? ['<sip:alice@192.0.2.10:5060>']).map((c) => `Contact: ${c}`),
    ...(o.expires !== undefined ? [`Expires: ${o.expires}`] : []),
    'Content-Length: 0',
    '',
    '',
  ];
  const r = parseMessage(Buffer.from(lines.join('\r\n')));
  assert.ok(r.ok && r.value.kind === 'request');
  return r.value;
}

describe('readRegister', () => {
  it('reads expires from the Contact parameter first, then the header, then 3600; caps at maxExpires', () => {
    const r = readRegister(register({ contact: ['<sip:a@h1>;expires=120', '<sip:a@h2>', 'sip:a@h3;expires=junk'], expires: '300' }), { minExpires: 60, maxExpires: 200 });
    assert.ok(r.ok && r.value.kind === 'update');
    assert.deepEqual(r.value.contacts.map((c) => c.expires), [120, 200, 200]);
    const none = readRegister(register({ contact: ['<sip:a@h1>'] }), RULES);
    assert.ok(none.ok && none.value.kind === 'update');
    assert.equal(none.value.contacts[0]!.expires, 3600);
  });

  it('423 with Min-Expires below minExpires; 0 is a removal, not too brief', () => {
    const brief = readRegister(register({ expires: '30' }), RULES);
    assert.ok(!brief.ok);
    assert.equal(brief.error.status, 423);
    assert.deepEqual(brief.error.headers, { 'Min-Expires': '60' });
    const zero = readRegister(register({ contact: ['<sip:alice@192.0.2.10>;expires=0'] }), RULES);
    assert.ok(zero.ok && zero.value.kind === 'update');
    assert.equal(zero.value.contacts[0]!.expires, 0);
  });

  it('Contact: * only alone and only with Expires: 0', () => {
    const ok = readRegister(register({ contact: ['*'], expires: '0' }), RULES);
    assert.ok(ok.ok && ok.value.kind === 'remove-all');
    const noExpires = readRegister(register({ contact: ['*'] }), RULES);
    assert.ok(!noExpires.ok && noExpires.error.status === 400);
    const mixed = readRegister(register({ contact: ['*', '<sip:a@h>'], expires: '0' }), RULES);
    assert.ok(!mixed.ok && mixed.error.status === 400);
  });

  it('no Contact is a query; the AOR is sip:user@host with the host lower-cased', () => {
    const q = readRegister(register({ contact: [], to: 'sip:Alice@EXAMPLE.test' }), RULES);
    assert.ok(q.ok);
    assert.equal(q.value.kind, 'query');
    assert.equal(q.value.aor, 'sip:Alice@example.test');
  });

  it('q, +sip.instance and reg-id: instance + reg-id is the binding key; malformed q, reg-id and Expires → 400', () => {
    const r = readRegister(register({ contact: ['<sip:a@h>;q=0.7;+sip.instance="<urn:uuid:1>";reg-id=2'] }), RULES);
    assert.ok(r.ok && r.value.kind === 'update');
    const c = r.value.contacts[0]!;
    assert.equal(c.q, 0.7);
    assert.equal(c.instance, '<urn:uuid:1>');
    assert.equal(c.regId, 2);
    assert.equal(c.key, '<urn:uuid:1> 2');
    for (const bad of [{ contact: ['<sip:a@h>;q=1.5'] }, { contact: ['<sip:a@h>;reg-id=x'] }, { expires: 'soon' }, { contact: ['<tel:+123>'] }, { to: `sip:${'a'.repeat(300)}@example.test` }, { contact: [`<sip:a@h;x=${'b'.repeat(1100)}>`] }]) {
      const refused = readRegister(register(bad), RULES);
      assert.ok(!refused.ok, JSON.stringify(bad));
      assert.equal(refused.error.status, 400, JSON.stringify(bad));
    }
  });
});

describe('registrarMode', () => {
  it('local without a backend in proxy mode, path with one; an explicit mode wins', () => {
    assert.equal(registrarMode({ mode: 'proxy', backends: {}, registrar: {} }), 'local');
    assert.equal(registrarMode({ mode: 'proxy', backends: { default: {} }, registrar: {} }), 'path');
    assert.equal(registrarMode({ mode: 'b2bua', backends: {}, registrar: {} }), 'path');
    assert.equal(registrarMode({ mode: 'proxy', backends: { default: {} }, registrar: { mode: 'local' } }), 'local');
  });
});

describe('LocalDomains', () => {
  it('defaults to localhost, 127.0.0.1, the host name and the listeners\' addresses', () => {
    const d = LocalDomains.defaults([{ address: '0.0.0.0', advertise: '203.0.113.7' }, { address: '10.0.0.2', advertise: 'sbc.example.com' }], 'box.lan');
    for (const name of ['localhost', '127.0.0.1', 'box.lan', 'box', '203.0.113.7', 'SBC.example.com', '10.0.0.2']) assert.ok(d.has(name), name);
    assert.equal(d.has('0.0.0.0'), false);
    assert.equal(d.has('example.org'), false);
  });
});

describe('LocalRegistrar', () => {
  const setup = (o: { maxBindingsPerAor?: number; maxBindings?: number } = {}) => {
    let now = 1_000_000;
    const store = new MemoryStore();
    const tokens = new FlowTokens('unit-test-secret-0123456789');
    const flows = new FlowTable({ tokens, maxUdpFlows: 100, udpFlowIdleMs: 60_000 });
    const bindings = new BindingStore({ store, keyPrefix: 't:', ttlSeconds: 3630, now: () => now });
    const registrar = new LocalRegistrar({
      bindings, domains: new LocalDomains(['example.test']), tokens, flows, ...RULES,
      maxBindingsPerAor: o.maxBindingsPerAor ?? 5, maxBindings: o.maxBindings ?? 100, node: 'n1', logger: silentLogger(), now: () => now,
    });
    const flow = (id: string): FakeFlow => {
      const f = new FakeFlow(id, 'tcp', { address: '192.0.2.10', port: 40000 + Number(id.replace(/\D/g, '') || 0) });
      flows.add(f);
      return f;
    };
    return { registrar, flow, advance: (ms: number) => { now += ms; }, close: async () => { flows.close(); await store.close(); } };
  };

  it('stores, lists with the remaining expires, and forgets after the expiry', async () => {
    const t = setup();
    const f = t.flow('c1');
    const ok = await t.registrar.register(register({ expires: '120' }), f);
    assert.equal(ok.kind === 'reply' && ok.status, 200);
    assert.equal(ok.kind === 'reply' && ok.headers?.Contact, '<sip:alice@192.0.2.10:5060>;expires=120');
    t.advance(60_000);
    const q = await t.registrar.register(register({ contact: [] }), f);
    assert.equal(q.kind === 'reply' && q.headers?.Contact, '<sip:alice@192.0.2.10:5060>;expires=60');
    assert.equal(t.registrar.count(), 1);
    t.advance(61_000);
    assert.equal(t.registrar.count(), 0);
    assert.deepEqual(await t.registrar.list(), []);
    await t.close();
  });

  it('the same Call-ID with a lower CSeq changes nothing (RFC 3261 §10.3 step 7)', async () => {
    const t = setup();
    const f = t.flow('c1');
    await t.registrar.register(register({ cseq: 5, expires: '120' }), f);
    const old = await t.registrar.register(register({ cseq: 4, contact: ['<sip:alice@192.0.2.10:5060>;expires=0'] }), f);
    assert.equal(old.kind === 'reply' && old.status, 400);
    assert.equal(t.registrar.count(), 1);
    await t.close();
  });

  it('over maxBindingsPerAor, bindings whose flow is gone make room; live ones do not', async () => {
    const t = setup({ maxBindingsPerAor: 2 });
    const f1 = t.flow('c1');
    const f2 = t.flow('c2');
    assert.equal((await t.registrar.register(register({ contact: ['<sip:a1@h>'], expires: '120' }), f1)).kind === 'reply', true);
    await t.registrar.register(register({ contact: ['<sip:a2@h>'], expires: '120', callId: 'r2' }), f2);
    const refused = await t.registrar.register(register({ contact: ['<sip:a3@h>'], expires: '120', callId: 'r3' }), t.flow('c3'));
    assert.equal(refused.kind === 'reply' && refused.status, 403);
    f1.close('gone');
    const fits = await t.registrar.register(register({ contact: ['<sip:a3@h>'], expires: '120', callId: 'r3' }), t.flow('c4'));
    assert.equal(fits.kind === 'reply' && fits.status, 200);
    assert.equal(fits.kind === 'reply' && fits.headers?.Contact?.includes('sip:a1@h'), false, 'the dead flow\'s binding went');
    await t.close();
  });

  it('over maxBindings in total: 503 Registrar Full with Retry-After; room again once bindings expire', async () => {
    const t = setup({ maxBindings: 2 });
    const f = t.flow('c1');
    await t.registrar.register(register({ to: 'sip:a@example.test', expires: '60' }), f);
    await t.registrar.register(register({ to: 'sip:b@example.test', expires: '600' }), f);
    const full = await t.registrar.register(register({ to: 'sip:c@example.test', expires: '600' }), f);
    assert.ok(full.kind === 'reply');
    assert.equal(full.status, 503);
    assert.equal(full.headers?.['Retry-After'], '60');
    t.advance(61_000);
    const room = await t.registrar.register(register({ to: 'sip:c@example.test', expires: '600' }), f);
    assert.equal(room.kind === 'reply' && room.status, 200);
    await t.close();
  });

  it('a Request-URI or To outside the local domains → 403', async () => {
    const t = setup();
    const f = t.flow('c1');
    for (const r of [register({ ruri: 'sip:other.example' }), register({ to: 'sip:alice@other.example' })]) {
      const d = await t.registrar.register(r, f);
      assert.ok(d.kind === 'reply');
      assert.equal(d.status, 403);
      assert.equal(d.reason, 'Domain Not Served Here');
    }
    await t.close();
  });
});

describe('LocalRegistrar under a supervisor: maxBindings for the whole gateway (GatewayBindingTotal)', () => {
  /** Two workers' registrars on one store, as the supervisor serves it. */
  const setup = (maxBindings: number) => {
    let now = 1_000_000;
    const store = new MemoryStore();
    const tokens = new FlowTokens('unit-test-secret-0123456789');
    const flows = new FlowTable({ tokens, maxUdpFlows: 100, udpFlowIdleMs: 60_000 });
    const worker = (id: number): LocalRegistrar => new LocalRegistrar({
      bindings: new BindingStore({ store, keyPrefix: 't:', ttlSeconds: 3630, now: () => now }),
      domains: new LocalDomains(['example.test']), tokens, flows, ...RULES, maxBindingsPerAor: 5, maxBindings, node: `w${id}`, logger: silentLogger(), now: () => now,
      total: new GatewayBindingTotal({ store, keyPrefix: 't:', gateway: 'host/1', worker: id, ttlSeconds: 3630, logger: silentLogger(), now: () => now }),
    });
    const f = new FakeFlow('c1', 'tcp', { address: '192.0.2.10', port: 40001 });
    flows.add(f);
    return { w1: worker(1), w2: worker(2), f, advance: (ms: number) => { now += ms; }, close: async () => { flows.close(); await store.close(); } };
  };
  const status = (d: Awaited<ReturnType<LocalRegistrar['register']>>): number | undefined => (d.kind === 'reply' ? d.status : undefined);

  it('bindings on one worker count on the other; room made on one is room on the other', async () => {
    const t = setup(3);
    assert.equal(status(await t.w1.register(register({ to: 'sip:a@example.test', expires: '600' }), t.f)), 200);
    assert.equal(status(await t.w1.register(register({ to: 'sip:b@example.test', expires: '600' }), t.f)), 200);
    assert.equal(status(await t.w2.register(register({ to: 'sip:c@example.test', expires: '600' }), t.f)), 200);
    assert.equal(status(await t.w2.register(register({ to: 'sip:d@example.test', expires: '600' }), t.f)), 503, 'three held on the gateway');
    assert.equal(status(await t.w2.register(register({ to: 'sip:c@example.test', expires: '600', cseq: 2 }), t.f)), 200, 'a refresh adds nothing');
    assert.equal(status(await t.w1.register(register({ to: 'sip:a@example.test', contact: ['*'], expires: '0', cseq: 2 }), t.f)), 200);
    assert.equal(status(await t.w2.register(register({ to: 'sip:d@example.test', expires: '600' }), t.f)), 200, 'worker 1 made room');
    await t.close();
  });

  it('a worker\'s count stops counting once its latest binding would have expired', async () => {
    const t = setup(2);
    await t.w1.register(register({ to: 'sip:a@example.test', expires: '60' }), t.f);
    await t.w1.register(register({ to: 'sip:b@example.test', expires: '120' }), t.f);
    assert.equal(status(await t.w2.register(register({ to: 'sip:c@example.test', expires: '600' }), t.f)), 503);
    t.advance(121_000);
    assert.equal(status(await t.w2.register(register({ to: 'sip:c@example.test', expires: '600' }), t.f)), 200);
    await t.close();
  });
});
