import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mediaBetweenNodes } from '../../../src/flow-recovery/node-hop-media.js';
import type { MediaHooks } from '../../../src/media/media-control.js';
import type { SipRequest, SipResponse } from '../../../src/sip/message.js';
import type { Flow } from '../../../src/transport/flow.js';
import { FakeFlow } from '../transport/fake-flow.js';

describe('mediaBetweenNodes', () => {
  const client = new FakeFlow('ws-1', 'ws', { address: '192.0.2.1', port: 40000 });
  const otherNode = new FakeFlow('udp-0-10.0.0.3-5060', 'udp', { address: '10.0.0.3', port: 5060 });
  const backend = new FakeFlow('udp-0-10.0.0.9-5060', 'udp', { address: '10.0.0.9', port: 5060 });
  const isSibling = (f: Flow): boolean => f === otherNode;

  it('the node next to the client rewrites the SDP; a hop between a node of ours and the backend leaves it alone', async () => {
    const calls: string[] = [];
    const engine: MediaHooks = {
      request: async (_r, from, to) => void calls.push(`req ${from.id}>${to.id}`),
      response: async (_r, _q, from, to) => void calls.push(`res ${from.id}>${to.id}`),
      endCall: (id) => void calls.push(`end ${id}`),
      close: () => undefined,
    };
    const media = mediaBetweenNodes(engine, isSibling);
    const req = {} as SipRequest;
    const res = {} as SipResponse;
    await media.request(req, otherNode, client); // the holding node relayed it here: ours to do
    await media.request(req, backend, otherNode); // the holding node toward the client's node: not there
    await media.response(res, req, otherNode, backend);
    await media.request(req, client, backend); // no other node: as ever
    media.endCall('c1');
    assert.deepEqual(calls, ['req udp-0-10.0.0.3-5060>ws-1', 'req ws-1>udp-0-10.0.0.9-5060', 'end c1']);
  });
});
