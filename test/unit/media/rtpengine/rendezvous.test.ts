import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { rendezvousScore } from '../../../../src/media/rtpengine/engine-pool.js';

function winner(engines: Array<[string, number]>, callId: string): string {
  let best = '';
  let bestScore = -Infinity;
  for (const [url, weight] of engines) {
    const score = rendezvousScore(url, weight, callId);
    if (score > bestScore) [best, bestScore] = [url, score];
  }
  return best;
}

describe('weighted rendezvous hashing of Call-IDs', () => {
  const callIds = Array.from({ length: 6000 }, (_, i) => `call-${i}@example.com`);

  it('gives an engine with twice the weight about twice the calls', () => {
    const engines: Array<[string, number]> = [['udp:10.0.0.1:22222', 2], ['udp:10.0.0.2:22222', 1]];
    const counts = new Map<string, number>();
    for (const id of callIds) counts.set(winner(engines, id), (counts.get(winner(engines, id)) ?? 0) + 1);
    const ratio = (counts.get('udp:10.0.0.1:22222') ?? 0) / (counts.get('udp:10.0.0.2:22222') ?? 1);
    assert.ok(ratio > 1.8 && ratio < 2.2, `ratio ${ratio}`);
  });

  it('moves only the calls of a removed engine', () => {
    const three: Array<[string, number]> = [['udp:a:1', 1], ['udp:b:1', 1], ['udp:c:1', 1]];
    const two = three.filter(([url]) => url !== 'udp:c:1');
    for (const id of callIds) {
      const before = winner(three, id);
      if (before !== 'udp:c:1') assert.equal(winner(two, id), before, id);
    }
  });

  it('is the same on every call (and so on every node)', () => {
    assert.equal(rendezvousScore('udp:a:1', 1, 'x'), rendezvousScore('udp:a:1', 1, 'x'));
    assert.notEqual(rendezvousScore('udp:a:1', 1, 'x'), rendezvousScore('udp:b:1', 1, 'x'));
  });
});
