import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { createMetrics } from '../../../src/admin/metrics.js';
import { FlowRecovery } from '../../../src/flow-recovery/flow-recovery.js';
import { silentLogger } from '../../../src/log/logger.js';
import { parseMessage } from '../../../src/sip/parser.js';
import type { SipRequest } from '../../../src/sip/message.js';
import { MemoryStore } from '../../../src/state/memory-store.js';
import { FlowTable } from '../../../src/transport/flow-table.js';
import { FlowTokens } from '../../../src/transport/flow-token.js';
import { FakeFlow } from '../transport/fake-flow.js';

const tokens = new FlowTokens('unit-test-secret-unit-test-secret');
const GRACE_MS = 60;

function register(contact: string): SipRequest {
  const text = [
    'REGISTER sip:example.com SIP/2.0',
    'Via: SIP/2.0/WSS abc.invalid;branch=z9hG4bK1',
    'From: <sip:alice@example.com>;tag=1',
    'To: <sip:alice@example.com>',
    'Call-ID: reg-1',
    'CSeq: 1 REGISTER',
    `Contact: ${contact}`,
    'Content-Length: 0',
    '', '',
  ].join('\r\n');
  const r = parseMessage(Buffer.from(text));
  if (!r.ok || r.value.kind !== 'request') throw new Error('bad fixture');
  return r.value;
}

const SIPJS = '<sip:k3j4h5@abcdefgh.invalid;transport=ws>;expires=600';
const wait = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Bed {
  flows: FlowTable;
  recovery: FlowRecovery;
  gone: string[];
  withDialogs: Set<string>;
  registry: Registry;
  ws(id: string, address?: string): FakeFlow;
}

const open: Bed[] = [];
afterEach(() => {
  for (const b of open.splice(0)) {
    b.recovery.close();
    b.flows.close();
  }
});

function bed(graceSeconds = GRACE_MS / 1000): Bed {
  const flows = new FlowTable({ tokens, maxUdpFlows: 100, udpFlowIdleMs: 60_000 });
  const registry = new Registry();
  const recovery = new FlowRecovery({
    graceSeconds, flows, tokens, store: new MemoryStore(), keyPrefix: 't:', shared: false,
    node: { id: 'n1' }, isInside: () => false, logger: silentLogger(), metrics: createMetrics(registry),
  });
  const gone: string[] = [];
  const withDialogs = new Set<string>();
  recovery.addDialogSource((id) => withDialogs.has(id));
  recovery.onGone((id) => gone.push(id));
  const b: Bed = {
    flows, recovery, gone, withDialogs, registry,
    ws: (id, address = '192.0.2.10') => {
      const f = new FakeFlow(id, 'ws', { address, port: 40000 + open.length });
      flows.add(f);
      return f;
    },
  };
  open.push(b);
  return b;
}

async function counter(registry: Registry, name: string): Promise<number> {
  const m = await registry.getSingleMetric(name)?.get();
  return m?.values[0]?.value ?? 0;
}

