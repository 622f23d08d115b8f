import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HopFlows } from '../../../src/core/hop-flows.js';
import type { Destination } from '../../../src/core/next-hop.js';
import { silentLogger } from '../../../src/log/logger.js';
import { createTarget } from '../../../src/routing/target.js';
import { parseUri } from '../../../src/sip/uri.js';
import type { Flow } from '../../../src/transport/flow.js';

/** A transport that records where it was asked to connect; `fail` makes it throw. */
function fakes(fail = false): { hops: HopFlows; dialled: Destination[]; marked: Flow[]; flow: Flow } {
  const flow = { id: 'out-1', closed: false } as unknown as Flow;
  const dialled: Destination[] = [];
  const marked: Flow[] = [];
  const transport = {
    connect: async (d: Destination): Promise<Flow> => {
      dialled.push(d);
      if (fail) throw new Error('ECONNREFUSED');
      return flow;
    },
  };
  return { hops: new HopFlows(transport, { markDialed: (f) => marked.push(f) }, silentLogger()), dialled, marked, flow };
}

const uri = (text: string) => {
  const r = parseUri(text);
  assert.ok(r.ok);
  return r.value;
};

describe('HopFlows', () => {
  it('a client flow is used while open, and never when closed', async () => {
    const { hops, dialled } = fakes();
    const open = { id: 'c1', closed: false } as unknown as Flow;
    const closed = { id: 'c2', closed: true } as unknown as Flow;
    assert.equal(await hops.flowFor({ kind: 'flow', flow: open }), open);
    assert.equal(await hops.flowFor({ kind: 'flow', flow: closed }), undefined);
    assert.deepEqual(dialled, [], 'a client flow is never dialled');
  });

  it('a backend target is dialled at its address and its flow counts as inside', async () => {
    const { hops, dialled, marked, flow } = fakes();
    const target = createTarget('default', { uri: 'sip:127.0.0.1:5080;transport=tcp', weight: 1, priority: 0 }, { transport: 'tcp', host: '127.0.0.1', port: 5080 });
    assert.equal(await hops.flowFor({ kind: 'target', target }), flow);
    assert.deepEqual(dialled, [{ transport: 'tcp', address: '127.0.0.1', port: 5080 }]);
    assert.deepEqual(marked, [flow]);
  });

  it('an address hop is resolved and dialled, not marked inside; a WebSocket URI cannot be dialled', async () => {
    const { hops, dialled, marked, flow } = fakes();
    assert.equal(await hops.flowFor({ kind: 'address', uri: uri('sip:10.0.0.9:5070') }), flow);
    assert.deepEqual(dialled, [{ transport: 'udp', address: '10.0.0.9', port: 5070 }]);
    assert.deepEqual(marked, []);
    assert.equal(await hops.flowFor({ kind: 'address', uri: uri('sip:10.0.0.9;transport=ws') }), undefined);
    assert.equal(dialled.length, 1);
  });

  it('a connection that fails gives no flow (no throw)', async () => {
    const { hops } = fakes(true);
    assert.equal(await hops.flowFor({ kind: 'address', uri: uri('sip:10.0.0.9:5070;transport=tcp') }), undefined);
  });
});
