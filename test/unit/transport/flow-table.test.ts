import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FlowTable } from '../../../src/transport/flow-table.js';
import { FlowTokens, udpFlowId } from '../../../src/transport/flow-token.js';
import type { FlowBase } from '../../../src/transport/flow-base.js';
import { FakeFlow } from './fake-flow.js';

const tokens = new FlowTokens('unit-test-secret-unit-test-secret');

function table(opts: Partial<ConstructorParameters<typeof FlowTable>[0]> = {}): FlowTable {
  return new FlowTable({ tokens, maxUdpFlows: 100, udpFlowIdleMs: 60_000, ...opts });
}

function udp(address: string, port: number): FakeFlow {
  return new FakeFlow(udpFlowId(0, address, port), 'udp', { address, port });
}

describe('FlowTable', () => {
  it('adds, finds, lists, counts and deletes flows', () => {
    const t = table();
    const a = new FakeFlow('tcp-a', 'tcp', { address: '192.0.2.1', port: 4000 });
    const b = udp('192.0.2.2', 5060);
    t.add(a);
    t.add(b);
    assert.equal(t.size, 2);
    assert.equal(t.get('tcp-a'), a);
    assert.deepEqual(new Set(t.values()), new Set([a, b]));
    assert.equal(t.byRemote('tcp', '192.0.2.1', 4000), a);
    assert.equal(t.add(new FakeFlow('tcp-a', 'tcp', { address: '192.0.2.9', port: 1 })), a, 'same id: the held flow wins');
    assert.equal(t.delete('tcp-a'), true);
    assert.equal(a.closed, true);
    assert.equal(a.releasedWith, 'deleted');
    assert.equal(t.get('tcp-a'), undefined);
    assert.equal(t.byRemote('tcp', '192.0.2.1', 4000), undefined);
    assert.equal(t.delete('tcp-a'), false);
    assert.equal(t.size, 1);
    t.close();
  });

  it('tells close listeners once per flow and lets them unsubscribe', () => {
    const t = table();
    const seen: string[] = [];
    const off = t.onClose((f, reason) => seen.push(`${f.id}:${reason}`));
    const a = new FakeFlow('tcp-a', 'tcp', { address: '192.0.2.1', port: 4000 });
    t.add(a);
    a.close('peer-closed');
    a.close('again');
    off();
    const b = new FakeFlow('tcp-b', 'tcp', { address: '192.0.2.1', port: 4001 });
    t.add(b);
    b.close();
    assert.deepEqual(seen, ['tcp-a:peer-closed']);
    t.close();
  });

  it('finds a flow by token; a closed connection flow is gone; a forged token is tampered', () => {
    const t = table();
    const a = new FakeFlow('tcp-a', 'tcp', { address: '192.0.2.1', port: 4000 });
    t.add(a);
    const token = tokens.issue(a);
    assert.deepEqual(t.byToken(token), { ok: true, value: a });
    a.close();
    assert.deepEqual(t.byToken(token), { ok: false, error: 'gone' });
    assert.deepEqual(t.byToken(token.slice(0, -2) + (token.endsWith('AA') ? 'BB' : 'AA')), { ok: false, error: 'tampered' });
    assert.deepEqual(t.byToken('%%%'), { ok: false, error: 'tampered' });
    t.close();
  });

  it('rebuilds a UDP flow from its token through the listener, or says gone when the listener is down', () => {
    let listenerUp = true;
    const rebuilt: FlowBase[] = [];
    const t = table({
      rebuildUdp: (index, address, port) => {
        if (!listenerUp) return undefined;
        const f = new FakeFlow(udpFlowId(index, address, port), 'udp', { address, port }, index);
        rebuilt.push(f);
        return f;
      },
    });
    const original = udp('203.0.113.5', 5070);
    t.add(original);
    const token = tokens.issue(original);
    original.close('udp-idle');
    const found = t.byToken(token);
    assert.ok(found.ok);
    assert.equal(found.value.id, original.id);
    assert.deepEqual(found.value.remote, original.remote);
    assert.equal(rebuilt.length, 1);
    listenerUp = false;
    assert.deepEqual(t.byToken(token), { ok: false, error: 'gone' });
    t.close();
  });

  it('caps UDP entries by dropping the oldest', () => {
    const t = table({ maxUdpFlows: 3 });
    const flows = [1, 2, 3, 4].map((i) => udp('192.0.2.1', 6000 + i));
    for (const f of flows) t.add(f);
    assert.equal(t.udpSize, 3);
    assert.equal(flows[0]?.closed, true);
    assert.equal(flows[0]?.releasedWith, 'udp-evicted');
    assert.equal(t.get(flows[3]!.id), flows[3]);
    t.close();
  });

  it('expires idle UDP flows in the sweep but keeps connection flows', () => {
    const t = table({ udpFlowIdleMs: 1000 });
    const idle = udp('192.0.2.1', 7000);
    const busy = udp('192.0.2.1', 7001);
    const conn = new FakeFlow('tcp-a', 'tcp', { address: '192.0.2.1', port: 4000 });
    for (const f of [idle, busy, conn]) t.add(f);
    const now = idle.lastActivity + 5000;
    busy.touch(now - 10);
    t.sweep(now);
    assert.equal(idle.closed, true);
    assert.equal(idle.releasedWith, 'udp-idle');
    assert.equal(busy.closed, false);
    assert.equal(conn.closed, false);
    assert.equal(t.size, 2);
    t.close();
  });

  it('close() closes every flow and is idempotent', () => {
    const t = table();
    const a = new FakeFlow('tcp-a', 'tcp', { address: '192.0.2.1', port: 4000 });
    const b = udp('192.0.2.2', 5060);
    t.add(a);
    t.add(b);
    t.close();
    t.close();
    assert.equal(a.releasedWith, 'shutdown');
    assert.equal(b.closed, true);
    assert.equal(t.size, 0);
    assert.throws(() => t.add(new FakeFlow('late', 'tcp', { address: '192.0.2.3', port: 1 })), /table closed/);
  });

  it('a closed flow sends nothing', () => {
    const a = new FakeFlow('tcp-a', 'tcp', { address: '192.0.2.1', port: 4000 });
    assert.equal(a.send(Buffer.from('x')), true);
    a.close();
    assert.equal(a.send(Buffer.from('y')), false);
    assert.deepEqual(a.sent.map(String), ['x']);
  });
});