describe('FlowRecovery', () => {
  it('a client flow with dialogs that closes is recovering (480) until the same Contact comes back on a new flow, which the old token then reaches', async () => {
    const b = bed();
    const old = b.ws('ws-old');
    const token = tokens.issue(old);
    b.recovery.seen(register(SIPJS), old);
    b.withDialogs.add('ws-old');
    old.close('peer-closed');
    assert.equal(b.recovery.state('ws-old'), 'recovering');
    assert.equal(b.recovery.goneStatus(token), 480);
    const byToken = b.flows.byToken(token);
    assert.equal(byToken.ok, false, 'nowhere to deliver while away');

    const back = b.ws('ws-new');
    b.recovery.seen(register(SIPJS), back);
    const now = b.flows.byToken(token);
    assert.ok(now.ok && now.value === back, 'the old token names the new flow');
    assert.equal(b.recovery.state('ws-old'), 'up');
    assert.equal(b.recovery.goneStatus(token), undefined);
    await wait(GRACE_MS * 2);
    assert.deepEqual(b.gone, [], 'nothing is reported gone');
    assert.equal(await counter(b.registry, 'sbc_flow_recoveries_total'), 1);
  });

  it('a client that does not come back within the grace is gone: reported once, then the token is gone (430)', async () => {
    const b = bed();
    const old = b.ws('ws-a');
    const token = tokens.issue(old);
    b.recovery.seen(register(SIPJS), old);
    b.withDialogs.add('ws-a');
    old.close('peer-closed');
    assert.deepEqual(b.gone, []);
    await wait(GRACE_MS * 3);
    assert.deepEqual(b.gone, ['ws-a']);
    assert.equal(b.recovery.state('ws-a'), 'gone');
    assert.equal(b.recovery.goneStatus(token), undefined);
    assert.equal(await counter(b.registry, 'sbc_client_gone_flows_total'), 1);
    // Coming back after the grace inherits nothing.
    const late = b.ws('ws-late');
    b.recovery.seen(register(SIPJS), late);
    assert.equal(b.flows.byToken(token).ok, false);
  });

  it('a flow without dialogs, or any flow with graceSeconds 0, is gone at once', () => {
    const b = bed();
    const idle = b.ws('ws-idle');
    b.recovery.seen(register(SIPJS), idle);
    idle.close('peer-closed');
    assert.deepEqual(b.gone, ['ws-idle']);

    const off = bed(0);
    const busy = off.ws('ws-busy');
    off.recovery.seen(register(SIPJS), busy);
    off.withDialogs.add('ws-busy');
    busy.close('peer-closed');
    assert.deepEqual(off.gone, ['ws-busy']);
    assert.equal(off.recovery.goneStatus(tokens.issue(busy)), undefined);
  });

  it('RFC 5626 instance and reg-id name the client; a Contact alike with another instance is someone else', () => {
    const b = bed();
    const a = b.ws('ws-i1');
    b.recovery.seen(register('<sip:u1@h1.invalid;transport=ws>;reg-id=1;+sip.instance="<urn:uuid:aaaa>"'), a);
    b.withDialogs.add('ws-i1');
    a.close('peer-closed');
    const stranger = b.ws('ws-i2');
    b.recovery.seen(register('<sip:u1@h1.invalid;transport=ws>;reg-id=1;+sip.instance="<urn:uuid:bbbb>"'), stranger);
    assert.equal(b.recovery.state('ws-i1'), 'recovering', 'another instance does not take the dialogs');
    const same = b.ws('ws-i3');
    b.recovery.seen(register('<sip:other@h2.invalid;transport=ws>;reg-id=1;+sip.instance="<urn:uuid:aaaa>"'), same);
    const r = b.recovery.resolve('ws-i1');
    assert.ok(r.kind === 'flow' && r.flow === same, 'the same instance and reg-id on a new flow, whatever its Contact');
  });

  it('a new flow of a client whose old one is still open with dialogs replaces it: the old one is closed, not gone', () => {
    const b = bed();
    const old = b.ws('ws-half-open');
    b.recovery.seen(register(SIPJS), old);
    b.withDialogs.add('ws-half-open');
    const fresh = b.ws('ws-fresh');
    b.recovery.seen(register(SIPJS), fresh);
    assert.equal(old.closed, true);
    assert.equal(old.releasedWith, 'replaced');
    assert.deepEqual(b.gone, []);
    const r = b.recovery.resolve('ws-half-open');
    assert.ok(r.kind === 'flow' && r.flow === fresh);
  });

  it('a client that comes back and then leaves for good: the new flow and every flow it inherited are gone together', async () => {
    const b = bed();
    const first = b.ws('ws-1');
    b.recovery.seen(register(SIPJS), first);
    b.withDialogs.add('ws-1');
    first.close('peer-closed');
    const second = b.ws('ws-2');
    b.recovery.seen(register(SIPJS), second);
    // The dialogs are still known by the first flow's id: the second flow is held for them.
    second.close('peer-closed');
    assert.equal(b.recovery.state('ws-1'), 'recovering');
    const third = b.ws('ws-3');
    b.recovery.seen(register(SIPJS), third);
    const r = b.recovery.resolve('ws-1');
    assert.ok(r.kind === 'flow' && r.flow === third, 'two reconnects in a row');
    third.close('peer-closed');
    await wait(GRACE_MS * 3);
    assert.deepEqual(new Set(b.gone), new Set(['ws-1', 'ws-2', 'ws-3']));
    assert.equal(b.recovery.state('ws-1'), 'gone');
  });

  it('a request from an unrelated client, or one without a Contact, takes nothing over', () => {
    const b = bed();
    const old = b.ws('ws-x');
    b.recovery.seen(register(SIPJS), old);
    b.withDialogs.add('ws-x');
    old.close('peer-closed');
    const other = b.ws('ws-y');
    b.recovery.seen(register('<sip:zz99@otherhost.invalid;transport=ws>'), other);
    const bare = register(SIPJS);
    bare.headers.remove('contact');
    b.recovery.seen(bare, b.ws('ws-z'));
    assert.equal(b.recovery.state('ws-x'), 'recovering');
  });

  it('from another address the client takes its dialogs over only once the registrar accepted its REGISTER (a Contact alone is not proof)', () => {
    const b = bed();
    const old = b.ws('ws-wifi', '198.51.100.7');
    b.recovery.seen(register(SIPJS), old);
    b.withDialogs.add('ws-wifi');
    old.close('peer-closed');
    const mobile = b.ws('ws-lte', '203.0.113.9');
    const reg = register(SIPJS);
    b.recovery.seen(reg, mobile);
    assert.equal(b.recovery.state('ws-wifi'), 'recovering', 'a REGISTER the registrar has not answered yet');
    b.recovery.registered(reg, mobile);
    const r = b.recovery.resolve('ws-wifi');
    assert.ok(r.kind === 'flow' && r.flow === mobile, 'the registrar\'s 2xx vouched for it');
  });
});
